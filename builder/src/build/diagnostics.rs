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
        self.warn_at(file, 1, 1, message);
    }

    /// A warning at a byte offset of `text`, the contents of `file`: the build goes on.
    pub(crate) fn warn_at_offset(&self, file: &Path, text: &str, offset: usize, message: impl Into<String>) {
        let (line, col) = LineIndex::new(text).line_col(offset);
        self.warn_at(file, line, col, message);
    }

    pub(crate) fn warn_at(&self, file: &Path, line: usize, col: usize, message: impl Into<String>) {
        let message = one_line(&message.into());
        let warning = ContentError { file: file.to_owned(), line, col, message };
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(warning);
    }

    /// The warnings, sorted and deduplicated.
    pub(crate) fn take_warnings(&self) -> Vec<ContentError> {
        let mut warnings = std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        warnings.sort();
        warnings.dedup();
        warnings
    }

    /// Copies of the errors and warnings so far (to report them again, unchanged).
    pub(crate) fn snapshot(&self) -> (Vec<ContentError>, Vec<ContentError>) {
        let errors = self.errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (errors, warnings)
    }

    /// Reports `errors` and `warnings` (a [`Self::snapshot`]) here too.
    pub(crate) fn extend(&self, errors: &[ContentError], warnings: &[ContentError]) {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(errors);
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(warnings);
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

/// The candidate an author most likely meant by `word` (for "did you mean ...?" hints): one
/// equal but for case, else the nearest within a typo or two (a fifth of the word's
/// length, at least one edit; a swap of neighbours is one edit), else the only one that
/// `word` (4 characters or more) begins.
pub(crate) fn nearest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = word.to_lowercase();
    let within = 1 + word.chars().count() / 5;
    let mut best: Option<(usize, &str)> = None;
    let mut prefixed = Vec::new();
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let distance = edit_distance(&lower, &candidate.to_lowercase());
        if distance <= within && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
        if lower.chars().count() >= 4 && candidate.to_lowercase().starts_with(&lower) {
            prefixed.push(candidate);
        }
    }
    best.map(|(_, c)| c).or_else(|| (prefixed.len() == 1).then(|| prefixed[0]))
}

/// ` (did you mean `x`?)` when one candidate is near `word`, else nothing.
pub(crate) fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    nearest(word, candidates).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

/// Edits (insert, delete, replace, or swap two neighbours) from `a` to `b`, by character.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Three rows of the optimal-string-alignment table: two rows back (for swaps), the last, this.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()]
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
    fn suggestions_are_near_misses_only() {
        assert_eq!(edit_distance("quizz", "quiz"), 1);
        assert_eq!(edit_distance("qiuz", "quiz"), 1, "a swap is one edit");
        assert_eq!(edit_distance("", "lab"), 3);
        let blocks = ["quiz", "animation", "lab"];
        assert_eq!(nearest("quizz", blocks), Some("quiz"));
        assert_eq!(nearest("Quiz", blocks), Some("quiz"));
        assert_eq!(nearest("animaton", blocks), Some("animation"));
        assert_eq!(nearest("labs", blocks), Some("lab"));
        assert_eq!(nearest("python", blocks), None);
        assert_eq!(nearest("anim", blocks), Some("animation"), "the only one it begins");
        assert_eq!(nearest("lab", blocks), None, "the word itself is no suggestion");
        assert_eq!(did_you_mean("answr", ["prompt", "answer"]), " (did you mean `answer`?)");
        assert_eq!(did_you_mean("hint", ["title", "questions"]), "");
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
