//! What a rebuild may skip, kept in `<out>/.build-cache/`:
//! - file hashes, trusted while a file's size, mtime and inode are unchanged (as git's
//!   index does; an entry whose mtime is not older than the cache file is re-hashed, so a
//!   file written in the same instant as the cache is never trusted);
//! - lessons' front matter, trusted the same way, so an unchanged lesson is not even read
//!   (its text is read when its page must be rendered again);
//! - rendered pages, by a hash of everything the page was rendered from;
//! - labs' starter zips, by the tree hash of the files they hold (deflating every starter
//!   again was a tenth of a one-lesson rebuild).
//!
//! The cache is only an accelerator: deleting it gives the same release, more slowly.
//!
//! Both files are journals: a build appends only what changed (one line for a one-lesson
//! edit, instead of rewriting 3 MB), later lines win, and a file is rewritten whole when it
//! has grown to twice what a build uses.

use std::ffi::OsString;
use std::io;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bundle::ObjectKey;

use crate::build::links::PageLinks;
use crate::build::uses::AssetId;
use rustc_hash::FxHashMap as HashMap;
use sha2::{Digest, Sha256};

const FILES: &str = "files";
/// Lines `<inputs> <object> <size> <asset token>... <link token>...` (v2 added the assets
/// a page uses, v3 its ids and the links out of it that are checked after rendering).
const PAGES: &str = "pages-v3";
/// Lines `<len> <mtime ns> <ino> <lesson as JSON>`.
const LESSONS: &str = "lessons-v1";
/// Lines `<tree hash of the starter files> <zip object> <size>`.
const ZIPS: &str = "zips-v1";
/// The search indexes built, by the pages they were built from.
const SEARCH: &str = "search-v2";
/// What each page and stylesheet references, by object key (the offline lists).
const REFS: &str = "refs-v2";

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
        }
    }
}

/// A file's key and size.
pub(crate) type KeyAndSize = (ObjectKey, u64);

/// SHA-256 keys of source files, by path.
#[derive(Default)]
pub struct FileHashes {
    /// By path as an `OsString`: hashing a `PathBuf` walks its components, which showed
    /// in profiles of a rebuild of 12,000 files.
    known: HashMap<OsString, (Stamp, ObjectKey)>,
    /// Entries at least this new are racy (the file may have changed within the same
    /// timestamp tick after it was hashed) and are hashed again.
    trusted_before_ns: i128,
    /// Every file hashed or looked up in this build: what the next build may trust.
    seen: Mutex<Vec<(PathBuf, Stamp, ObjectKey)>>,
    journal: Journal,
    /// In `course serve`: the paths the watcher reported since the last build. A known
    /// file under none of them is taken as it was, without a `stat` (12,600 of them were a
    /// third of a preview's one-lesson rebuild).
    vouched: Option<Vec<PathBuf>>,
    /// Whether the last build's walk met a symbolic link: a link's target changes under
    /// another path than the link's, so the watcher's word is not taken after one.
    pub(crate) links_seen: std::sync::atomic::AtomicBool,
}

impl FileHashes {
    fn load(path: &Path) -> FileHashes {
        let Ok(meta) = std::fs::metadata(path) else { return FileHashes::default() };
        let Ok(text) = std::fs::read_to_string(path) else { return FileHashes::default() };
        let lines = Journal::lines(&text);
        let mut known = HashMap::with_capacity_and_hasher(lines.len(), Default::default());
        known.extend(lines.iter().filter_map(|line| parse_file_line(line)));
        FileHashes {
            seen: Mutex::new(Vec::with_capacity(known.len())),
            known,
            trusted_before_ns: Stamp::of(&meta).mtime_ns,
            journal: Journal::of(lines.len()),
            ..FileHashes::default()
        }
    }

    /// The key and size of the file at `path`, from the cache when it is unchanged.
    pub fn key_of(&self, path: &Path) -> io::Result<(ObjectKey, u64)> {
        let (stamp, key) = self.look_up(path)?;
        self.seen.lock().expect("file hashes lock").push((path.to_owned(), stamp, key.clone()));
        Ok((key, stamp.len))
    }

    /// [`Self::key_of`] of many files side by side, each `(label, path)`; what was seen
    /// is recorded once at the end (a lock per file was contended by the two cores).
    pub(crate) fn keys_of<L: Send>(
        &self,
        files: Vec<(L, PathBuf)>,
    ) -> Vec<(L, PathBuf, io::Result<KeyAndSize>)> {
        use rayon::prelude::*;
        let looked: Vec<_> = files
            .into_par_iter()
            .map(|(label, path)| {
                let found = self.look_up(&path);
                (label, path, found)
            })
            .collect();
        let mut seen = self.seen.lock().expect("file hashes lock");
        looked
            .into_iter()
            .map(|(label, path, found)| match found {
                Ok((stamp, key)) => {
                    seen.push((path.clone(), stamp, key.clone()));
                    (label, path, Ok((key, stamp.len)))
                }
                Err(err) => (label, path, Err(err)),
            })
            .collect()
    }

    /// The stamp and key of the file at `path`, without recording that it was seen.
    fn look_up(&self, path: &Path) -> io::Result<(Stamp, ObjectKey)> {
        if let (Some(changed), Some((stamp, key))) = (&self.vouched, self.known.get(path.as_os_str())) {
            if !changed.iter().any(|c| path.starts_with(c)) {
                return Ok((*stamp, key.clone()));
            }
        }
        let stamp = Stamp::of(&std::fs::metadata(path)?);
        let cached = self
            .known
            .get(path.as_os_str())
            .filter(|(known, _)| *known == stamp && stamp.mtime_ns < self.trusted_before_ns)
            .map(|(_, key)| key.clone());
        let key = match cached {
            Some(key) => key,
            None => hash_file(path)?,
        };
        Ok((stamp, key))
    }

    /// After a build in a long-lived process (`course serve`): what it hashed becomes what
    /// the next build trusts (only the files of a `complete` build: the others are added),
    /// racy from `started_ns` (when it began) on.
    fn advance(&mut self, complete: bool, started_ns: i128) {
        self.vouched = None;
        let seen = std::mem::take(self.seen.get_mut().expect("file hashes lock"));
        if complete {
            self.known.clear();
        }
        self.known.extend(seen.into_iter().map(|(path, stamp, key)| (path.into_os_string(), (stamp, key))));
        self.trusted_before_ns = started_ns;
    }

    /// Whether the watcher vouches that, under `root`, only lesson files
    /// (`courses/<course>/<lesson>.md`) changed since the last build: no media, animation,
    /// lab or theme file, so the last build's assets are still the content's.
    pub(crate) fn only_lessons_changed(&self, root: &Path) -> bool {
        let Some(changed) = &self.vouched else { return false };
        changed.iter().all(|path| {
            let Ok(rel) = path.strip_prefix(root) else { return false };
            let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
            matches!(parts.as_slice(), ["courses", course, lesson]
                if !course.starts_with('.') && !lesson.starts_with('.') && lesson.ends_with(".md"))
        })
    }

    /// The last build's files count as seen by this one (its assets were reused whole).
    pub(crate) fn carry_over(&self) {
        let mut seen = self.seen.lock().expect("file hashes lock");
        seen.extend(self.known.iter().map(|(path, (stamp, key))| (PathBuf::from(path), *stamp, key.clone())));
    }

    /// For the next build only: the files not under `changed` are as the last build saw
    /// them (the watcher says so), unless that build met a symbolic link.
    pub(crate) fn vouch(&mut self, changed: Vec<PathBuf>) {
        if !self.links_seen.load(std::sync::atomic::Ordering::Relaxed) {
            self.vouched = Some(changed);
        }
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        let seen = self.seen.lock().expect("file hashes lock");
        let line = |(path, stamp, key): &(PathBuf, Stamp, ObjectKey)| {
            // Paths that are not UTF-8 (or hold a newline) are simply hashed every time.
            let p = path.to_str().filter(|p| !p.contains('\n'))?;
            Some(format!("{key} {} {} {} {p}\n", stamp.len, stamp.mtime_ns, stamp.ino))
        };
        let changed = seen.iter().filter(|(path, stamp, key)| {
            self.known.get(path.as_os_str()).is_none_or(|(s, k)| s != stamp || k != key)
        });
        self.journal.save(path, seen.len(), changed.filter_map(line).collect(), || {
            let mut all: Vec<String> = seen.iter().filter_map(line).collect();
            all.sort_unstable();
            all
        })
    }
}

/// The line count of a journal file, to know when to rewrite it whole.
#[derive(Default)]
struct Journal {
    lines_on_disk: AtomicUsize,
}

impl Journal {
    fn of(lines: usize) -> Journal {
        Journal { lines_on_disk: AtomicUsize::new(lines) }
    }

    /// The complete lines of `text`: a last line without its newline was cut short by a
    /// crash while it was appended, and is ignored.
    fn lines(text: &str) -> Vec<&str> {
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete.lines().collect()
    }

    /// Appends `changed` lines, or writes `all` (what a build uses now, `in_use` lines)
    /// in their place once the file would hold more than twice that.
    fn save(
        &self,
        path: &Path,
        in_use: usize,
        changed: Vec<String>,
        all: impl FnOnce() -> Vec<String>,
    ) -> io::Result<()> {
        let on_disk = self.lines_on_disk.load(Ordering::Relaxed);
        if changed.is_empty() && on_disk > 0 {
            return Ok(());
        }
        if on_disk == 0 || on_disk + changed.len() > 2 * in_use + 64 {
            let all = all();
            crate::build::local_store::write_atomic(path, all.concat().as_bytes())?;
            self.lines_on_disk.store(all.len(), Ordering::Relaxed);
            return Ok(());
        }
        // One write: appended lines land whole after each other, also from two builds.
        let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
        file.write_all(changed.concat().as_bytes())?;
        self.lines_on_disk.fetch_add(changed.len(), Ordering::Relaxed);
        Ok(())
    }
}

fn parse_file_line(line: &str) -> Option<(OsString, (Stamp, ObjectKey))> {
    let mut fields = line.splitn(5, ' ');
    let key: ObjectKey = fields.next()?.parse().ok()?;
    let len = fields.next()?.parse().ok()?;
    let mtime_ns = fields.next()?.parse().ok()?;
    let ino = fields.next()?.parse().ok()?;
    let path = OsString::from(fields.next()?);
    Some((path, (Stamp { len, mtime_ns, ino }, key)))
}

/// Hashes a file in chunks, so a large video is never held in memory just to be hashed.
fn hash_file(path: &Path) -> io::Result<ObjectKey> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()).parse().expect("a SHA-256 hex digest is an object key"))
}

/// A rendered page in the store: its object and size, what it uses (so a reused page
/// still gets its media published) and its links (so links into and out of a reused page
/// are still checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedPage {
    pub object: ObjectKey,
    pub size: u64,
    pub uses: Vec<AssetId>,
    /// Shared with the build's list of every page's links (2,000 copies made a rebuild
    /// allocate and free 100,000 strings).
    pub(crate) links: Arc<PageLinks>,
}

/// Rendered pages by the hash of their inputs (see `build::PageInputs`).
#[derive(Default)]
pub struct PageCache {
    /// The store the pages are objects of.
    store: PathBuf,
    known: HashMap<String, Arc<CachedPage>>,
    /// Pages looked up or rendered in this build: what the next build may reuse.
    current: Mutex<HashMap<String, Arc<CachedPage>>>,
    journal: Journal,
}

impl PageCache {
    fn load(store: &Path, path: &Path) -> PageCache {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines = Journal::lines(&text);
        let journal = Journal::of(lines.len());
        let known = lines
            .into_iter()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let inputs = fields.next()?.to_owned();
                let object = fields.next()?.parse().ok()?;
                let size = fields.next()?.parse().ok()?;
                let mut uses = Vec::new();
                let mut links = PageLinks { ids_complete: true, ..PageLinks::default() };
                for token in fields {
                    if PageLinks::is_token(token) {
                        links.read_token(token)?;
                    } else {
                        uses.push(AssetId::from_token(token)?);
                    }
                }
                Some((inputs, Arc::new(CachedPage { object, size, uses, links: Arc::new(links) })))
            })
            .collect();
        PageCache { store: store.to_owned(), known, current: Mutex::default(), journal }
    }

    /// The page rendered from `inputs` by an earlier build, and its file in the store,
    /// if it is still there (`gc` may have removed it).
    pub fn get(&self, inputs: &str) -> Option<(Arc<CachedPage>, PathBuf)> {
        let page = Arc::clone(self.known.get(inputs)?);
        let path = self.store.join(bundle::paths::object_path(&page.object));
        if !std::fs::metadata(&path).is_ok_and(|m| m.len() == page.size) {
            return None;
        }
        self.current.lock().expect("page cache lock").insert(inputs.to_owned(), Arc::clone(&page));
        Some((page, path))
    }

    pub fn insert(&self, inputs: String, page: CachedPage) {
        self.current.lock().expect("page cache lock").insert(inputs, Arc::new(page));
    }

    /// After a build in a long-lived process: the pages it used are what the next build may
    /// reuse (those of an incomplete build are added: it rendered none of its own).
    fn advance(&mut self, complete: bool) {
        advance_entries(&mut self.known, self.current.get_mut().expect("page cache lock"), complete);
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        let current = self.current.lock().expect("page cache lock");
        let line = |(inputs, p): (&String, &Arc<CachedPage>)| {
            let mut line = format!("{inputs} {} {}", p.object, p.size);
            for token in p.uses.iter().map(AssetId::token).chain(p.links.tokens()) {
                line.push(' ');
                line.push_str(&token);
            }
            line.push('\n');
            line
        };
        let changed = current.iter().filter(|(inputs, page)| self.known.get(*inputs) != Some(page));
        self.journal.save(path, current.len(), changed.map(line).collect(), || {
            let mut all: Vec<String> = current.iter().map(line).collect();
            all.sort_unstable();
            all
        })
    }
}

/// What a lesson's file gave the catalogue when it last loaded without an error: all of
/// its front matter, where its body starts, and the SHA-256 of its text (the page cache's
/// key for it, and the check that the text read later is the text this describes).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LessonMeta {
    pub rel: String,
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub duration: Option<u32>,
    pub preview: bool,
    pub body_offset: usize,
    pub slug_offset: usize,
    pub digest: String,
}

/// Lessons' front matter by file, trusted while the file's stamp is unchanged (as
/// [`FileHashes`]; racy entries are read again). Only lessons that are not drafts and
/// loaded without an error are kept: those are the ones a rebuild need not read.
#[derive(Default)]
pub struct LessonCache {
    known: HashMap<String, (Stamp, LessonMeta)>,
    trusted_before_ns: i128,
    /// Lessons loaded in this build: what the next build may trust.
    seen: Mutex<Vec<(Stamp, LessonMeta)>>,
    /// Lessons whose text did not match the cache: never trusted again (see `distrust`).
    distrusted: Mutex<rustc_hash::FxHashSet<String>>,
    /// The journal file, for `distrust` (none in a cache that is not saved).
    path: Option<PathBuf>,
    journal: Journal,
}

impl LessonCache {
    fn load(path: &Path) -> LessonCache {
        let empty = LessonCache { path: Some(path.to_owned()), ..LessonCache::default() };
        let Ok(meta) = std::fs::metadata(path) else { return empty };
        let Ok(text) = std::fs::read_to_string(path) else { return empty };
        let lines = Journal::lines(&text);
        let known: HashMap<_, _> = lines.iter().filter_map(|line| parse_lesson_line(line)).collect();
        LessonCache {
            seen: Mutex::new(Vec::with_capacity(known.len())),
            known,
            trusted_before_ns: Stamp::of(&meta).mtime_ns,
            journal: Journal::of(lines.len()),
            ..empty
        }
    }

    /// The lesson at `rel` as last loaded, if its file still has `stamp`.
    pub(crate) fn get(&self, rel: &str, stamp: Stamp) -> Option<LessonMeta> {
        let (known, meta) = self.known.get(rel)?;
        if *known != stamp || stamp.mtime_ns >= self.trusted_before_ns {
            return None;
        }
        if self.distrusted.lock().expect("lesson cache lock").contains(rel) {
            return None;
        }
        self.seen.lock().expect("lesson cache lock").push((stamp, meta.clone()));
        Some(meta.clone())
    }

    /// Remembers a lesson loaded now from a file that had `stamp` before it was read.
    pub(crate) fn insert(&self, stamp: Stamp, meta: LessonMeta) {
        self.seen.lock().expect("lesson cache lock").push((stamp, meta));
    }

    /// Forgets the lesson at `rel`: its text did not match what the cache said of it (it
    /// changed while a build read it, or kept its stamp through a change). This build
    /// fails and says so; the next reads the file. Noted in the journal at once, as the
    /// failed build saves nothing else (a stamp of zeros matches no file).
    pub(crate) fn distrust(&self, rel: &str) {
        self.distrusted.lock().expect("lesson cache lock").insert(rel.to_owned());
        let tombstone = LessonMeta {
            rel: rel.to_owned(),
            slug: String::new(),
            title: String::new(),
            summary: None,
            duration: None,
            preview: false,
            body_offset: 0,
            slug_offset: 0,
            digest: String::new(),
        };
        let (Some(path), Ok(json)) = (&self.path, serde_json::to_string(&tombstone)) else { return };
        let line = format!("0 0 0 {json}\n");
        // At worst the file is trusted once more and this build's error repeats.
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }

    fn advance(&mut self, complete: bool, started_ns: i128) {
        let distrusted = std::mem::take(self.distrusted.get_mut().expect("lesson cache lock"));
        self.known.retain(|rel, _| !distrusted.contains(rel));
        let seen = std::mem::take(self.seen.get_mut().expect("lesson cache lock"));
        if complete {
            self.known.clear();
        }
        self.known.extend(seen.into_iter().map(|(stamp, meta)| (meta.rel.clone(), (stamp, meta))));
        self.trusted_before_ns = started_ns;
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        let seen = self.seen.lock().expect("lesson cache lock");
        let line = |(stamp, meta): &(Stamp, LessonMeta)| {
            let json = serde_json::to_string(meta).ok()?;
            Some(format!("{} {} {} {json}\n", stamp.len, stamp.mtime_ns, stamp.ino))
        };
        let changed = seen
            .iter()
            .filter(|(stamp, meta)| self.known.get(&meta.rel).is_none_or(|(s, m)| s != stamp || m != meta));
        self.journal.save(path, seen.len(), changed.filter_map(line).collect(), || {
            let mut all: Vec<String> = seen.iter().filter_map(line).collect();
            all.sort_unstable();
            all
        })
    }
}

fn parse_lesson_line(line: &str) -> Option<(String, (Stamp, LessonMeta))> {
    let mut fields = line.splitn(4, ' ');
    let len = fields.next()?.parse().ok()?;
    let mtime_ns = fields.next()?.parse().ok()?;
    let ino = fields.next()?.parse().ok()?;
    let meta: LessonMeta = serde_json::from_str(fields.next()?).ok()?;
    Some((meta.rel.clone(), (Stamp { len, mtime_ns, ino }, meta)))
}

/// Starter zips by the tree hash (names and content keys) of the files they hold: a zip's
/// bytes depend only on those, so a zip already in the store is not made again. Small (one
/// line per lab), so it is rewritten whole when it changes.
#[derive(Default)]
pub struct ZipCache {
    /// The store the zips are objects of.
    store: PathBuf,
    known: HashMap<String, (ObjectKey, u64)>,
    /// Zips looked up or made in this build: what the next build may reuse.
    current: Mutex<HashMap<String, (ObjectKey, u64)>>,
}

impl ZipCache {
    fn load(store: &Path, path: &Path) -> ZipCache {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let known = Journal::lines(&text)
            .into_iter()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let tree = fields.next()?.to_owned();
                let key = fields.next()?.parse().ok()?;
                let size = fields.next()?.parse().ok()?;
                fields.next().is_none().then_some((tree, (key, size)))
            })
            .collect();
        ZipCache { store: store.to_owned(), known, current: Mutex::default() }
    }

    /// The zip of the files `tree` names, and its file in the store, if it is still there.
    pub(crate) fn get(&self, tree: &str) -> Option<(ObjectKey, u64, PathBuf)> {
        let (key, size) = self.known.get(tree)?.clone();
        let path = self.store.join(bundle::paths::object_path(&key));
        if !std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
            return None;
        }
        self.current.lock().expect("zip cache lock").insert(tree.to_owned(), (key.clone(), size));
        Some((key, size, path))
    }

    pub(crate) fn insert(&self, tree: String, key: ObjectKey, size: u64) {
        self.current.lock().expect("zip cache lock").insert(tree, (key, size));
    }

    /// The last build's zips count as used by this one (its assets were reused whole).
    pub(crate) fn carry_over(&self) {
        let mut current = self.current.lock().expect("zip cache lock");
        current.extend(self.known.iter().map(|(tree, entry)| (tree.clone(), entry.clone())));
    }

    fn advance(&mut self, complete: bool) {
        advance_entries(&mut self.known, self.current.get_mut().expect("zip cache lock"), complete);
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        let current = self.current.lock().expect("zip cache lock");
        if *current == self.known {
            return Ok(());
        }
        let mut lines: Vec<String> =
            current.iter().map(|(tree, (key, size))| format!("{tree} {key} {size}\n")).collect();
        lines.sort_unstable();
        crate::build::local_store::write_atomic(path, lines.concat().as_bytes())
    }
}

/// What a build looked up or made (`current`, emptied) becomes what the next build in
/// this process may reuse: all of it after a `complete` build, else added to the rest.
fn advance_entries<V>(known: &mut HashMap<String, V>, current: &mut HashMap<String, V>, complete: bool) {
    let current = std::mem::take(current);
    if complete {
        *known = current;
    } else {
        known.extend(current);
    }
}

/// The build cache of one output store.
pub struct BuildCache {
    dir: Option<PathBuf>,
    pub files: FileHashes,
    pub lessons: LessonCache,
    pub pages: PageCache,
    pub zips: ZipCache,
    pub search: crate::build::search::IndexCache,
    pub refs: crate::build::course_files::ReferenceCache,
    /// The last build's assets and what collecting them reported (`course serve` reuses
    /// them while the watcher says only lessons changed): an `assets::Collected`, held as
    /// `Any` so that this module, which the asset collector uses, does not use it back.
    pub(crate) assets: Mutex<Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>>,
}

impl BuildCache {
    /// The cache of the store at `out`.
    pub fn open(out: &Path) -> BuildCache {
        let dir = out.join(".build-cache");
        // Read side by side: parsing the journals (8 MB for the generated catalogue) was a
        // fifth of a one-lesson rebuild.
        let (((files, lessons), pages), ((zips, search), refs)) = rayon::join(
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || FileHashes::load(&dir.join(FILES)),
                            || LessonCache::load(&dir.join(LESSONS)),
                        )
                    },
                    || PageCache::load(out, &dir.join(PAGES)),
                )
            },
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || ZipCache::load(out, &dir.join(ZIPS)),
                            || crate::build::search::IndexCache::load(out, &dir.join(SEARCH)),
                        )
                    },
                    || crate::build::course_files::ReferenceCache::load(out, &dir.join(REFS)),
                )
            },
        );
        BuildCache { files, lessons, pages, zips, search, refs, assets: Mutex::default(), dir: Some(dir) }
    }

    /// No cache: everything is hashed and rendered.
    pub fn none() -> BuildCache {
        BuildCache {
            dir: None,
            files: FileHashes::default(),
            lessons: LessonCache::default(),
            pages: PageCache::default(),
            zips: ZipCache::default(),
            search: Default::default(),
            refs: Default::default(),
            assets: Mutex::default(),
        }
    }

    /// Makes what a build saw the cache of the next build in this process (`course serve`):
    /// `complete` after a build that wrote its release, `started` when it began.
    pub fn advance(&mut self, complete: bool, started: std::time::SystemTime) {
        let started_ns = started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
        self.files.advance(complete, started_ns);
        self.lessons.advance(complete, started_ns);
        self.pages.advance(complete);
        self.zips.advance(complete);
        self.search.advance();
        self.refs.advance();
    }

    /// Keeps what this build saw, for the next one. Call only after a successful build:
    /// a page that failed to render must not be remembered.
    pub fn save(&self) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        self.pages.save(&dir.join(PAGES))?;
        self.zips.save(&dir.join(ZIPS))?;
        self.search.save(&dir.join(SEARCH))?;
        self.refs.save(&dir.join(REFS))?;
        self.lessons.save(&dir.join(LESSONS))?;
        self.files.save(&dir.join(FILES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_reused_only_when_the_watcher_saw_nothing_but_lessons_change() {
        let root = Path::new("/site");
        let mut hashes = FileHashes::default();
        assert!(!hashes.only_lessons_changed(root), "without the watcher's word, never");
        let vouched = |hashes: &mut FileHashes, paths: &[&str]| {
            hashes.vouch(paths.iter().map(|p| root.join(p)).collect());
            hashes.only_lessons_changed(root)
        };
        assert!(vouched(&mut hashes, &["courses/py/loops.md", "courses/ds/intro.md"]));
        for other in [
            "courses/py/media/a.svg",
            "courses/py/course.toml",
            "courses/py/.loops.md.swp",
            "courses/py",
            "animations/spin.svg",
            "theme/static/site.css",
            "labs/l/app/index.html",
            "site.toml",
        ] {
            assert!(!vouched(&mut hashes, &["courses/py/loops.md", other]), "{other} may change assets");
        }
        hashes.links_seen.store(true, std::sync::atomic::Ordering::Relaxed);
        hashes.vouched = None;
        assert!(!vouched(&mut hashes, &["courses/py/loops.md"]), "not after a walk that met a link");
    }

    #[test]
    fn a_changed_file_is_hashed_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.svg");
        std::fs::write(&file, "one").expect("write");
        let cache_file = dir.path().join("files");
        let first = FileHashes::load(&cache_file);
        assert_eq!(first.key_of(&file).expect("hash").0, ObjectKey::of(b"one"));
        first.save(&cache_file).expect("save");

        // Same size, new content and mtime: the stamp differs, so the new bytes are hashed.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "two").expect("rewrite");
        let second = FileHashes::load(&cache_file);
        assert_eq!(second.key_of(&file).expect("hash").0, ObjectKey::of(b"two"));
    }

    #[test]
    fn in_serve_the_watcher_vouches_for_the_files_it_did_not_report_unless_links_were_met() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.svg"), dir.path().join("b.svg"));
        std::fs::write(&a, "one").expect("write");
        std::fs::write(&b, "bee").expect("write");
        let mut hashes = FileHashes::default();
        hashes.key_of(&a).expect("hash");
        hashes.key_of(&b).expect("hash");
        hashes.advance(true, i128::MAX);
        // Both change; the watcher reports only b (a's change it would have reported too:
        // taking its word is the point, so a's old key shows it was not looked at).
        std::fs::write(&a, "two").expect("write");
        std::fs::write(&b, "BEE").expect("write");
        hashes.vouch(vec![b.clone()]);
        assert_eq!(hashes.key_of(&a).expect("hash").0, ObjectKey::of(b"one"), "vouched for: not read");
        assert_eq!(hashes.key_of(&b).expect("hash").0, ObjectKey::of(b"BEE"), "reported: read again");
        hashes.advance(true, i128::MAX);
        // A vouch lasts one build; after a build that met a link, none is taken.
        assert_eq!(hashes.key_of(&a).expect("hash").0, ObjectKey::of(b"two"));
        hashes.advance(true, i128::MAX);
        std::fs::write(&a, "three").expect("write");
        hashes.links_seen.store(true, std::sync::atomic::Ordering::Relaxed);
        hashes.vouch(Vec::new());
        assert_eq!(hashes.key_of(&a).expect("hash").0, ObjectKey::of(b"three"), "links met: stat as ever");
        // A reported folder covers the files in it.
        hashes.advance(true, i128::MAX);
        hashes.links_seen.store(false, std::sync::atomic::Ordering::Relaxed);
        std::fs::write(&a, "four").expect("write");
        hashes.vouch(vec![dir.path().to_owned()]);
        assert_eq!(hashes.key_of(&a).expect("hash").0, ObjectKey::of(b"four"));
    }

    #[test]
    fn an_unchanged_file_is_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.svg");
        std::fs::write(&file, "one").expect("write");
        let cache_file = dir.path().join("files");
        let first = FileHashes::load(&cache_file);
        first.key_of(&file).expect("hash");
        std::thread::sleep(std::time::Duration::from_millis(20));
        first.save(&cache_file).expect("save");
        // Plant a wrong key for the unchanged file: a trusted entry is used without reading.
        let text = std::fs::read_to_string(&cache_file).expect("read");
        let planted = text.replacen(ObjectKey::of(b"one").as_str(), ObjectKey::of(b"zzz").as_str(), 1);
        std::fs::write(&cache_file, planted).expect("plant");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = FileHashes::load(&cache_file);
        assert_eq!(again.key_of(&file).expect("hash").0, ObjectKey::of(b"zzz"));
    }

    #[test]
    fn a_rebuild_appends_what_changed_and_later_lines_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.svg"), dir.path().join("b.svg"));
        std::fs::write(&a, "one").expect("write");
        std::fs::write(&b, "bee").expect("write");
        let cache_file = dir.path().join("files");
        let first = FileHashes::load(&cache_file);
        first.key_of(&a).expect("hash");
        first.key_of(&b).expect("hash");
        first.save(&cache_file).expect("save");
        let whole = std::fs::read_to_string(&cache_file).expect("read");
        assert_eq!(whole.lines().count(), 2);

        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&a, "two!").expect("rewrite");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = FileHashes::load(&cache_file);
        second.key_of(&a).expect("hash");
        second.key_of(&b).expect("hash");
        second.save(&cache_file).expect("save");
        let appended = std::fs::read_to_string(&cache_file).expect("read");
        assert!(appended.starts_with(&whole), "the file was appended to, not rewritten");
        assert_eq!(appended.lines().count(), 3, "only the changed file's line: {appended}");

        // A line cut short by a crash is ignored; the later, whole line for a.svg wins.
        let mut torn = appended.clone();
        torn.push_str(&format!("{} 4 1 1 {}", ObjectKey::of(b"zzz"), a.display()));
        std::fs::write(&cache_file, &torn).expect("tear");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let third = FileHashes::load(&cache_file);
        assert_eq!(third.key_of(&a).expect("hash").0, ObjectKey::of(b"two!"));
        assert_eq!(third.known.len(), 2);
    }

    #[test]
    fn a_journal_grown_past_twice_its_use_is_rewritten_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal");
        let journal = Journal::default();
        let all = || vec!["a\n".to_owned()];
        journal.save(&path, 1, vec!["a\n".into()], all).expect("first");
        for i in 0..70 {
            journal.save(&path, 1, vec![format!("a{i}\n")], all).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.lines().count() <= 2 + 64 + 1, "{} lines", text.lines().count());
        journal.save(&path, 1, Vec::new(), all).expect("nothing changed");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text, "nothing changed: not written");
    }

    #[test]
    fn a_racy_entry_is_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.svg");
        let cache_file = dir.path().join("files");
        std::fs::write(&file, "one").expect("write");
        let first = FileHashes::load(&cache_file);
        first.key_of(&file).expect("hash");
        first.save(&cache_file).expect("save");
        // The file is touched to the cache's own mtime: it may have changed after hashing.
        let cache_mtime = std::fs::metadata(&cache_file).expect("meta").modified().expect("mtime");
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(cache_mtime))
            .expect("touch");
        let text = std::fs::read_to_string(&cache_file).expect("read");
        let stamp = Stamp::of(&std::fs::metadata(&file).expect("meta"));
        let planted = format!(
            "{} {} {} {} {}\n",
            ObjectKey::of(b"zzz"),
            stamp.len,
            stamp.mtime_ns,
            stamp.ino,
            file.display()
        );
        assert!(!text.is_empty());
        std::fs::write(&cache_file, planted).expect("plant");
        std::fs::File::options()
            .write(true)
            .open(&cache_file)
            .and_then(|f| f.set_modified(cache_mtime))
            .expect("keep the cache's mtime");
        let again = FileHashes::load(&cache_file);
        assert_eq!(again.key_of(&file).expect("hash").0, ObjectKey::of(b"one"));
    }

    fn lesson(rel: &str, title: &str) -> LessonMeta {
        LessonMeta {
            rel: rel.to_owned(),
            slug: "a".into(),
            title: title.into(),
            summary: None,
            duration: Some(5),
            preview: false,
            body_offset: 20,
            slug_offset: 0,
            digest: ObjectKey::of(b"text").as_str().to_owned(),
        }
    }

    #[test]
    fn an_unchanged_lesson_is_trusted_and_a_distrusted_one_never_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.md");
        std::fs::write(&file, "text").expect("write");
        let stamp = Stamp::of(&std::fs::metadata(&file).expect("meta"));
        let cache_file = dir.path().join("lessons");
        let first = LessonCache::load(&cache_file);
        assert_eq!(first.get("courses/c/a.md", stamp), None, "nothing known yet");
        first.insert(stamp, lesson("courses/c/a.md", "A"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        first.save(&cache_file).expect("save");

        let second = LessonCache::load(&cache_file);
        assert_eq!(second.get("courses/c/a.md", stamp).map(|m| m.title), Some("A".into()));
        let other = Stamp { len: stamp.len + 1, ..stamp };
        assert_eq!(second.get("courses/c/a.md", other), None, "another stamp: read again");

        // Its text did not match: this process and the next build both read it again.
        second.distrust("courses/c/a.md");
        assert_eq!(second.get("courses/c/a.md", stamp), None);
        let third = LessonCache::load(&cache_file);
        assert_eq!(third.get("courses/c/a.md", stamp), None, "the journal's tombstone wins");
    }

    #[test]
    fn a_lesson_written_as_the_cache_was_saved_is_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache_file = dir.path().join("lessons");
        let cache = LessonCache::load(&cache_file);
        let file = dir.path().join("a.md");
        std::fs::write(&file, "text").expect("write");
        cache.insert(Stamp::of(&std::fs::metadata(&file).expect("meta")), lesson("a.md", "A"));
        cache.save(&cache_file).expect("save");
        // Same tick as the cache file (or later): it may have changed after it was read.
        let mtime = std::fs::metadata(&cache_file).expect("meta").modified().expect("mtime");
        std::fs::File::options().write(true).open(&file).and_then(|f| f.set_modified(mtime)).expect("touch");
        let stamp = Stamp::of(&std::fs::metadata(&file).expect("meta"));
        let text = std::fs::read_to_string(&cache_file).expect("read");
        let line = text.lines().next().expect("a line");
        let json = line.splitn(4, ' ').nth(3).expect("json");
        let planted = format!("{} {} {} {json}\n", stamp.len, stamp.mtime_ns, stamp.ino);
        std::fs::write(&cache_file, planted).expect("plant");
        std::fs::File::options()
            .write(true)
            .open(&cache_file)
            .and_then(|f| f.set_modified(mtime))
            .expect("keep");
        assert_eq!(LessonCache::load(&cache_file).get("a.md", stamp), None);
    }
}
