//! TOML parsing with error positions: lesson front matter, config files and fenced blocks.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::diagnostics::Diagnostics;

/// A Markdown file split into its `+++` front matter and body.
pub struct Split<'a> {
    /// The TOML between the fences, and its byte offset in the file.
    pub front: &'a str,
    pub front_offset: usize,
    pub body: &'a str,
    pub body_offset: usize,
}

/// Splits `+++\n<toml>\n+++\n<body>`. `Err(offset)` when the opening or closing fence is missing.
pub fn split(text: &str) -> Result<Split<'_>, (usize, &'static str)> {
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
            return Ok(Split {
                front: &text[front_offset..pos],
                front_offset,
                body: &text[body_offset..],
                body_offset,
            });
        }
        pos += line.len();
    }
    Err((0, "unterminated front matter: no closing `+++` line"))
}

/// Parses `toml` (found at byte `offset` of `file_text`) into `T`, reporting failures at
/// their position in the file. `what` names the thing for the message.
pub fn parse_toml<T: DeserializeOwned>(
    diags: &Diagnostics,
    file: &Path,
    file_text: &str,
    toml_text: &str,
    offset: usize,
    what: &str,
) -> Option<T> {
    match toml::from_str::<T>(toml_text) {
        Ok(value) => Some(value),
        Err(err) => {
            let at = offset + err.span().map_or(0, |span| span.start);
            diags.at_offset(file, file_text, at, format!("{what}: {}", err.message()));
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
        assert_eq!(s.body, "# Body\n");
        assert_eq!(&text[s.body_offset..], "# Body\n");
        assert!(split("# no front matter").is_err());
        assert!(split("+++\ntitle = 1\n").is_err());
    }

    #[test]
    fn reports_unknown_key_position() {
        let text = "+++\ntitle = \"x\"\nauthr = \"me\"\n+++\nbody";
        let s = split(text).expect("splits");
        let diags = Diagnostics::default();
        let parsed: Option<Front> =
            parse_toml(&diags, Path::new("l.md"), text, s.front, s.front_offset, "front matter");
        assert!(parsed.is_none());
        let errors = diags.take();
        assert_eq!((errors[0].line, errors[0].col), (3, 1), "{}", errors[0]);
        assert!(errors[0].message.contains("unknown field `authr`"), "{}", errors[0]);
    }
}
