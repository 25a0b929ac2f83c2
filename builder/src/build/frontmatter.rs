//! TOML parsing with error positions: lesson front matter, config files and fenced blocks.

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::build::diagnostics::{did_you_mean, nearest, Diagnostics};

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
    let toml = Toml { diags, file, file_text, offset, what };
    let table = toml.parse(toml_text)?;
    toml.unknown_keys(table.get_ref(), known, None);
    match T::deserialize(toml::de::Deserializer::from(table)) {
        Ok(value) => Some(value),
        Err(err) => {
            toml.report(&err);
            None
        }
    }
}

/// One TOML text inside a file, for reporting problems at their place in the file.
pub(crate) struct Toml<'a> {
    pub diags: &'a Diagnostics,
    pub file: &'a Path,
    pub file_text: &'a str,
    /// Where the TOML starts in the file.
    pub offset: usize,
    /// What the TOML is, to begin messages (`front matter`, "```quiz block").
    pub what: &'a str,
}

impl Toml<'_> {
    /// An error at byte `at` of the TOML.
    pub(crate) fn error(&self, at: usize, message: impl Into<String>) {
        self.diags.at_offset(self.file, self.file_text, self.offset + at, message);
    }

    fn report(&self, err: &toml::de::Error) {
        let at = err.span().map_or(0, |span| span.start);
        self.error(at, format!("{}: {}", self.what, in_authors_words(err.message())));
    }

    /// The TOML's table with the places of its keys and values, or its first syntax error
    /// reported (the ones after it are mostly its echoes).
    /// Strings holding a control character (TOML lets `"\u0000"` through) are reported too:
    /// a page cannot show one, and a NUL cut titles short in tools downstream.
    pub(crate) fn parse<'t>(&self, toml_text: &'t str) -> Option<Spanned<DeTable<'t>>> {
        let table = DeTable::parse(toml_text).map_err(|err| self.report(&err)).ok()?;
        self.control_characters(table.get_ref());
        Some(table)
    }

    fn control_characters(&self, table: &DeTable<'_>) {
        fn walk(toml: &Toml<'_>, key: &str, value: &Spanned<DeValue<'_>>) {
            match value.get_ref() {
                DeValue::String(text) => {
                    let bad = text.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
                    if let Some(c) = bad {
                        let message = format!(
                            "{}: `{key}` holds the control character U+{:04X}, which a page cannot show: take it out",
                            toml.what, c as u32
                        );
                        toml.error(value.span().start, message);
                    }
                }
                DeValue::Array(items) => items.iter().for_each(|item| walk(toml, key, item)),
                DeValue::Table(table) => table.iter().for_each(|(k, v)| walk(toml, k.get_ref(), v)),
                _ => {}
            }
        }
        for (key, value) in table {
            walk(self, key.get_ref(), value);
        }
    }

    /// Reports each key of `table` not in `known`, at the key, with the known one it
    /// most likely misspells; the message begins with `context` (`question 2`), or else
    /// with what the TOML is. Answers the known keys some unknown one was taken for, so
    /// that their absence is not reported too.
    pub(crate) fn unknown_keys<'k>(
        &self,
        table: &DeTable<'_>,
        known: &[&'k str],
        context: Option<&str>,
    ) -> Vec<&'k str> {
        let mut meant = Vec::new();
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if known.contains(&name) {
                continue;
            }
            let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            let hint = did_you_mean(name, known.iter().copied());
            meant.extend(nearest(name, known.iter().copied()));
            let prefix = context.unwrap_or(self.what);
            let msg =
                format!("{prefix}: unknown field `{name}`, expected one of {}{hint}", expected.join(", "));
            self.error(key.span().start, msg);
        }
        meant
    }
}

/// A parser's message in the words of someone who writes TOML, not Rust: `usize` and
/// friends are "a whole number", a sequence is "a list".
pub(crate) fn in_authors_words(message: &str) -> String {
    let mut words = message.to_owned();
    for int in ["usize", "u64", "u32", "u16", "u8", "isize", "i64", "i32", "i16", "i8"] {
        words = words.replace(&format!("expected {int}"), "expected a whole number");
    }
    words
        .replace("expected a sequence", "expected a list (`[...]`)")
        .replace("expected a boolean", "expected true or false")
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

    /// Front matter with a title, which (unlike `Front`) leaves other keys to the check.
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Lenient {
        title: String,
    }

    /// The front matter of lesson `file` (text `text`) checked against `known` keys: what it
    /// parsed to, and the errors reported, as printed.
    fn checked(file: &str, text: &str, known: &[&str]) -> (Option<Lenient>, Vec<String>) {
        let s = split(text).expect("splits");
        let diags = Diagnostics::default();
        let parsed =
            parse_toml_checked(&diags, Path::new(file), text, s.front, s.front_offset, "front matter", known);
        (parsed, diags.take().iter().map(ToString::to_string).collect())
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
        let (parsed, errors) = checked("l.md", text, &["title"]);
        assert!(parsed.is_none(), "the wrong value");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("l.md:2:9: front matter: invalid type"), "{errors:?}");
        assert!(errors[1].starts_with("l.md:3:1: front matter: unknown field `authr`"), "{errors:?}");
        assert!(errors[2].starts_with("l.md:4:1: front matter: unknown field `tags`"), "{errors:?}");

        let (parsed, errors) = checked("b.md", "+++\ntitle = \nx = [\n+++\n", &["title"]);
        assert!(parsed.is_none());
        assert_eq!(errors.len(), 1, "a syntax error, not its echoes");
    }

    #[test]
    fn a_control_character_in_any_string_is_an_error_at_its_value() {
        // TOML's escapes let a NUL, an escape or a bell through; a tab or newline is text.
        let text = "+++\ntitle = \"Intro\\u0000duction\"\nsummary = \"tab\\tok\"\n[[q]]\nhint = [\"ring\\u0007\"]\n+++\n";
        let (_, errors) = checked("l.md", text, &["title", "summary", "q"]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("l.md:2:9: front matter: `title` holds the control character U+0000"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("l.md:5:9: front matter: `hint` holds the control character U+0007"),
            "{errors:?}"
        );
    }
}
