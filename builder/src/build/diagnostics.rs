//! Content errors: every one names `file:line:col`, and a build reports all of them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One problem in the content, at a place an author can jump to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContentError {
    /// Path as given on the command line (e.g. `content/courses/py/loops.md`).
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)
    }
}

/// Maps byte offsets of one file's text to 1-based line and column (in characters).
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { text, line_starts }
    }

    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

/// Collects errors from parallel work; sorted and deduplicated when taken.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Mutex<Vec<ContentError>>,
    /// What the build ignores or leaves out without failing (shown, never fatal).
    warnings: Mutex<Vec<ContentError>>,
}

impl Diagnostics {
    pub(crate) fn push(&self, error: ContentError) {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).push(error);
    }

    /// An error at a byte offset of `text`, the contents of `file`.
    pub(crate) fn at_offset(&self, file: &Path, text: &str, offset: usize, message: impl Into<String>) {
        let (line, col) = LineIndex::new(text).line_col(offset);
        self.at(file, line, col, message);
    }

    pub(crate) fn at(&self, file: &Path, line: usize, col: usize, message: impl Into<String>) {
        let message = one_line(&message.into());
        self.push(ContentError { file: file.to_owned(), line, col, message });
    }

    /// A warning about `file` (at 1:1): the build goes on.
    pub(crate) fn warn(&self, file: &Path, message: impl Into<String>) {
        let message = one_line(&message.into());
        let warning = ContentError { file: file.to_owned(), line: 1, col: 1, message };
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(warning);
    }

    /// A warning at a byte offset of `text`, the contents of `file`: the build goes on.
    pub(crate) fn warn_at_offset(&self, file: &Path, text: &str, offset: usize, message: impl Into<String>) {
        let (line, col) = LineIndex::new(text).line_col(offset);
        let warning = ContentError { file: file.to_owned(), line, col, message: one_line(&message.into()) };
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(warning);
    }

    /// The warnings, sorted and deduplicated.
    pub(crate) fn take_warnings(&self) -> Vec<ContentError> {
        let mut warnings = std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        warnings.sort();
        warnings.dedup();
        warnings
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    pub(crate) fn take(&self) -> Vec<ContentError> {
        let mut errors = std::mem::take(&mut *self.errors.lock().unwrap_or_else(|e| e.into_inner()));
        errors.sort();
        errors.dedup();
        errors
    }
}

/// Messages from parsers may span lines; authors get one line per error.
/// Control characters (a name or value in an author's file may hold terminal escapes) are
/// shown as escapes, never sent to the terminal.
fn one_line(message: &str) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    joined
        .chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let idx = LineIndex::new("ab\ncdé\nx");
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(2), (1, 3));
        assert_eq!(idx.line_col(3), (2, 1));
        assert_eq!(idx.line_col(7), (2, 4)); // after the two-byte é
        assert_eq!(idx.line_col(8), (3, 1));
        assert_eq!(idx.line_col(100), (3, 2));
    }

    #[test]
    fn sorted_and_deduplicated() {
        let d = Diagnostics::default();
        d.at(Path::new("b.md"), 1, 1, "x");
        d.at(Path::new("a.md"), 2, 1, "multi\n  line");
        d.at(Path::new("b.md"), 1, 1, "x");
        let errors = d.take();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].to_string(), "a.md:2:1: multi line");
    }
}
