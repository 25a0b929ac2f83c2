//! TOML parsing with error positions: lesson front matter, config files and fenced blocks.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::build::diagnostics::Diagnostics;

/// A Markdown file split into its `+++` front matter and body.
pub(crate) struct Split<'a> {
    /// The TOML between the fences, and its byte offset in the file.
    pub front: &'a str,
    pub front_offset: usize,
    pub body_offset: usize,
}

/// Splits `+++\n<toml>\n+++\n<body>`. `Err(offset)` when the opening or closing fence is missing.
pub(crate) fn split(text: &str) -> Result<Split<'_>, (usize, &'static str)> {
    let Some(after_open) =
        text.strip_prefix("+++").and_then(|t| t.strip_prefix('\n').or(t.strip_prefix("\r\n")))
    else {
        return Err((0, "missing front matter: a lesson starts with a `+++` line"));
    };
    let front_offset = text.len() - after_open.len();
    let mut pos = front_offset;
    for line in after_open.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            let body_offset = pos + line.len();
            return Ok(Split { front: &text[front_offset..pos], front_offset, body_offset });
        }
        pos += line.len();
    }
    Err((0, "unterminated front matter: no closing `+++` line"))
}

/// Parses `toml` (found at byte `offset` of `file_text`) into `T`, reporting every problem
/// at its position in the file (`what` names the thing in messages): a syntax
/// error (the first: the ones after it are mostly its echoes), else every top-level key
/// not in `known` (each at its own position) and the first wrong value. Unknown keys (already reported) still give the value, so the
/// caller's own checks of it run too. `T` should not deny unknown fields itself.
pub(crate) fn parse_toml_checked<T: DeserializeOwned>(
    diags: &Diagnostics,
    file: &Path,
    file_text: &str,
    toml_text: &str,
    offset: usize,
    what: &str,
    known: &[&str],
) -> Option<T> {
    let report = |err: &toml::de::Error| {
        let at = offset + err.span().map_or(0, |span| span.start);
        diags.at_offset(file, file_text, at, format!("{what}: {}", err.message()));
    };
    let table = match toml::de::DeTable::parse(toml_text) {
        Ok(table) => table,
        Err(err) => {
            report(&err);
            return None;
        }
    };
    for key in table.get_ref().keys() {
        if !known.contains(&key.get_ref().as_ref()) {
            let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            let msg =
                format!("{what}: unknown field `{}`, expected one of {}", key.get_ref(), expected.join(", "));
            diags.at_offset(file, file_text, offset + key.span().start, msg);
        }
    }
    match T::deserialize(toml::de::Deserializer::from(table)) {
        Ok(value) => Some(value),
        Err(err) => {
            report(&err);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Front {
        title: String,
    }

    #[test]
    fn splits_front_matter() {
        let text = "+++\ntitle = \"x\"\n+++\n# Body\n";
        let s = split(text).expect("splits");
        assert_eq!(s.front, "title = \"x\"\n");
        assert_eq!(&text[s.body_offset..], "# Body\n");
        assert!(split("# no front matter").is_err());
        assert!(split("+++\ntitle = 1\n").is_err());
    }

    #[test]
    fn checked_parsing_reports_every_unknown_key_and_a_wrong_value() {
        let text = "+++\ntitle = 3\nauthr = \"me\"\ntags = []\n+++\nbody";
        let s = split(text).expect("splits");
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Lenient {
            title: String,
        }
        let diags = Diagnostics::default();
        let parsed: Option<Lenient> = parse_toml_checked(
            &diags,
            Path::new("l.md"),
            text,
            s.front,
            s.front_offset,
            "front matter",
            &["title"],
        );
        assert!(parsed.is_none(), "the wrong value");
        let errors: Vec<String> = diags.take().iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("l.md:2:9: front matter: invalid type"), "{errors:?}");
        assert!(errors[1].starts_with("l.md:3:1: front matter: unknown field `authr`"), "{errors:?}");
        assert!(errors[2].starts_with("l.md:4:1: front matter: unknown field `tags`"), "{errors:?}");

        let broken = "+++\ntitle = \nx = [\n+++\n";
        let s = split(broken).expect("splits");
        let parsed: Option<Lenient> = parse_toml_checked(
            &diags,
            Path::new("b.md"),
            broken,
            s.front,
            s.front_offset,
            "front matter",
            &["title"],
        );
        assert!(parsed.is_none());
        assert_eq!(diags.take().len(), 1, "a syntax error, not its echoes");
    }
}
