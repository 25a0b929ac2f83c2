//! Everything that is not a rendered page: theme files, course media, animations and
//! labs. Single files are fingerprinted (`name.<hash>.ext`); multi-file bundles live under
//! a tree-hash prefix (`<kind>/<hash>/...`) so their relative links keep working.
//!
//! Theme files are public and always published, under `/assets/`. Course media, animations
//! and labs are published only where a page uses them, in the scope of that page: a public
//! page's under `/assets/`, `/animations/<hash>/` and `/labs/<hash>/`; an enrolled course's
//! under `/courses/<slug>/_/` (same shapes), so the grant that opens the course opens its
//! media too, and nothing of it is public. Bytes used in both scopes stay one object in
//! the store. Files that no page uses are not published at all ([`Assets::unused`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bundle::paths::{course_prefix, fingerprinted_name, FINGERPRINT_LEN};
use bundle::{sha256_hex, Access, CacheClass, ObjectKey};
use sha2::{Digest, Sha256};

pub(crate) use crate::build::uses::{AssetId, Uses};

use crate::build::cache::{FileHashes, ZipCache};
use crate::build::diagnostics::Diagnostics;
use crate::build::output::{content_type_for, Body, Output};
use crate::build::relpath;
use crate::build::tree::ContentRoot;

/// Every (scope, asset) that the pages use.
pub(crate) type UsedAssets = BTreeSet<(Access, AssetId)>;

impl Output {
    fn immutable(route: String, path: &str, bytes: Vec<u8>, access: Access) -> Self {
        Output::new(route, bytes, content_type_for(path), CacheClass::Immutable, access)
    }

    /// A source file whose key is already known: its bytes stay on disk until needed.
    fn immutable_file(route: String, rel: &str, file: &SourceKey, access: Access) -> Self {
        Output {
            route,
            key: file.key.clone(),
            size: file.size,
            body: Body::File(file.path.clone()),
            content_type: content_type_for(rel),
            cache: CacheClass::Immutable,
            access,
        }
    }
}

/// A source file and its key.
#[derive(Debug, Clone)]
struct SourceKey {
    path: PathBuf,
    key: ObjectKey,
    size: u64,
}

/// A single file, or a folder published as a whole under a tree-hash prefix.
#[derive(Debug)]
enum Payload {
    Single { rel: String, file: SourceKey },
    Bundle { tree: String, files: Vec<(String, SourceKey)> },
}

#[derive(Debug)]
struct Animation {
    /// `svg`, `lottie` or `video`.
    kind: &'static str,
    mime: String,
    payload: Payload,
}

#[derive(Debug)]
struct Starter {
    name: String,
    key: ObjectKey,
    size: u64,
    /// Made now, or the zip a build made of the same files (in the store).
    body: Body,
}

#[derive(Debug)]
struct LabFiles {
    tree: String,
    app: Vec<(String, SourceKey)>,
    starter: Option<Starter>,
    starter_files: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AnimationRef {
    /// `svg`, `lottie` or `video`.
    pub kind: &'static str,
    pub url: String,
    pub mime: String,
}

#[derive(Debug, Clone)]
pub(crate) struct LabBundle {
    pub app_url: String,
    pub starter_url: Option<String>,
    pub starter_name: Option<String>,
    pub starter_files: Vec<String>,
}

/// Every asset of the content tree, and the URL of each in each scope.
#[derive(Default)]
pub(crate) struct Assets {
    /// `theme/static`-relative path -> URL (what the `asset()` template function answers).
    pub theme: BTreeMap<String, String>,
    theme_outputs: Vec<Output>,
    /// Content-relative path of course/lab media -> the file.
    files: BTreeMap<String, SourceKey>,
    /// Media that a browser would run as a document on the site's origin (HTML, XML,
    /// JavaScript): never published; a page that uses one is a content error.
    active: BTreeMap<String, PathBuf>,
    animations: BTreeMap<String, Animation>,
    labs: BTreeMap<String, LabFiles>,
}

/// Where the assets of a scope live: `""` for public pages, `/courses/<slug>/_` for an
/// enrolled course (`_` is no lesson slug, so it never collides with a page).
fn scope_prefix(scope: &Access) -> String {
    match scope {
        Access::Public => String::new(),
        Access::Course(slug) => format!("{}_", course_prefix(slug)),
    }
}

fn fingerprinted_url(scope: &Access, rel: &str, key: &ObjectKey) -> String {
    let file_name = rel.rsplit('/').next().unwrap_or(rel);
    format!("{}/assets/{}", scope_prefix(scope), fingerprinted_name(file_name, key))
}

fn bundle_prefix(scope: &Access, kind: &str, tree: &str) -> String {
    format!("{}/{kind}/{tree}/", scope_prefix(scope))
}

impl Assets {
    /// The URL of course or lab media `rel` (content-relative) on a page of `scope`.
    pub(crate) fn file_url(&self, scope: &Access, rel: &str) -> Option<String> {
        self.files.get(rel).map(|file| fingerprinted_url(scope, rel, &file.key))
    }

    /// Whether `rel` is media that would run as code on the site's origin (see `active`).
    pub(crate) fn is_active(&self, rel: &str) -> bool {
        self.active.contains_key(rel)
    }

    /// The animation `name` as a page of `scope` shows it.
    pub(crate) fn animation(&self, scope: &Access, name: &str) -> Option<AnimationRef> {
        let found = self.animations.get(name)?;
        let url = match &found.payload {
            Payload::Single { rel, file } => fingerprinted_url(scope, rel, &file.key),
            Payload::Bundle { tree, .. } => {
                format!("{}animation.json", bundle_prefix(scope, "animations", tree))
            }
        };
        Some(AnimationRef { kind: found.kind, url, mime: found.mime.clone() })
    }

    /// The lab `slug`'s app and starter zip as a page of `scope` embeds them.
    pub(crate) fn lab(&self, scope: &Access, slug: &str) -> Option<LabBundle> {
        let lab = self.labs.get(slug)?;
        Some(LabBundle {
            app_url: format!("{}index.html", bundle_prefix(scope, "labs", &lab.tree)),
            starter_url: lab.starter.as_ref().map(|s| fingerprinted_url(scope, &s.name, &s.key)),
            starter_name: lab.starter.as_ref().map(|s| s.name.clone()),
            starter_files: lab.starter_files.clone(),
        })
    }

    /// Theme outputs' routes (always published).
    pub(crate) fn theme_routes(&self) -> impl Iterator<Item = &str> {
        self.theme_outputs.iter().map(|o| o.route.as_str())
    }

    /// Everything a page's URLs are made of, for the page cache: theme routes and keys,
    /// and the key of every other asset (its URL in any scope follows from it).
    pub(crate) fn feed_fingerprint(&self, mut field: impl FnMut(&[u8])) {
        for output in &self.theme_outputs {
            field(output.route.as_bytes());
            field(output.key.as_str().as_bytes());
        }
        for (rel, file) in &self.files {
            field(rel.as_bytes());
            field(file.key.as_str().as_bytes());
        }
        for (name, animation) in &self.animations {
            field(name.as_bytes());
            field(animation.kind.as_bytes());
            match &animation.payload {
                Payload::Single { file, .. } => field(file.key.as_str().as_bytes()),
                Payload::Bundle { tree, .. } => field(tree.as_bytes()),
            }
        }
        for (slug, lab) in &self.labs {
            field(slug.as_bytes());
            field(lab.tree.as_bytes());
            if let Some(starter) = &lab.starter {
                field(starter.key.as_str().as_bytes());
            }
        }
    }

    /// The theme's outputs and, for every (scope, asset) some page used, that asset's
    /// outputs in that scope.
    pub(crate) fn outputs(&self, used: &UsedAssets) -> Vec<Output> {
        let mut outputs = self.theme_outputs.clone();
        for (scope, id) in used {
            match id {
                AssetId::File(rel) => {
                    if let Some(file) = self.files.get(rel) {
                        let url = fingerprinted_url(scope, rel, &file.key);
                        outputs.push(Output::immutable_file(url, rel, file, scope.clone()));
                    }
                }
                AssetId::Animation(name) => match self.animations.get(name).map(|a| &a.payload) {
                    Some(Payload::Single { rel, file }) => {
                        let url = fingerprinted_url(scope, rel, &file.key);
                        outputs.push(Output::immutable_file(url, rel, file, scope.clone()));
                    }
                    Some(Payload::Bundle { tree, files }) => {
                        let prefix = bundle_prefix(scope, "animations", tree);
                        push_bundle(&mut outputs, &prefix, files, scope);
                    }
                    None => {}
                },
                AssetId::Lab(slug) => {
                    let Some(lab) = self.labs.get(slug) else { continue };
                    push_bundle(&mut outputs, &bundle_prefix(scope, "labs", &lab.tree), &lab.app, scope);
                    if let Some(starter) = &lab.starter {
                        let url = fingerprinted_url(scope, &starter.name, &starter.key);
                        outputs.push(Output {
                            route: url,
                            key: starter.key.clone(),
                            size: starter.size,
                            body: starter.body.clone(),
                            content_type: content_type_for(&starter.name),
                            cache: CacheClass::Immutable,
                            access: scope.clone(),
                        });
                    }
                }
            }
        }
        outputs
    }

    /// Source files of assets that no page uses (not published), sorted.
    pub(crate) fn unused(&self, used: &UsedAssets) -> Vec<PathBuf> {
        let used: BTreeSet<&AssetId> = used.iter().map(|(_, id)| id).collect();
        let mut unused: Vec<PathBuf> = Vec::new();
        for (rel, file) in &self.files {
            if !used.contains(&AssetId::File(rel.clone())) {
                unused.push(file.path.clone());
            }
        }
        unused.extend(self.active.values().cloned());
        for (name, animation) in &self.animations {
            if !used.contains(&AssetId::Animation(name.clone())) {
                match &animation.payload {
                    Payload::Single { file, .. } => unused.push(file.path.clone()),
                    Payload::Bundle { files, .. } => {
                        unused.extend(files.first().and_then(|(_, f)| f.path.parent()).map(Path::to_owned))
                    }
                }
            }
        }
        for (slug, lab) in &self.labs {
            if !used.contains(&AssetId::Lab(slug.clone())) {
                unused.extend(lab.app.first().and_then(|(_, f)| f.path.parent()).map(Path::to_owned));
            }
        }
        unused.sort();
        unused
    }
}

fn push_bundle(outputs: &mut Vec<Output>, prefix: &str, files: &[(String, SourceKey)], scope: &Access) {
    for (rel, file) in files {
        outputs.push(Output::immutable_file(format!("{prefix}{rel}"), rel, file, scope.clone()));
    }
}

/// The name of the generated highlighting stylesheet, as templates ask for it.
pub(crate) const SYNTAX_CSS: &str = "syntax.css";

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
    hashes
        .keys_of(files)
        .into_iter()
        .filter_map(|(rel, path, found)| match found {
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

/// Every file of `dir`, hashed, as a bundle; `None` when one is unreadable (reported).
fn bundle_of(
    diags: &Diagnostics,
    root: &ContentRoot,
    hashes: &FileHashes,
    dir: &Path,
) -> Option<(String, Vec<(String, SourceKey)>)> {
    let listed = root.files_under(diags, dir);
    let safe: Vec<_> = listed.into_iter().filter(|(rel, path)| require_url_safe(diags, path, rel)).collect();
    let wanted = safe.len();
    let files = keys_of(diags, hashes, safe);
    if files.len() != wanted {
        return None; // an unreadable file, already reported
    }
    Some((tree_hash(&files), files))
}

/// A build's assets and what collecting them reported.
pub(crate) struct Collected {
    pub assets: Assets,
    errors: Vec<crate::build::diagnostics::ContentError>,
    warnings: Vec<crate::build::diagnostics::ContentError>,
    /// Set once a later build reuses these assets (`course serve`): from then on their
    /// outputs are remembered, by the uses they were made for.
    reused: std::sync::atomic::AtomicBool,
    outputs: std::sync::Mutex<Option<(UsedAssets, Vec<Output>)>>,
}

impl Collected {
    /// [`Assets::outputs`] for `used`; in a session that reuses the assets, the last
    /// outputs again when the uses are unchanged (making 12,600 outputs was a third of a
    /// preview's one-lesson rebuild). A one-shot build does not keep a copy.
    pub(crate) fn outputs(&self, used: &UsedAssets) -> Vec<Output> {
        if !self.reused.load(std::sync::atomic::Ordering::Relaxed) {
            return self.assets.outputs(used);
        }
        let mut memo = self.outputs.lock().expect("asset outputs lock");
        if let Some((last_used, outputs)) = &*memo {
            if last_used == used {
                return outputs.clone();
            }
        }
        let outputs = self.assets.outputs(used);
        *memo = Some((used.clone(), outputs.clone()));
        outputs
    }
}

/// [`collect`], or the last build's assets when the watcher vouches that only lessons
/// changed since (`course serve`): walking 12,600 files and looking each up was a third
/// of a preview's one-lesson rebuild. Either way the same errors and warnings are reported.
pub(crate) fn collect_or_reuse(
    diags: &Diagnostics,
    root: &ContentRoot,
    syntax_css: String,
    cache: &crate::build::cache::BuildCache,
) -> std::sync::Arc<Collected> {
    let last =
        cache.assets.lock().expect("assets lock").clone().and_then(|any| any.downcast::<Collected>().ok());
    if let Some(last) = last.filter(|_| cache.files.only_lessons_changed(&root.shown)) {
        last.reused.store(true, std::sync::atomic::Ordering::Relaxed);
        cache.files.carry_over();
        cache.zips.carry_over();
        diags.extend(&last.errors, &last.warnings);
        return last;
    }
    let own = Diagnostics::default();
    let assets = collect(&own, root, syntax_css, &cache.files, &cache.zips);
    let (errors, warnings) = own.snapshot();
    diags.extend(&errors, &warnings);
    let collected = std::sync::Arc::new(Collected {
        assets,
        errors,
        warnings,
        reused: Default::default(),
        outputs: Default::default(),
    });
    *cache.assets.lock().expect("assets lock") = Some(std::sync::Arc::clone(&collected) as _);
    collected
}

/// Collects all assets of the content tree at `root`; `hashes` spares re-reading
/// unchanged files, `zips` re-making unchanged starter zips.
pub(crate) fn collect(
    diags: &Diagnostics,
    root: &ContentRoot,
    syntax_css: String,
    hashes: &FileHashes,
    zips: &ZipCache,
) -> Assets {
    // Side by side, each into its own fields: the animations' 9,500 files are listed and
    // stat'ed while the theme is read and the labs are hashed.
    let part = |collect: &(dyn Fn(&mut Assets) + Sync)| {
        let mut part = Assets::default();
        collect(&mut part);
        part
    };
    let ((mut assets, media), (animations, labs)) = rayon::join(
        || {
            rayon::join(
                || part(&|a| collect_theme(diags, root, syntax_css.clone(), a)),
                || part(&|a| collect_media(diags, root, hashes, a)),
            )
        },
        || {
            rayon::join(
                || part(&|a| collect_animations(diags, root, hashes, a)),
                || part(&|a| collect_labs(diags, root, hashes, zips, a)),
            )
        },
    );
    assets.files = media.files;
    assets.active = media.active;
    assets.animations = animations.animations;
    assets.labs = labs.labs;
    assets
}

fn collect_theme(diags: &Diagnostics, root: &ContentRoot, syntax_css: String, assets: &mut Assets) {
    let static_dir = root.shown.join("theme/static");
    let mut sources: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    for (rel, path) in root.files_under(diags, &static_dir) {
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
        let url = fingerprinted_url(&Access::Public, rel, &ObjectKey::of(&bytes));
        assets.theme_outputs.push(Output::immutable(url.clone(), rel, bytes, Access::Public));
        assets.theme.insert(rel.to_owned(), url.clone());
        Some(url)
    }
}

/// Rewrites the relative references of a stylesheet (`url(...)` and `@import "..."`).
/// `resolve` gets each reference and its byte offset, and answers the new URL (or `None`
/// to leave it as it was, having reported why).
pub(crate) fn rewrite_css(text: &str, mut resolve: impl FnMut(&str, usize) -> Option<String>) -> String {
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
fn collect_media(diags: &Diagnostics, root: &ContentRoot, hashes: &FileHashes, assets: &mut Assets) {
    let mut media = Vec::new();
    for top in ["courses", "labs"] {
        for (rel, path) in root.files_under(diags, &root.shown.join(top)) {
            let rel = format!("{top}/{rel}");
            let in_lab_bundle = top == "labs" && matches!(rel.split('/').nth(2), Some("app" | "starter"));
            if in_lab_bundle {
                continue;
            }
            if rel.ends_with(".md") || rel.ends_with(".toml") {
                // courses/<c>/<lesson>.md, courses/<c>/course.toml, labs/<l>/lab.toml and
                // labs/<l>/instructions.md are read by the catalogue; any other is ignored.
                let depth = rel.split('/').count();
                let read = depth == 3
                    && (top == "courses" || rel.ends_with("/lab.toml") || rel.ends_with("/instructions.md"));
                if !read {
                    diags.warn(
                        &path,
                        "the build ignores this file (lessons are courses/<course>/<lesson>.md)",
                    );
                }
                continue;
            }
            if runs_as_code(&rel) {
                assets.active.insert(rel, path);
            } else if require_url_safe(diags, &path, &rel) {
                media.push((rel, path));
            }
        }
    }
    assets.files.extend(keys_of(diags, hashes, media));
}

/// Files a browser opens as a document that can run scripts with the site's cookies (or
/// that are scripts): as course media they would let any author run code on every
/// student's session. Interactive pages belong in a lab; SVG stays media (the origin sends
/// it with a sandboxing CSP, and pages show it in `<img>`, where scripts never run).
fn runs_as_code(rel: &str) -> bool {
    let ext = rel.rsplit_once('.').map_or("", |(_, ext)| ext).to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "html" | "htm" | "xhtml" | "xht" | "shtml" | "js" | "mjs" | "cjs" | "xml" | "xsl" | "xslt"
    )
}

fn collect_animations(diags: &Diagnostics, root: &ContentRoot, hashes: &FileHashes, assets: &mut Assets) {
    let mut singles = Vec::new();
    for entry in root.entries(diags, &root.shown.join("animations")) {
        let (name, path) = (entry.name, entry.path);
        if !require_url_safe(diags, &path, &name) {
            continue;
        }
        if entry.is_dir {
            if !path.join("animation.json").is_file() {
                diags.at(&path, 1, 1, "an animation folder needs an animation.json (a Lottie bundle)");
                continue;
            }
            if let Some((tree, files)) = bundle_of(diags, root, hashes, &path) {
                let payload = Payload::Bundle { tree, files };
                let animation = Animation { kind: "lottie", mime: "application/json".into(), payload };
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
                    &path,
                    1,
                    1,
                    "unsupported animation: use .svg, Lottie .json, .webm, .mp4 or a Lottie folder",
                );
                continue;
            }
        };
        singles.push(((name, kind), path));
    }
    let hashed: Vec<_> = hashes
        .keys_of(singles)
        .into_iter()
        .filter_map(|((name, kind), path, found)| match found {
            Ok((key, size)) => Some((name, kind, SourceKey { path, key, size })),
            Err(err) => {
                diags.at(&path, 1, 1, format!("cannot read: {err}"));
                None
            }
        })
        .collect();
    for (name, kind, file) in hashed {
        let mime = content_type_for(&name).split(';').next().unwrap_or_default().to_owned();
        let payload = Payload::Single { rel: name.clone(), file };
        assets.animations.insert(name, Animation { kind, mime, payload });
    }
}

fn collect_labs(
    diags: &Diagnostics,
    root: &ContentRoot,
    hashes: &FileHashes,
    zips: &ZipCache,
    assets: &mut Assets,
) {
    let labs = root.shown.join("labs");
    for entry in root.entries(diags, &labs).into_iter().filter(|e| e.is_dir) {
        let slug = entry.name;
        let app = labs.join(&slug).join("app");
        if !app.join("index.html").is_file() {
            continue; // reported by the catalogue
        }
        let Some((tree, app)) = bundle_of(diags, root, hashes, &app) else { continue };
        let starter_dir = labs.join(&slug).join("starter");
        let starter_listing: Vec<(String, PathBuf)> = root.files_under(diags, &starter_dir);
        let mut lab = LabFiles {
            tree,
            app,
            starter: None,
            starter_files: starter_listing.iter().map(|(rel, _)| rel.clone()).collect(),
        };
        if !starter_listing.is_empty() {
            let name = format!("{slug}-starter.zip");
            lab.starter = starter_zip(diags, hashes, zips, &starter_dir, starter_listing)
                .map(|(key, size, body)| Starter { name, key, size, body });
        }
        assets.labs.insert(slug, lab);
    }
}

/// The zip of a lab's starter files: the one a build made of the same files if the store
/// still has it, else made now (and remembered). `None` when a file is unreadable or
/// changed while it was zipped (reported).
fn starter_zip(
    diags: &Diagnostics,
    hashes: &FileHashes,
    zips: &ZipCache,
    starter_dir: &Path,
    listing: Vec<(String, PathBuf)>,
) -> Option<(ObjectKey, u64, Body)> {
    let wanted = listing.len();
    let files = keys_of(diags, hashes, listing);
    if files.len() != wanted {
        return None; // an unreadable file, already reported
    }
    let tree = tree_hash(&files);
    if let Some((key, size, path)) = zips.get(&tree) {
        return Some((key, size, Body::File(path)));
    }
    match zip_files(&files) {
        Ok(bytes) => {
            let key = ObjectKey::of(&bytes);
            zips.insert(tree, key.clone(), bytes.len() as u64);
            Some((key, bytes.len() as u64, Body::Bytes(bytes)))
        }
        Err(err) => {
            diags.at(starter_dir, 1, 1, format!("cannot zip starter files: {err}"));
            None
        }
    }
}

/// A zip whose bytes depend only on the names and contents of the files (fixed
/// timestamps and permissions), so rebuilding gives the same object. Each file's bytes are
/// checked against the key they were hashed to, so the zip is the one its tree hash names.
fn zip_files(files: &[(String, SourceKey)]) -> std::io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (rel, file) in files {
        writer.start_file(rel.as_str(), options).map_err(std::io::Error::other)?;
        // Streamed: a large starter file is never held in memory twice.
        let mut hashing = HashingReader { inner: std::fs::File::open(&file.path)?, hasher: Sha256::new() };
        std::io::copy(&mut hashing, &mut writer)?;
        if hex::encode(hashing.hasher.finalize()) != file.key.as_str() {
            let msg = format!("{} changed while the build read it: build again", file.path.display());
            return Err(std::io::Error::other(msg));
        }
    }
    Ok(writer.finish().map_err(std::io::Error::other)?.into_inner())
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
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
    fn reused_assets_remember_their_outputs_only_for_the_same_uses() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["a.svg", "b.svg"] {
            std::fs::write(dir.path().join(name), format!("<svg id=\"{name}\"/>")).expect("write");
        }
        let mut assets = Assets::default();
        for name in ["a.svg", "b.svg"] {
            assets.files.insert(format!("m/{name}"), source(dir.path().join(name)));
        }
        let collected = Collected {
            assets,
            errors: Vec::new(),
            warnings: Vec::new(),
            reused: Default::default(),
            outputs: Default::default(),
        };
        let uses = |names: &[&str]| -> UsedAssets {
            names.iter().map(|n| (Access::Public, AssetId::File(format!("m/{n}")))).collect()
        };
        let routes = |outputs: Vec<Output>| -> Vec<String> {
            outputs.into_iter().filter(|o| o.route.contains(".svg")).map(|o| o.route).collect()
        };
        // A one-shot build keeps no copy.
        assert_eq!(routes(collected.outputs(&uses(&["a.svg"]))).len(), 1);
        assert!(collected.outputs.lock().expect("lock").is_none());
        collected.reused.store(true, std::sync::atomic::Ordering::Relaxed);
        let first = routes(collected.outputs(&uses(&["a.svg"])));
        assert_eq!(routes(collected.outputs(&uses(&["a.svg"]))), first, "the same uses, the same outputs");
        let both = routes(collected.outputs(&uses(&["a.svg", "b.svg"])));
        assert_eq!(both.len(), 2, "a new use gets its output: {both:?}");
        let only_b = routes(collected.outputs(&uses(&["b.svg"])));
        assert_eq!(only_b.len(), 1, "{only_b:?}");
        assert!(!first.contains(&only_b[0]), "a use that went away takes its output with it");
    }

    fn source(path: PathBuf) -> SourceKey {
        let bytes = std::fs::read(&path).expect("read");
        SourceKey { key: ObjectKey::of(&bytes), size: bytes.len() as u64, path }
    }

    #[test]
    fn zips_are_deterministic() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "hello").expect("write");
        let files = vec![("a.txt".to_owned(), source(dir.path().join("a.txt")))];
        let first = zip_files(&files).expect("zip");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(dir.path().join("a.txt"), "hello").expect("rewrite changes mtime");
        assert_eq!(first, zip_files(&files).expect("zip"));
    }

    #[test]
    fn a_file_changed_after_it_was_hashed_is_not_zipped_under_the_old_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "hello").expect("write");
        let files = vec![("a.txt".to_owned(), source(dir.path().join("a.txt")))];
        std::fs::write(dir.path().join("a.txt"), "HELLO").expect("rewrite");
        let err = zip_files(&files).expect_err("the zip would not be the one its tree names");
        assert!(err.to_string().contains("changed while the build read it"), "{err}");
    }

    #[test]
    fn an_unchanged_starter_reuses_its_zip_from_the_store_and_a_changed_one_is_zipped_again() {
        let content = tempfile::tempdir().expect("tempdir");
        let store = tempfile::tempdir().expect("tempdir");
        let starter = content.path().join("starter");
        std::fs::create_dir(&starter).expect("mkdir");
        std::fs::write(starter.join("main.py"), "print(1)\n").expect("write");
        let listing = || vec![("main.py".to_owned(), starter.join("main.py"))];
        let diags = Diagnostics::default();
        let hashes = FileHashes::default();
        let cache = crate::build::cache::BuildCache::open(store.path());

        let (key, size, body) = starter_zip(&diags, &hashes, &cache.zips, &starter, listing()).expect("zip");
        assert!(matches!(body, Body::Bytes(_)), "the first build makes the zip");
        let Body::Bytes(bytes) = body else { unreachable!() };
        // Not in the store yet (no build wrote it): made again.
        let (_, _, again) = starter_zip(&diags, &hashes, &cache.zips, &starter, listing()).expect("zip");
        assert!(matches!(again, Body::Bytes(_)));
        let object = store.path().join(bundle::paths::object_path(&key));
        std::fs::create_dir_all(object.parent().expect("parent")).expect("mkdir");
        std::fs::write(&object, &bytes).expect("store the zip");
        cache.save().expect("the build that stored it saves its cache");
        let cache = crate::build::cache::BuildCache::open(store.path());
        let (same, same_size, reused) =
            starter_zip(&diags, &hashes, &cache.zips, &starter, listing()).expect("zip");
        assert_eq!((same, same_size), (key.clone(), size));
        assert!(matches!(reused, Body::File(ref p) if *p == object), "{reused:?}");

        std::fs::write(starter.join("main.py"), "print(2)\n").expect("edit");
        let (changed, _, body) = starter_zip(&diags, &hashes, &cache.zips, &starter, listing()).expect("zip");
        assert_ne!(changed, key);
        assert!(matches!(body, Body::Bytes(_)));
        assert!(diags.is_empty());
    }
}
