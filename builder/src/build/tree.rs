//! Reading the content tree: every file the build reads comes through here, so nothing
//! outside the content root is ever read or published. A symbolic link is followed only
//! when it resolves inside the root; one that leads outside (or nowhere, or in a loop) is
//! a content error at the link's own path. A name that is not UTF-8 is an error too, never
//! silently skipped, and the text files the build parses have a size limit.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustc_hash::FxHashMap as HashMap;

use crate::build::diagnostics::{Diagnostics, LineIndex};
use bundle::size::human_bytes;

/// Largest lesson, TOML or instructions file read, unless configured otherwise: far above
/// any real lesson (the generated ones are 6-14 KB), and small enough that a pathological
/// one (a megabyte of nested `>` quotes) costs hundreds of megabytes, not gigabytes.
pub(crate) const DEFAULT_MAX_SOURCE_BYTES: u64 = 1 << 20;

/// Reading a FIFO would block the build forever; a socket or device is no content either.
const NOT_REGULAR: &str = "not a regular file or folder (a FIFO, socket or device): it is not read";

/// The content root, as given (for messages) and resolved (for containment checks).
pub(crate) struct ContentRoot {
    pub shown: PathBuf,
    real: PathBuf,
    max_source_bytes: u64,
    /// Resolved directories, by path as walked: most checks are of a plain file in a
    /// directory seen before, which then costs one `lstat` instead of a `readlink` per
    /// component (12,000 of them for a rebuild of the generated catalogue).
    real_dirs: Mutex<HashMap<PathBuf, Option<PathBuf>>>,
    /// Whether a listing met a symbolic link (`course serve` then stats every file).
    pub saw_link: std::sync::atomic::AtomicBool,
}

/// One entry of a directory listing.
pub(crate) struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

impl ContentRoot {
    /// `None` (reported) when the root does not exist or is not a directory.
    pub(crate) fn open(diags: &Diagnostics, shown: &Path, max_source_bytes: u64) -> Option<ContentRoot> {
        match std::fs::canonicalize(shown) {
            Ok(real) if real.is_dir() => Some(ContentRoot {
                shown: shown.to_owned(),
                real,
                max_source_bytes,
                real_dirs: Mutex::default(),
                saw_link: Default::default(),
            }),
            _ => {
                diags.at(shown, 1, 1, "content directory not found");
                None
            }
        }
    }

    /// Whether `path` (under the root) resolves inside it; reports the link that leads out.
    pub(crate) fn contains(&self, diags: &Diagnostics, path: &Path) -> bool {
        if self.is_plain_file_inside(path) {
            return true;
        }
        match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.real) => true,
            Ok(real) => {
                let link = self.escaping_link(path).unwrap_or_else(|| path.to_owned());
                let msg = format!(
                    "symbolic link leads outside the content directory (to {}); it is not followed",
                    real.display()
                );
                diags.at(&link, 1, 1, msg);
                false
            }
            Err(err) if path.is_symlink() => {
                diags.at(path, 1, 1, link_error(&err));
                false
            }
            // A missing file is its reader's to report.
            Err(_) => true,
        }
    }

    /// Whether `path` is no link itself and sits in a directory that resolves inside the
    /// root (then it resolves to that directory's real path joined with its name).
    fn is_plain_file_inside(&self, path: &Path) -> bool {
        self.plain_file_inside(path).is_some()
    }

    /// [`Self::is_plain_file_inside`], with what `lstat` said of the file (one call for a
    /// caller that wants its stamp too).
    pub(crate) fn plain_file_inside(&self, path: &Path) -> Option<std::fs::Metadata> {
        let (dir, name) = (path.parent()?, path.file_name()?);
        let meta = std::fs::symlink_metadata(path).ok().filter(|m| !m.is_symlink())?;
        if dir.as_os_str().is_empty() {
            return None;
        }
        let mut real_dirs = self.real_dirs.lock().expect("real dirs lock");
        let real_dir = real_dirs.entry(dir.to_owned()).or_insert_with(|| std::fs::canonicalize(dir).ok());
        real_dir.as_ref().is_some_and(|real| real.join(name).starts_with(&self.real)).then_some(meta)
    }

    /// The outermost symbolic link on the way from the root to `path` that resolves outside.
    fn escaping_link(&self, path: &Path) -> Option<PathBuf> {
        let rel = path.strip_prefix(&self.shown).ok()?;
        let mut at = self.shown.clone();
        for part in rel.components() {
            at.push(part);
            if at.is_symlink() && !std::fs::canonicalize(&at).is_ok_and(|r| r.starts_with(&self.real)) {
                return Some(at);
            }
        }
        None
    }

    /// The directories and files directly inside `dir` (links resolved), sorted by name;
    /// hidden entries skipped; a missing `dir` is empty.
    pub(crate) fn entries(&self, diags: &Diagnostics, dir: &Path) -> Vec<Entry> {
        if !dir.exists() || !self.contains(diags, dir) {
            return Vec::new();
        }
        // `read_dir`, not walkdir: its file types come from the listing itself, where
        // walkdir following links stats every entry (9,500 calls for the animations of the
        // generated catalogue); only links are stat'ed here.
        let listing = match std::fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(err) => {
                diags.at(dir, 1, 1, format!("cannot read: {err}"));
                return Vec::new();
            }
        };
        let mut found = Vec::new();
        for entry in listing {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    diags.at(dir, 1, 1, format!("cannot read: {err}"));
                    continue;
                }
            };
            if is_skipped_name(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            if let Some(found_entry) = self.listed(diags, dir, &entry, path) {
                found.push(found_entry);
            }
        }
        // Sorted here, not by walkdir: its sort re-parses both paths on every comparison.
        found.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// One entry of a listing of `dir`, admitted as [`Self::admit`] admits a walked one.
    fn listed(
        &self,
        diags: &Diagnostics,
        dir: &Path,
        entry: &std::fs::DirEntry,
        path: PathBuf,
    ) -> Option<Entry> {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            diags.at(&path, 1, 1, "file name is not valid UTF-8: rename it (it cannot be part of a URL)");
            return None;
        };
        let mut kind = entry.file_type().ok()?;
        if kind.is_symlink() {
            self.saw_link.store(true, std::sync::atomic::Ordering::Relaxed);
            match std::fs::metadata(&path) {
                Ok(meta) => kind = meta.file_type(),
                Err(err) => {
                    diags.at(&path, 1, 1, link_error(&err));
                    return None;
                }
            }
            if !self.contains(diags, &path) {
                return None;
            }
            // A link to the folder itself or one above it would be listed forever.
            let real = std::fs::canonicalize(&path).ok()?;
            if kind.is_dir() && std::fs::canonicalize(dir).is_ok_and(|d| d.starts_with(&real)) {
                diags.at(&path, 1, 1, "symbolic link loop: it is not followed");
                return None;
            }
        }
        if !kind.is_file() && !kind.is_dir() {
            diags.at(&path, 1, 1, NOT_REGULAR);
            return None;
        }
        Some(Entry { name, is_dir: kind.is_dir(), path })
    }

    /// Files under `dir`, as (`/`-separated path relative to `dir`, full path), sorted;
    /// hidden files and folders skipped; a missing `dir` is empty.
    pub(crate) fn files_under(&self, diags: &Diagnostics, dir: &Path) -> Vec<(String, PathBuf)> {
        if !dir.exists() && !dir.is_symlink() {
            return Vec::new();
        }
        if !self.contains(diags, dir) {
            return Vec::new();
        }
        // Listed with `entries` (file types from the listing, only links stat'ed), not
        // walkdir following links, which stats every entry: a build lists 10,000 files.
        let mut files = Vec::new();
        let Ok(real) = std::fs::canonicalize(dir) else { return files };
        self.collect_files(diags, dir, "", &mut vec![real], &mut files);
        files.sort_unstable();
        files
    }

    /// Appends the files under `dir` (whose path relative to the walk's top is `rel`) to
    /// `files`; `reals` holds the real path of `dir` and of each folder above it in the
    /// walk, so a link back to any of them is a loop, reported and not followed.
    fn collect_files(
        &self,
        diags: &Diagnostics,
        dir: &Path,
        rel: &str,
        reals: &mut Vec<PathBuf>,
        files: &mut Vec<(String, PathBuf)>,
    ) {
        for entry in self.entries(diags, dir) {
            let entry_rel = if rel.is_empty() { entry.name.clone() } else { format!("{rel}/{}", entry.name) };
            if !entry.is_dir {
                files.push((entry_rel, entry.path));
                continue;
            }
            let real = if entry.path.is_symlink() {
                match std::fs::canonicalize(&entry.path) {
                    Ok(real) => real,
                    Err(_) => continue, // vanished since it was listed
                }
            } else {
                reals.last().expect("the walk's top is in reals").join(&entry.name)
            };
            if reals.contains(&real) {
                diags.at(&entry.path, 1, 1, "symbolic link loop: it is not followed");
                continue;
            }
            reals.push(real);
            self.collect_files(diags, &entry.path, &entry_rel, reals, files);
            reals.pop();
        }
    }

    /// Reads a text file the build parses (lesson, TOML, instructions, template): it must
    /// resolve inside the root, be at most the size limit, and be UTF-8 (an invalid byte is
    /// reported at its line and column).
    pub(crate) fn read_text(&self, diags: &Diagnostics, path: &Path) -> Option<String> {
        if !self.contains(diags, path) {
            return None;
        }
        let size = match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                diags.at(path, 1, 1, NOT_REGULAR);
                return None;
            }
            Ok(meta) => meta.len(),
            Err(err) => {
                diags.at(path, 1, 1, format!("cannot read: {err}"));
                return None;
            }
        };
        if size > self.max_source_bytes {
            let msg = format!(
                "file is {}, over the {} limit for text the build parses (course build --max-source-size)",
                human_bytes(size),
                human_bytes(self.max_source_bytes)
            );
            diags.at(path, 1, 1, msg);
            return None;
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                diags.at(path, 1, 1, format!("cannot read: {err}"));
                return None;
            }
        };
        match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(err) => {
                let valid = err.utf8_error().valid_up_to();
                let bytes = err.into_bytes();
                let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let (line, col) = LineIndex::new(prefix).line_col(valid);
                diags.at(path, line, col, "file is not valid UTF-8 text");
                None
            }
        }
    }
}

/// What is wrong with a symlink that does not resolve.
fn link_error(err: &std::io::Error) -> String {
    // ELOOP: too many levels of symbolic links.
    if err.raw_os_error() == Some(40) {
        "symbolic link loop: it is not followed".to_owned()
    } else {
        "broken symbolic link: it leads to nothing".to_owned()
    }
}

/// Names the build never reads: hidden files and folders (`.git`, vim's `.name.swp`, emacs'
/// `.#name` lock), and what editors leave beside the real files: `name~` backups, emacs'
/// `#name#` autosaves, vim's `4913` write probe, JetBrains' `___jb_tmp___`/`___jb_old___`.
/// `course serve`'s watcher ignores changes to them for the same reason.
pub(crate) fn is_skipped_name(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.')
        || name.ends_with('~')
        || name == "4913"
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root_with(setup: impl FnOnce(&Path, &Path)) -> (tempfile::TempDir, Diagnostics, ContentRoot) {
        let dir = tempfile::tempdir().expect("tempdir");
        let content = dir.path().join("content");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(content.join("media")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("secret.txt"), "password").expect("write");
        setup(&content, &outside);
        let diags = Diagnostics::default();
        let root = ContentRoot::open(&diags, &content, DEFAULT_MAX_SOURCE_BYTES).expect("root");
        (dir, diags, root)
    }

    #[test]
    fn links_inside_are_followed_and_links_outside_are_errors() {
        let (_dir, diags, root) = root_with(|content, outside| {
            std::fs::write(content.join("media/a.svg"), "<svg/>").expect("write");
            symlink(content.join("media/a.svg"), content.join("media/b.svg")).expect("link");
            symlink(outside.join("secret.txt"), content.join("media/c.txt")).expect("link");
            symlink(outside, content.join("media/d")).expect("link");
            symlink(content.join("nowhere"), content.join("media/e.svg")).expect("link");
        });
        let files: Vec<String> =
            root.files_under(&diags, &root.shown.join("media")).into_iter().map(|(rel, _)| rel).collect();
        assert_eq!(files, ["a.svg", "b.svg"]);
        let errors: Vec<String> = diags.take().iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("media/c.txt:1:1: symbolic link leads outside")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.contains("media/d:1:1: symbolic link leads outside")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("media/e.svg:1:1: broken")), "{errors:?}");
    }

    #[test]
    fn a_linked_directory_read_directly_is_refused_at_the_link() {
        let (_dir, diags, root) = root_with(|content, outside| {
            symlink(outside, content.join("labs")).expect("link");
        });
        assert!(root.read_text(&diags, &root.shown.join("labs/secret.txt")).is_none());
        let errors = diags.take();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].file.ends_with("content/labs"), "{}", errors[0]);
        assert!(root.entries(&diags, &root.shown).iter().all(|e| e.name != "labs"));
    }

    #[test]
    fn text_must_be_utf8_and_not_too_big() {
        let (_dir, diags, _) = root_with(|content, _| {
            std::fs::write(content.join("bad.md"), b"ok\nab\xffcd").expect("write");
            std::fs::write(content.join("big.md"), vec![b'a'; 2048]).expect("write");
        });
        let root = ContentRoot::open(&diags, &_dir.path().join("content"), 1024).expect("root");
        assert!(root.read_text(&diags, &root.shown.join("bad.md")).is_none());
        assert!(root.read_text(&diags, &root.shown.join("big.md")).is_none());
        let errors: Vec<String> = diags.take().iter().map(ToString::to_string).collect();
        assert!(errors[0].ends_with("bad.md:2:3: file is not valid UTF-8 text"), "{errors:?}");
        assert!(errors[1].contains("big.md:1:1: file is 2.0 KiB, over the 1.0 KiB limit"), "{errors:?}");
    }

    #[test]
    fn fifos_are_errors_not_a_hang() {
        let (_dir, diags, root) = root_with(|content, _| {
            let status = std::process::Command::new("mkfifo").arg(content.join("media/x.svg")).status();
            assert!(status.is_ok_and(|s| s.success()), "mkfifo");
            let status = std::process::Command::new("mkfifo").arg(content.join("site.toml")).status();
            assert!(status.is_ok_and(|s| s.success()), "mkfifo");
        });
        assert!(root.files_under(&diags, &root.shown.join("media")).is_empty());
        assert!(root.read_text(&diags, &root.shown.join("site.toml")).is_none());
        let errors = diags.take();
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|e| e.message.contains("not a regular file")), "{errors:?}");
    }

    #[test]
    fn a_link_loop_is_named_a_loop() {
        let (_dir, diags, root) = root_with(|content, _| {
            symlink(content.join("media/b.svg"), content.join("media/a.svg")).expect("link");
            symlink(content.join("media/a.svg"), content.join("media/b.svg")).expect("link");
        });
        assert!(root.files_under(&diags, &root.shown.join("media")).is_empty());
        let errors = diags.take();
        assert!(!errors.is_empty() && errors.iter().all(|e| e.message.contains("loop")), "{errors:?}");
    }

    #[test]
    fn folder_links_back_up_or_round_in_a_circle_are_loops_and_the_rest_is_listed() {
        let (_dir, diags, root) = root_with(|content, _| {
            let media = content.join("media");
            for dir in ["x", "z"] {
                std::fs::create_dir(media.join(dir)).expect("mkdir");
                std::fs::write(media.join(dir).join("f.svg"), "<svg/>").expect("write");
            }
            symlink(&media, media.join("x/up")).expect("link"); // to an ancestor
            symlink(media.join("z"), media.join("x/to-z")).expect("link"); // x/to-z -> z
            symlink(media.join("x"), media.join("z/to-x")).expect("link"); // z/to-x -> x: a circle
        });
        let files: Vec<String> =
            root.files_under(&diags, &root.shown.join("media")).into_iter().map(|(rel, _)| rel).collect();
        // Each folder's file once per way in, and no way round the circle twice.
        assert_eq!(files, ["x/f.svg", "x/to-z/f.svg", "z/f.svg", "z/to-x/f.svg"]);
        // x/up, z/to-x/up (to their ancestor), x/to-z/to-x and z/to-x/to-z (the circle).
        let errors = diags.take();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().all(|e| e.message.contains("symbolic link loop")), "{errors:?}");
    }

    #[test]
    fn names_that_are_not_utf8_are_errors() {
        use std::os::unix::ffi::OsStrExt;
        let (_dir, diags, root) = root_with(|content, _| {
            let name = std::ffi::OsStr::from_bytes(b"les\xffson.md");
            std::fs::write(content.join(name), "x").expect("write");
        });
        assert!(root.entries(&diags, &root.shown).iter().all(|e| e.is_dir));
        let errors = diags.take();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("not valid UTF-8"), "{}", errors[0]);
    }
}
