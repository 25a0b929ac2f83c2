//! `course serve`'s authoring loop: the build kept alive between rebuilds (its caches of
//! file hashes and rendered pages stay in memory, so an edit re-renders only the pages
//! whose inputs changed), the content watched (`watch.rs`), and content errors turned into
//! what the browser's overlay and the terminal show (the file's own line, with a caret).
//! The origin half (reload client, event stream, overlay) is `edge_origin`'s `live.rs`.

pub mod watch;

use std::fmt::Write as _;
use std::path::Path;

use edge_origin::AuthorError;

use crate::build::cache::BuildCache;
use crate::build::{build_with, BuildError, BuildOptions, BuildReport};
use crate::ContentError;

/// One content tree built again and again into the same local store.
pub struct Session {
    options: BuildOptions,
    /// Shared by every rebuild (and saved after each, for the next `course build`).
    cache: BuildCache,
}

impl Session {
    pub fn new(options: BuildOptions) -> Session {
        let cache = BuildCache::open(&options.out);
        Session { options, cache }
    }

    pub fn options(&self) -> &BuildOptions {
        &self.options
    }

    /// `rebuild`, told by the watcher which paths (under the content root) changed since
    /// the last build: the files under none of them are not looked at again.
    pub fn rebuild_after(&mut self, changed: &[std::path::PathBuf]) -> Result<BuildReport, BuildError> {
        self.cache.files.vouch(changed.iter().map(|p| self.options.content.join(p)).collect());
        self.rebuild()
    }

    /// Builds the content as it is now; on content errors nothing is written and the
    /// store's channel keeps its last good release.
    pub fn rebuild(&mut self) -> Result<BuildReport, BuildError> {
        let started = std::time::SystemTime::now();
        let result = build_with(&self.options, &self.cache);
        self.cache.advance(result.is_ok(), started);
        result
    }
}

/// Longest file whose lines are shown with its errors (the build reads no larger source).
const SHOWN_FILE_BYTES: u64 = 1 << 20;

/// The `line`-th line (1-based) of `file`, if it is a regular file the build could have
/// read (never a FIFO: reading one would block the rebuild loop for good).
fn source_line(file: &Path, line: usize) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.len() > SHOWN_FILE_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().nth(line.checked_sub(1)?).map(str::to_owned)
}

/// `text` with control characters (an author's file may hold terminal escapes) shown as
/// escapes; tabs kept.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\t' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// The caret under column `col` (in characters) of `line`, tabs kept so it lines up.
fn caret_under(line: &str, col: usize) -> String {
    let pad: String =
        line.chars().take(col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    format!("{pad}^")
}

/// The errors as the browser's overlay lists them.
pub fn author_errors(errors: &[ContentError]) -> Vec<AuthorError> {
    errors
        .iter()
        .map(|e| AuthorError {
            file: e.file.display().to_string(),
            line: e.line,
            col: e.col,
            message: e.message.clone(),
            source_line: source_line(&e.file, e.line),
        })
        .collect()
}

/// The errors as the terminal shows them: `error: file:line:col: message`, then the
/// source line with a caret under the column (as the overlay shows them); `served` says
/// whether a good release is being served meanwhile.
pub fn for_terminal(errors: &[AuthorError], served: bool) -> String {
    let mut text = String::new();
    for e in errors {
        let _ =
            writeln!(text, "error: {}:{}:{}: {}", printable(&e.file), e.line, e.col, printable(&e.message));
        if let Some(source) = &e.source_line {
            let source = printable(source);
            let gutter = " ".repeat(e.line.to_string().len());
            let _ = writeln!(text, " {} | {source}", e.line);
            let _ = writeln!(text, " {gutter} | {}", caret_under(&source, e.col));
        }
    }
    let then =
        if served { "the last good release is still served" } else { "nothing is served until it builds" };
    let _ = write!(text, "{} content error(s): {then}", errors.len());
    text
}

/// A failure that is not about the content (the store cannot be written...), for the
/// overlay: it names the store and says what went wrong.
pub fn store_error(out: &Path, error: &BuildError) -> AuthorError {
    AuthorError {
        file: out.display().to_string(),
        line: 1,
        col: 1,
        message: format!("the release could not be written: {error}"),
        source_line: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_their_source_line_with_a_caret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("l.md");
        std::fs::write(&file, "+++\ntitel = \"x\"\n+++\n").expect("write");
        let error = ContentError { file: file.clone(), line: 2, col: 3, message: "unknown field".into() };
        let shown = author_errors(&[error]);
        assert_eq!(shown[0].source_line.as_deref(), Some("titel = \"x\""));
        let text = for_terminal(&shown, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("error: {}:2:3: unknown field", file.display()));
        assert_eq!(lines[1], " 2 | titel = \"x\"");
        assert_eq!(lines[2], "   |   ^");
        assert!(lines[3].starts_with("1 content error(s)"));
    }

    #[test]
    fn terminal_escapes_are_shown_not_run_and_carets_follow_tabs() {
        let error = AuthorError {
            file: "l.md".into(),
            line: 3,
            col: 3,
            message: "bad \u{1b}]0;PWNED\u{7}".into(),
            source_line: Some("\tx\u{1b}[2J".into()),
        };
        let text = for_terminal(&[error], false);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("bad \\u{1b}]0;PWNED\\u{7}"), "{text:?}");
        assert!(text.contains("   | \t ^"), "the caret keeps the tab: {text:?}");
        assert!(text.ends_with("nothing is served until it builds"));
    }
}
