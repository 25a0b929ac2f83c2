//! Writes a release into a local directory store: objects, then the manifest, then the
//! channel pointer. The manifest and pointer are written atomically (temp file + rename)
//! and only after every object they name is complete, so a reader never sees a partial
//! release and a failed build leaves the channel as it was.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bundle::paths::{channel_path, object_path, release_path};
use bundle::{Channel, Encoding, Manifest, ObjectKey, ReleaseId, Route, Variant};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::build::compress::{compress, MIN_SIZE};
use crate::build::output::{is_text, Body, Output};

#[derive(Debug)]
pub(crate) struct Written {
    pub release: ReleaseId,
    pub manifest: Manifest,
    pub objects_total: usize,
    pub objects_written: usize,
    pub bytes_total: u64,
    pub bytes_written: u64,
    /// Whether the channel pointer moved (false when the release was already live).
    pub channel_moved: bool,
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    // Unique per write, not only per process and file: two routes with the same bytes
    // write the same variants file at once, and with one temp name the second rename
    // found it gone (ENOENT, a failed build; seen once in the test suite).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Whether the object `key` of `size` bytes is in the store.
fn has_object(out: &Path, key: &ObjectKey, size: u64) -> bool {
    std::fs::metadata(out.join(object_path(key))).is_ok_and(|m| m.len() == size)
}

/// Writes an object in place, without the temp file and rename of `write_atomic`: all
/// objects share one directory, whose lock those two extra entry operations per object
/// made the bottleneck of a cold build. It is safe because no manifest names an object
/// before it is complete (the manifest is written after every object), and a partial
/// object left by a crash has the wrong size, so `has_object` rejects it and it is
/// written again.
fn write_object(out: &Path, key: &ObjectKey, bytes: &[u8]) -> io::Result<()> {
    let path = out.join(object_path(key));
    match std::fs::write(&path, bytes) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path.parent().expect("objects/ has a parent"))?;
            std::fs::write(&path, bytes)
        }
        result => result,
    }
}

/// Stores `bytes` as an object unless it is already there; returns (key, newly written).
fn put_object(out: &Path, bytes: &[u8]) -> io::Result<(ObjectKey, bool)> {
    let key = ObjectKey::of(bytes);
    if has_object(out, &key, bytes.len() as u64) {
        return Ok((key, false));
    }
    write_object(out, &key, bytes)?;
    Ok((key, true))
}

/// Remembers the compressed variants of each object, so a rebuild does not compress again.
fn variants_cache_path(out: &Path, key: &ObjectKey) -> PathBuf {
    out.join(".build-cache/variants").join(key.as_str())
}

/// What the live release holds: its objects, which exist (gc never removes a live
/// release's objects), and their compressed variants, which a rebuild reuses. Spares a
/// rebuild a file system check per object. It is read from a compact index the last
/// build wrote, or from the manifest when the channel has moved since (rollback, another
/// build). An object deleted from the store by hand is not noticed for files; pages and
/// other generated outputs are always checked.
#[derive(Default)]
pub(crate) struct Live {
    /// Objects by the first 128 bits of their SHA-256 (as unlikely to collide as the keys
    /// themselves): a set of 58,000 numbers instead of 58,000 allocated strings.
    objects: HashSet<u128>,
    /// The index text; `variants` points into it.
    text: String,
    /// Where each object's ` encoding key size ...` list is in `text` (parsed when asked).
    variants: HashMap<u128, std::ops::Range<usize>>,
}

/// The first 128 bits of an object's key.
fn short_key(key: &str) -> Option<u128> {
    u128::from_str_radix(key.get(..32)?, 16).ok()
}

fn live_index_path(out: &Path) -> PathBuf {
    out.join(".build-cache/live-index")
}

/// What the store's `channel` serves now (empty for a bad channel name, which
/// [`write_release`] reports).
pub(crate) fn live_release(out: &Path, channel: &str) -> Live {
    channel_path(channel).map(|file| Live::read(out, Path::new(&file))).unwrap_or_default()
}

impl Live {
    fn read(out: &Path, channel_file: &Path) -> Live {
        let Some(release) = std::fs::read(out.join(channel_file))
            .ok()
            .and_then(|bytes| Channel::from_bytes(&bytes).ok())
            .map(|channel| channel.release)
        else {
            return Live::default();
        };
        let text = std::fs::read_to_string(live_index_path(out)).ok();
        if let Some(live) = text.and_then(|text| Live::parse(text, &release)) {
            return live;
        }
        let manifest = std::fs::read(out.join(release_path(&release)))
            .ok()
            .and_then(|bytes| Manifest::from_bytes(&bytes).ok());
        manifest.and_then(|m| Live::parse(Live::index_text(&release, &m), &release)).unwrap_or_default()
    }

    fn contains(&self, key: &ObjectKey) -> bool {
        short_key(key.as_str()).is_some_and(|k| self.objects.contains(&k))
    }

    /// The compressed variants of `key`, if the live release has it.
    fn variants_of(&self, key: &ObjectKey) -> Option<BTreeMap<Encoding, Variant>> {
        let range = self.variants.get(&short_key(key.as_str())?)?;
        let mut fields = self.text[range.clone()].split(' ').filter(|f| !f.is_empty());
        let mut encodings = BTreeMap::new();
        while let Some(encoding) = fields.next() {
            let encoding = [Encoding::Br, Encoding::Gzip].into_iter().find(|e| e.token() == encoding)?;
            let object: ObjectKey = fields.next()?.parse().ok()?;
            let size = fields.next()?.parse().ok()?;
            encodings.insert(encoding, Variant { object, size });
        }
        Some(encodings)
    }

    /// Index lines: the release id, then `object` or `object encoding key size ...`.
    /// `None` when the index is of another release or is damaged.
    fn parse(text: String, release: &ReleaseId) -> Option<Live> {
        // Sized up front (up to three objects a line): growing by rehashing showed in profiles.
        let routes = text.bytes().filter(|&b| b == b'\n').count();
        let mut live = Live {
            objects: HashSet::with_capacity_and_hasher(routes * 3, Default::default()),
            variants: HashMap::with_capacity_and_hasher(routes, Default::default()),
            text: String::new(),
        };
        let mut lines = text.split_inclusive('\n');
        let first = lines.next()?;
        if first.trim_end() != release.as_str() {
            return None;
        }
        let mut at = first.len();
        for line in lines {
            let start = at;
            at += line.len();
            let line = line.strip_suffix('\n')?;
            let mut fields = line.split(' ');
            let first_field = fields.next()?;
            let object = short_key(first_field)?;
            live.objects.insert(object);
            let mut any = false;
            while let Some(_encoding) = fields.next() {
                live.objects.insert(short_key(fields.next()?)?);
                fields.next()?.parse::<u64>().ok()?;
                any = true;
            }
            if any {
                live.variants.insert(object, start + first_field.len()..start + line.len());
            }
        }
        live.text = text;
        Some(live)
    }

    fn index_text(release: &ReleaseId, manifest: &Manifest) -> String {
        format!("{release}\n{}", Live::index_body(manifest))
    }

    /// The index's lines after the release id.
    fn index_body(manifest: &Manifest) -> String {
        use std::fmt::Write as _;
        let mut text = String::with_capacity(manifest.routes.len() * 230);
        for route in manifest.routes.values() {
            text.push_str(route.object.as_str());
            for (encoding, variant) in &route.encodings {
                let _ = write!(text, " {} {} {}", encoding.token(), variant.object, variant.size);
            }
            text.push('\n');
        }
        text
    }
}

struct Stored {
    route: Route,
    written: usize,
    bytes_written: u64,
    bytes_total: u64,
}

fn store_output(out: &Path, live: &Live, precompress: bool, output: Output) -> io::Result<(String, Stored)> {
    let size = output.size;
    // Outputs made in memory (pages rendered now) are always checked; see `Live`.
    let trusted = matches!(output.body, Body::File(_)) && live.contains(&output.key);
    let present = trusted || has_object(out, &output.key, size);
    // Read (and for a file, check) the bytes only when the object must be written or compressed.
    let mut bytes: Option<Cow<'_, [u8]>> = None;
    if !present {
        let read = output.bytes()?;
        write_object(out, &output.key, &read)?;
        bytes = Some(read);
    }
    let mut stored = Stored {
        route: Route {
            object: output.key.clone(),
            size,
            content_type: output.content_type.clone(),
            cache: output.cache,
            access: output.access.clone(),
            encodings: BTreeMap::new(),
        },
        written: usize::from(!present),
        bytes_written: if present { 0 } else { size },
        bytes_total: size,
    };
    let essence = stored.route.content_type.split(';').next().unwrap_or_default();
    if !precompress || size < MIN_SIZE as u64 || !is_text(essence) {
        return Ok((output.route, stored));
    }
    let cache_path = variants_cache_path(out, &output.key);
    let cached = live.variants_of(&output.key).or_else(|| {
        std::fs::read(&cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|v: &BTreeMap<Encoding, Variant>| v.values().all(|v| has_object(out, &v.object, v.size)))
    });
    let encodings = match cached {
        Some(encodings) => encodings,
        None => {
            let bytes = match bytes {
                Some(bytes) => bytes,
                None => output.bytes()?,
            };
            let mut encodings = BTreeMap::new();
            for encoding in [Encoding::Br, Encoding::Gzip] {
                let packed = compress(encoding, &bytes);
                // Keep a variant only where it saves at least a tenth.
                if packed.len() * 10 <= bytes.len() * 9 {
                    let (key, new) = put_object(out, &packed)?;
                    stored.written += usize::from(new);
                    if new {
                        stored.bytes_written += packed.len() as u64;
                    }
                    encodings.insert(encoding, Variant { object: key, size: packed.len() as u64 });
                }
            }
            write_atomic(&cache_path, &serde_json::to_vec(&encodings).map_err(io::Error::other)?)?;
            encodings
        }
    };
    stored.bytes_total += encodings.values().map(|v| v.size).sum::<u64>();
    stored.route.encodings = encodings;
    Ok((output.route, stored))
}

/// How many distinct objects `manifest` names (a hash set: the ordered set of
/// `Manifest::objects` compared 64-character keys 500,000 times for a rebuild).
fn object_count(manifest: &Manifest) -> usize {
    let objects = manifest
        .routes
        .values()
        .flat_map(|r| std::iter::once(&r.object).chain(r.encodings.values().map(|v| &v.object)));
    objects.collect::<HashSet<&ObjectKey>>().len()
}

/// Writes all outputs as objects (with their compressed variants if `precompress`), the
/// manifest (naming the routes of `drafts`, the draft pages among them) as a release, and
/// points `channel` at it; `live` is [`live_release`] of `channel`, read as the pages
/// rendered.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_release(
    out: &Path,
    live: Live,
    outputs: Vec<Output>,
    drafts: Vec<String>,
    channel: &str,
    now: std::time::SystemTime,
    precompress: bool,
) -> io::Result<Written> {
    let channel_file = channel_path(channel).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("bad channel name {channel:?}"))
    })?;
    let stored: Vec<(String, Stored)> = outputs
        .into_par_iter()
        .map(|o| store_output(out, &live, precompress, o))
        .collect::<io::Result<_>>()?;

    let mut manifest = Manifest::new(bundle::paths::NOT_FOUND_ROUTE.to_owned());
    manifest.forbidden = Some(bundle::paths::FORBIDDEN_ROUTE.to_owned());
    manifest.drafts = drafts;
    manifest.preview = !precompress;
    let (mut objects_written, mut bytes_written, mut bytes_total) = (0, 0, 0);
    for (route, s) in stored {
        objects_written += s.written;
        bytes_written += s.bytes_written;
        bytes_total += s.bytes_total;
        if let Some(existing) = manifest.routes.get(&route) {
            if existing.object != s.route.object {
                return Err(io::Error::other(format!("two different files claim the route {route}")));
            }
        }
        manifest.routes.insert(route, s.route);
    }
    // The manifest (5 MB for the generated catalogue) and the next build's index of it are
    // made side by side, then written side by side: each was a tenth of a rebuild.
    let (manifest_bytes, (index_body, objects_total)) = rayon::join(
        || manifest.to_bytes(),
        || rayon::join(|| Live::index_body(&manifest), || object_count(&manifest)),
    );
    let release = bundle::manifest::release_id_of(&manifest_bytes);
    let (flipped, indexed) = rayon::join(
        || flip_channel(out, &channel_file, &release, &manifest_bytes, now),
        // Tagged with its release, the index is used only while the channel names that
        // release: written before the flip, a crash between them leaves it unused.
        || write_atomic(&live_index_path(out), format!("{release}\n{index_body}").as_bytes()),
    );
    let channel_moved = flipped?;
    indexed?;
    Ok(Written {
        release,
        objects_total,
        manifest,
        objects_written,
        bytes_total,
        bytes_written,
        channel_moved,
    })
}

/// Writes the manifest as release `release` and points `channel_file` at it; whether the
/// channel moved (it already named that release when not).
fn flip_channel(
    out: &Path,
    channel_file: &str,
    release: &ReleaseId,
    manifest_bytes: &[u8],
    now: std::time::SystemTime,
) -> io::Result<bool> {
    write_atomic(&out.join(release_path(release)), manifest_bytes)?;
    let channel_file = out.join(channel_file);
    let current = std::fs::read(&channel_file).ok().and_then(|b| Channel::from_bytes(&b).ok());
    let channel_moved = current.as_ref().is_none_or(|c| &c.release != release);
    if channel_moved {
        let pointer = Channel {
            release: release.clone(),
            previous: current.map(|c| c.release),
            published_at: humantime::format_rfc3339_seconds(now).to_string(),
            // A local store has one writer (this build): no flip protocol to sequence.
            sequence: 0,
        };
        write_atomic(&channel_file, &pointer.to_bytes())?;
    }
    Ok(channel_moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_of_one_file_at_once_all_succeed() {
        // Two routes with the same bytes write the same variants file side by side.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("variants/key");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        write_atomic(&path, b"{}").expect("every write succeeds");
                    }
                });
            }
        });
        assert_eq!(std::fs::read(&path).expect("read"), b"{}");
    }
}
