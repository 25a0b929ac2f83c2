//! Watching the content tree: the `notify` crate with its full debouncer, so an editor's
//! several writes, or its write-then-rename save, come out as one batch; files editors
//! leave beside the real ones (swap, backup and probe files) never start a rebuild.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

use crate::build::tree::is_skipped_name;
use notify_debouncer_full::notify::event::{MetadataKind, ModifyKind};
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

/// How long the tree must be quiet before a batch is handed over: long enough for an
/// editor's save (write chunks, rename: microseconds to a few milliseconds apart), short
/// against the 200 ms an author waits. Checked every quarter of it (the debouncer's tick),
/// so a batch goes 20-25 ms after the last event (it was 40-50 ms). A save split over two
/// batches only costs a second rebuild that renders nothing new.
const QUIET: Duration = Duration::from_millis(20);

/// Whether a change to `path` (relative to the content root or not) can matter to the
/// build: not when it is, or is inside, a name the build skips (`.git/`, editor swap,
/// backup, probe and lock files: see `is_skipped_name`).
pub(crate) fn is_ignored(path: &Path) -> bool {
    path.components().any(|c| matches!(c, std::path::Component::Normal(name) if is_skipped_name(name)))
}

/// Whether an event is a change (the build's own reads are events too, and must not
/// start another build).
fn changes_content(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)))
}

/// A running watch of one content tree.
pub struct ContentWatch {
    _debouncer: Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>,
    batches: mpsc::Receiver<DebounceEventResult>,
    root: PathBuf,
    ignored: Vec<PathBuf>,
}

impl ContentWatch {
    /// Watches `root` recursively; changes under any of `ignored` (the build's own output
    /// if it lies inside) are left out.
    pub fn start(root: &Path, ignored: &[PathBuf]) -> anyhow::Result<ContentWatch> {
        // Made now, so they resolve to the absolute paths events name (one that does not
        // exist yet, such as a first build's failed `--out`, would never match).
        for dir in ignored {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let (tx, batches) = mpsc::channel();
        let mut debouncer = new_debouncer(QUIET, Some(QUIET / 4), tx).context("starting the file watcher")?;
        debouncer
            .watch(root, RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", root.display()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
        let ignored = ignored.iter().map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())).collect();
        Ok(ContentWatch { _debouncer: debouncer, batches, root, ignored })
    }

    /// Blocks until files of the tree changed, then gives them (content-relative where
    /// possible); a watcher error is passed on. `None` when the watcher stopped.
    pub fn next_change(&self) -> Option<anyhow::Result<Vec<PathBuf>>> {
        loop {
            let batch = self.batches.recv().ok()?;
            // Batches that arrived meanwhile are one change.
            let mut results = vec![batch];
            results.extend(self.batches.try_iter());
            let mut paths = Vec::new();
            for result in results {
                match result {
                    Ok(events) => paths.extend(
                        events
                            .into_iter()
                            .filter(|e| changes_content(&e.event.kind))
                            .flat_map(|e| e.event.paths)
                            .filter(|p| self.counts(p)),
                    ),
                    Err(errors) => {
                        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        return Some(Err(anyhow::anyhow!("watching the content: {}", text.join("; "))));
                    }
                }
            }
            paths.sort();
            paths.dedup();
            if !paths.is_empty() {
                let relative =
                    paths.iter().map(|p| p.strip_prefix(&self.root).unwrap_or(p).to_owned()).collect();
                return Some(Ok(relative));
            }
        }
    }

    fn counts(&self, path: &Path) -> bool {
        let inside = path.strip_prefix(&self.root).unwrap_or(path);
        !is_ignored(inside) && !self.ignored.iter().any(|dir| path.starts_with(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_files_and_hidden_folders_are_not_content_changes() {
        for junk in [
            ".loops.md.swp",
            ".loops.md.swx",
            "loops.md~",
            "4913",
            "#loops.md#",
            ".#loops.md",
            "loops.md___jb_tmp___",
            ".git/HEAD",
            ".git/objects/ab/cdef",
        ] {
            assert!(is_ignored(Path::new("courses/py").join(junk).as_path()), "{junk}");
        }
        for real in ["loops.md", "course.toml", "site.css", "4913.md", "notes~.md", "#tag.md"] {
            assert!(!is_ignored(Path::new("courses/py").join(real).as_path()), "{real}");
        }
    }
}
