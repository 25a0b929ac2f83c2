//! Upload progress: an indicatif bar on a terminal, log lines elsewhere.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Reports upload progress: an indicatif bar on a terminal, log lines elsewhere.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    log: bool,
    total_objects: usize,
    total_bytes: u64,
    done_objects: AtomicUsize,
    done_bytes: AtomicU64,
    last_logged_tenth: AtomicUsize,
}

impl Progress {
    pub(super) fn new(enabled: bool, total_objects: usize, total_bytes: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal && total_objects > 0).then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes);
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Progress {
            log: enabled && !terminal,
            bar,
            total_objects,
            total_bytes,
            done_objects: AtomicUsize::new(0),
            done_bytes: AtomicU64::new(0),
            last_logged_tenth: AtomicUsize::new(0),
        }
    }

    pub(super) fn uploaded(&self, size: u64) {
        let objects = self.done_objects.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.done_bytes.fetch_add(size, Ordering::Relaxed) + size;
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{objects}/{} objects", self.total_objects));
        } else if self.log {
            let tenth = objects * 10 / self.total_objects.max(1);
            if self.last_logged_tenth.fetch_max(tenth, Ordering::Relaxed) < tenth
                || objects == self.total_objects
            {
                eprintln!(
                    "publish: uploaded {objects}/{} objects, {bytes}/{} bytes",
                    self.total_objects, self.total_bytes
                );
            }
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
