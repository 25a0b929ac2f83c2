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

    /// Builds the content as it is now; on content errors nothing is written and the
    /// store's channel keeps its last good release.
    pub fn rebuild(&mut self) -> Result<BuildReport, BuildError> {
        let started = std::time::SystemTime::now();
        let result = build_with(&self.options, &self.cache);
        self.cache.advance(result.is_ok(), started);
        result
    }
}

/// The `line`-th line (1-based) of `file`, if it can be read.
fn source_line(file: &Path, line: usize) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().nth(line.checked_sub(1)?).map(str::to_owned)
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
/// source line with a caret under the column (as the overlay shows them).
pub fn for_terminal(errors: &[AuthorError]) -> String {
    let mut text = String::new();
    for e in errors {
        let _ = writeln!(text, "error: {}:{}:{}: {}", e.file, e.line, e.col, e.message);
        if let Some(source) = &e.source_line {
            let gutter = " ".repeat(e.line.to_string().len());
            let _ = writeln!(text, " {} | {source}", e.line);
            let _ = writeln!(text, " {gutter} | {}^", " ".repeat(e.col.saturating_sub(1)));
        }
    }
    let _ = write!(text, "{} content error(s): the last good release is still served", errors.len());
    text
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
        let text = for_terminal(&shown);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("error: {}:2:3: unknown field", file.display()));
        assert_eq!(lines[1], " 2 | titel = \"x\"");
        assert_eq!(lines[2], "   |   ^");
        assert!(lines[3].starts_with("1 content error(s)"));
    }
}
