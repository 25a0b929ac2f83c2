//! Everything that is not a rendered page: theme files, course media, animations and
//! labs. Single files are fingerprinted (`/assets/name.<hash>.ext`); multi-file bundles
//! live under a tree-hash prefix (`/labs/<hash>/...`) so their relative links keep working.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use bundle::paths::{fingerprinted_name, FINGERPRINT_LEN};
use bundle::{sha256_hex, Access, CacheClass, ObjectKey};
use rayon::prelude::*;

use crate::cache::FileHashes;
use crate::diagnostics::Diagnostics;
use crate::relpath;

/// Where the bytes of an output are: in memory, or in a file read only if the store
/// lacks the object (source media, or a page rendered by an earlier build).
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One file of the release, before it is stored.
#[derive(Debug, Clone)]
pub struct Output {
    pub route: String,
    pub key: ObjectKey,
    pub size: u64,
    pub body: Body,
    pub content_type: String,
    pub cache: CacheClass,
    pub access: Access,
}

impl Output {
    pub fn new(
        route: String,
        bytes: Vec<u8>,
        content_type: String,
        cache: CacheClass,
        access: Access,
    ) -> Self {
        Output {
            route,
            key: ObjectKey::of(&bytes),
            size: bytes.len() as u64,
            body: Body::Bytes(bytes),
            content_type,
            cache,
            access,
        }
    }

    fn immutable(route: String, path: &str, bytes: Vec<u8>) -> Self {
        Output::new(route, bytes, content_type_for(path), CacheClass::Immutable, Access::Public)
    }

    /// A source file whose key is already known: its bytes stay on disk until needed.
    fn immutable_file(route: String, rel: &str, file: SourceKey) -> Self {
        Output {
            route,
            key: file.key,
            size: file.size,
            body: Body::File(file.path),
            content_type: content_type_for(rel),
            cache: CacheClass::Immutable,
            access: Access::Public,
        }
    }

    /// The bytes, read from disk if they are not in memory.
    pub fn bytes(&self) -> std::io::Result<Cow<'_, [u8]>> {
        match &self.body {
            Body::Bytes(bytes) => Ok(Cow::Borrowed(bytes)),
            Body::File(path) => {
                let bytes = std::fs::read(path)?;
                if !self.key.matches(&bytes) {
                    let msg = format!("{} changed while the build was running", path.display());
                    return Err(std::io::Error::other(msg));
                }
                Ok(Cow::Owned(bytes))
            }
        }
    }
}

/// A source file and its key.
struct SourceKey {
    path: PathBuf,
    key: ObjectKey,
    size: u64,
}

#[derive(Debug, Clone)]
pub struct AnimationRef {
    /// `svg`, `lottie` or `video`.
    pub kind: &'static str,
    pub url: String,
    pub mime: String,
}

#[derive(Debug, Clone)]
pub struct LabBundle {
    pub app_url: String,
    pub starter_url: Option<String>,
    pub starter_name: Option<String>,
    pub starter_files: Vec<String>,
}

/// URLs of everything collected, by where it came from, plus the outputs themselves.
#[derive(Default)]
pub struct Assets {
    /// `theme/static`-relative path -> URL (what the `asset()` template function answers).
    pub theme: BTreeMap<String, String>,
    /// Content-relative path of course/lab media -> URL.
    pub files: BTreeMap<String, String>,
    /// `animations`-relative `src` -> animation.
    pub animations: BTreeMap<String, AnimationRef>,
    /// Lab slug -> its app bundle and starter zip.
    pub labs: BTreeMap<String, LabBundle>,
    pub outputs: Vec<Output>,
}

/// The name of the generated highlighting stylesheet, as templates ask for it.
pub const SYNTAX_CSS: &str = "syntax.css";

pub fn content_type_for(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    if is_text(essence) {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    }
}

/// Types worth precompressing (and that carry a charset).
pub fn is_text(essence: &str) -> bool {
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript"
                | "application/json"
                | "image/svg+xml"
                | "application/xml"
                | "application/manifest+json"
        )
}

/// Files under `dir`, as (`/`-separated path relative to `dir`, full path), sorted; hidden files skipped.
pub fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e.path().strip_prefix(dir).ok()?;
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            Some((rel, e.into_path()))
        })
        .collect();
    // Sorted here, not by walkdir: its sort re-parses both paths on every comparison,
    // which showed in profiles of a catalogue with 9,500 animations.
    files.sort_unstable();
    files
}

fn read(diags: &Diagnostics, path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).map_err(|err| diags.at(path, 1, 1, format!("cannot read: {err}"))).ok()
}

/// Keys of many files, hashed in parallel (or taken from the cache); unreadable ones are
/// reported and left out.
fn keys_of(
    diags: &Diagnostics,
    hashes: &FileHashes,
    files: Vec<(String, PathBuf)>,
) -> Vec<(String, SourceKey)> {
    files
        .into_par_iter()
        .filter_map(|(rel, path)| match hashes.key_of(&path) {
            Ok((key, size)) => Some((rel, SourceKey { path, key, size })),
            Err(err) => {
                diags.at(&path, 1, 1, format!("cannot read: {err}"));
                None
            }
        })
        .collect()
}

fn require_url_safe(diags: &Diagnostics, shown: &Path, rel: &str) -> bool {
    let ok = relpath::is_url_safe(rel);
    if !ok {
        diags.at(shown, 1, 1, "file name must use only letters, digits, '.', '_' and '-' to be served");
    }
    ok
}

/// Hash of a whole bundle: its file names and content keys, in order.
fn tree_hash(files: &[(String, SourceKey)]) -> String {
    let listing: String = files.iter().map(|(rel, file)| format!("{rel}\0{}\n", file.key)).collect();
    sha256_hex(listing.as_bytes())[..FINGERPRINT_LEN].to_owned()
}

fn fingerprinted_url(rel: &str, key: &ObjectKey) -> String {
    let file_name = rel.rsplit('/').next().unwrap_or(rel);
    format!("/assets/{}", fingerprinted_name(file_name, key))
}

impl Assets {
    fn add_fingerprinted(&mut self, rel: &str, bytes: Vec<u8>) -> String {
        let url = fingerprinted_url(rel, &ObjectKey::of(&bytes));
        self.outputs.push(Output::immutable(url.clone(), rel, bytes));
        url
    }

    fn add_fingerprinted_file(&mut self, rel: &str, file: SourceKey) -> String {
        let url = fingerprinted_url(rel, &file.key);
        self.outputs.push(Output::immutable_file(url.clone(), rel, file));
        url
    }

    /// Adds every file of `dir` under `/<kind>/<tree-hash>/`; returns the prefix.
    fn add_bundle(
        &mut self,
        diags: &Diagnostics,
        hashes: &FileHashes,
        kind: &str,
        dir: &Path,
    ) -> Option<String> {
        let listed = files_under(dir);
        let safe: Vec<_> =
            listed.into_iter().filter(|(rel, path)| require_url_safe(diags, path, rel)).collect();
        let wanted = safe.len();
        let files = keys_of(diags, hashes, safe);
        if files.len() != wanted {
            return None; // an unreadable file, already reported
        }
        let prefix = format!("/{kind}/{}/", tree_hash(&files));
        for (rel, file) in files {
            self.outputs.push(Output::immutable_file(format!("{prefix}{rel}"), &rel, file));
        }
        Some(prefix)
    }
}

/// Collects all assets of the content tree at `root`; `hashes` spares re-reading
/// unchanged files.
pub fn collect(diags: &Diagnostics, root: &Path, syntax_css: String, hashes: &FileHashes) -> Assets {
    let mut assets = Assets::default();
    collect_theme(diags, root, syntax_css, &mut assets);
    collect_media(diags, root, hashes, &mut assets);
    collect_animations(diags, root, hashes, &mut assets);
    collect_labs(diags, root, hashes, &mut assets);
    assets
}

fn collect_theme(diags: &Diagnostics, root: &Path, syntax_css: String, assets: &mut Assets) {
    let static_dir = root.join("theme/static");
    let mut sources: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    for (rel, path) in files_under(&static_dir) {
        if require_url_safe(diags, &path, &rel) {
            if let Some(bytes) = read(diags, &path) {
                sources.insert(rel, (path, bytes));
            }
        }
    }
    sources.insert(SYNTAX_CSS.to_owned(), (static_dir.join(SYNTAX_CSS), syntax_css.into_bytes()));
    let mut theme = ThemeFiles { diags, sources, in_progress: BTreeSet::new() };
    let names: Vec<String> = theme.sources.keys().cloned().collect();
    for rel in names {
        theme.url(&rel, assets);
    }
}

/// Fingerprints theme files, CSS after the files it references (its bytes embed their URLs).
struct ThemeFiles<'a> {
    diags: &'a Diagnostics,
    sources: BTreeMap<String, (PathBuf, Vec<u8>)>,
    in_progress: BTreeSet<String>,
}

impl ThemeFiles<'_> {
    fn url(&mut self, rel: &str, assets: &mut Assets) -> Option<String> {
        if let Some(url) = assets.theme.get(rel) {
            return Some(url.clone());
        }
        let (path, bytes) = self.sources.get(rel)?.clone();
        let bytes = if rel.ends_with(".css") {
            if !self.in_progress.insert(rel.to_owned()) {
                self.diags.at(&path, 1, 1, "stylesheets import each other in a cycle");
                return None;
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let dir = relpath::parent(rel).to_owned();
            let rewritten = rewrite_css(&text, |reference, offset| {
                let (target, suffix) = relpath::split_suffix(reference);
                let resolved = relpath::join(&dir, target).and_then(|t| self.url(&t, assets));
                if resolved.is_none() {
                    let msg = format!("stylesheet references `{reference}`, which is not in theme/static");
                    self.diags.at_offset(&path, &text, offset, msg);
                }
                resolved.map(|url| format!("{url}{suffix}"))
            });
            self.in_progress.remove(rel);
            rewritten.into_bytes()
        } else {
            bytes
        };
        let url = assets.add_fingerprinted(rel, bytes);
        assets.theme.insert(rel.to_owned(), url.clone());
        Some(url)
    }
}

/// Rewrites the relative references of a stylesheet (`url(...)` and `@import "..."`).
/// `resolve` gets each reference and its byte offset, and answers the new URL (or `None`
/// to leave it as it was, having reported why).
pub fn rewrite_css(text: &str, mut resolve: impl FnMut(&str, usize) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let (skip, quoted) = if rest.starts_with("/*") {
            at += rest.find("*/").map_or(rest.len(), |end| end + 2);
            continue;
        } else if rest.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("url(")) {
            (4, false)
        } else if rest.starts_with("@import") {
            (7, true)
        } else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut start = at + skip;
        start += text[start..].len() - text[start..].trim_start().len();
        let quote = text[start..].chars().next().filter(|c| *c == '"' || *c == '\'');
        if quoted && quote.is_none() {
            at = start; // `@import url(...)` is handled by the url( branch
            continue;
        }
        let body_start = start + quote.map_or(0, char::len_utf8);
        let end_rel = match quote {
            Some(q) => text[body_start..].find(q),
            None => text[body_start..].find(')').map(|e| text[body_start..body_start + e].trim_end().len()),
        };
        let Some(end_rel) = end_rel else { break };
        let body_end = body_start + end_rel;
        let reference = &text[body_start..body_end];
        if !reference.is_empty() && !relpath::is_external(reference) && !reference.starts_with('/') {
            if let Some(url) = resolve(reference, body_start) {
                out.push_str(&text[copied..body_start]);
                out.push_str(&url);
                copied = body_end;
            }
        }
        at = body_end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Course and lab media: every other file that is not Markdown or TOML.
fn collect_media(diags: &Diagnostics, root: &Path, hashes: &FileHashes, assets: &mut Assets) {
    let mut media = Vec::new();
    for top in ["courses", "labs"] {
        for (rel, path) in files_under(&root.join(top)) {
            let rel = format!("{top}/{rel}");
            let in_lab_bundle = top == "labs" && matches!(rel.split('/').nth(2), Some("app" | "starter"));
            if rel.ends_with(".md") || rel.ends_with(".toml") || in_lab_bundle {
                continue;
            }
            if require_url_safe(diags, &path, &rel) {
                media.push((rel, path));
            }
        }
    }
    for (rel, file) in keys_of(diags, hashes, media) {
        let url = assets.add_fingerprinted_file(&rel, file);
        assets.files.insert(rel, url);
    }
}

fn collect_animations(diags: &Diagnostics, root: &Path, hashes: &FileHashes, assets: &mut Assets) {
    let dir = root.join("animations");
    let mut singles = Vec::new();
    let mut entries: Vec<(String, walkdir::DirEntry)> = walkdir::WalkDir::new(&dir)
        .min_depth(1)
        .max_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry))
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, entry) in entries {
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if !require_url_safe(diags, path, &name) {
            continue;
        }
        if entry.file_type().is_dir() {
            if !path.join("animation.json").is_file() {
                diags.at(path, 1, 1, "an animation folder needs an animation.json (a Lottie bundle)");
                continue;
            }
            if let Some(prefix) = assets.add_bundle(diags, hashes, "animations", path) {
                let animation = AnimationRef {
                    kind: "lottie",
                    url: format!("{prefix}animation.json"),
                    mime: "application/json".into(),
                };
                assets.animations.insert(name, animation);
            }
            continue;
        }
        let ext = name.rsplit_once('.').map_or("", |(_, ext)| ext).to_ascii_lowercase();
        let kind = match ext.as_str() {
            "svg" => "svg",
            "json" => "lottie",
            "webm" | "mp4" => "video",
            _ => {
                diags.at(
                    path,
                    1,
                    1,
                    "unsupported animation: use .svg, Lottie .json, .webm, .mp4 or a Lottie folder",
                );
                continue;
            }
        };
        singles.push(((name, kind), path.to_owned()));
    }
    let hashed: Vec<_> = singles
        .into_par_iter()
        .filter_map(|((name, kind), path)| match hashes.key_of(&path) {
            Ok((key, size)) => Some((name, kind, SourceKey { path, key, size })),
            Err(err) => {
                diags.at(&path, 1, 1, format!("cannot read: {err}"));
                None
            }
        })
        .collect();
    for (name, kind, file) in hashed {
        let url = assets.add_fingerprinted_file(&name, file);
        let mime = content_type_for(&name).split(';').next().unwrap_or_default().to_owned();
        assets.animations.insert(name, AnimationRef { kind, url, mime });
    }
}

fn collect_labs(diags: &Diagnostics, root: &Path, hashes: &FileHashes, assets: &mut Assets) {
    let labs = root.join("labs");
    let slugs: Vec<String> = walkdir::WalkDir::new(&labs)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for slug in slugs {
        let app = labs.join(&slug).join("app");
        if !app.join("index.html").is_file() {
            continue; // reported by the catalogue
        }
        let Some(prefix) = assets.add_bundle(diags, hashes, "labs", &app) else { continue };
        let starter_dir = labs.join(&slug).join("starter");
        let starter_files: Vec<(String, PathBuf)> = files_under(&starter_dir);
        let mut bundle = LabBundle {
            app_url: format!("{prefix}index.html"),
            starter_url: None,
            starter_name: None,
            starter_files: starter_files.iter().map(|(rel, _)| rel.clone()).collect(),
        };
        if !starter_files.is_empty() {
            let name = format!("{slug}-starter.zip");
            match zip_files(&starter_files) {
                Ok(bytes) => {
                    bundle.starter_url = Some(assets.add_fingerprinted(&name, bytes));
                    bundle.starter_name = Some(name);
                }
                Err(err) => diags.at(&starter_dir, 1, 1, format!("cannot zip starter files: {err}")),
            }
        }
        assets.labs.insert(slug, bundle);
    }
}

/// A zip whose bytes depend only on the names and contents of the files (fixed
/// timestamps and permissions), so rebuilding gives the same object.
fn zip_files(files: &[(String, PathBuf)]) -> std::io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (rel, path) in files {
        writer.start_file(rel.as_str(), options).map_err(std::io::Error::other)?;
        writer.write_all(&std::fs::read(path)?)?;
    }
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_css_references() {
        let css = "a::before{content:\"·\"}a{background:url(../img/x.svg)} /* url(skip.png) */ b{src:url('f.woff2?v=1')}\n\
                   @import \"base.css\"; c{background:url(data:image/png;base64,AA)} d{x:url(/abs.png)}";
        let mut seen = Vec::new();
        let out = rewrite_css(css, |r, _| {
            seen.push(r.to_owned());
            Some(format!("/assets/{}", r.replace("../", "")))
        });
        assert_eq!(seen, ["../img/x.svg", "f.woff2?v=1", "base.css"]);
        assert!(out.contains("url(/assets/img/x.svg)"), "{out}");
        assert!(out.contains("url('/assets/f.woff2?v=1')"), "{out}");
        assert!(out.contains("@import \"/assets/base.css\""), "{out}");
        assert!(
            out.contains("url(skip.png)") && out.contains("url(data:image") && out.contains("url(/abs.png)")
        );
    }

    #[test]
    fn zips_are_deterministic() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "hello").expect("write");
        let files = files_under(dir.path());
        let first = zip_files(&files).expect("zip");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(dir.path().join("a.txt"), "hello").expect("rewrite changes mtime");
        assert_eq!(first, zip_files(&files).expect("zip"));
    }
}
