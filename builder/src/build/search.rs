//! Search, built at `course build` time: Pagefind (its Rust API) indexes the rendered
//! lesson pages in memory, one index per scope. Public lessons (and enrolled courses' free
//! previews) go into `/_search/`; each enrolled course's other lessons into its own index
//! under `/courses/<slug>/_search/`, with the course's access, so the grant that opens the
//! lessons opens their index and the public index holds no word of them. The browser
//! merges a course's index into the results only when it can fetch it (docs/theme.md).
//!
//! Pagefind names its chunks by their hash (`index/<hash>.pf_index`, `fragment/...`,
//! `pagefind.<hash>.pf_meta`): those are immutable routes; `pagefind-entry.json` (which
//! names the current meta file), `pagefind.js`, its worker and WebAssembly are stable ones.
//! Pagefind builds an index whole (about 3.5 ms a page: 6 s for the public scope of the
//! generated catalogue), so a scope is kept in two segments, as Lucene keeps an index:
//! its **base**, reused from the store as it was built, and a small **delta** index
//! (`<scope>/delta/`) of the pages that changed since, built anew each time. The scope's
//! stable `segments.json` names both and lists the routes whose base entry is stale (changed
//! or gone); the browser merges the delta and drops those base results. Once the delta
//! outgrows `DELTA_PAGES` (or a quarter of the scope), the scope is indexed whole again
//! and that is the new base: editing one lesson re-indexes one page, not 1,600.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bundle::{Access, CacheClass, ObjectKey};
use rustc_hash::FxHashMap as HashMap;

use crate::build::output::{Body, Output};

/// Where the public index (and Pagefind's JS, worker and WebAssembly) is served.
pub const PUBLIC_BASE: &str = "/_search/";

/// Where the index of the pages of `access` is served: `/_search/` or
/// `/courses/<slug>/_search/` (inside the course's grant scope).
pub fn base_of(access: &Access) -> String {
    match access {
        Access::Public => PUBLIC_BASE.to_owned(),
        Access::Course(slug) => format!("{}_search/", bundle::paths::course_prefix(slug)),
    }
}

/// Pages a delta index may hold before its scope is indexed whole again: about 3.5 ms
/// of indexing each, on every build until then.
const DELTA_PAGES: usize = 24;

/// Where the delta index of the scope served at `base` is.
fn delta_base(base: &str) -> String {
    format!("{base}delta/")
}

/// The route of the scope's segment list (`segments.json`, stable): what the browser
/// reads first to know which indexes to merge and which base results are stale.
pub fn segments_route(access: &Access) -> String {
    format!("{}segments.json", base_of(access))
}

/// One file of a built index, as the cache remembers it.
#[derive(Clone, Debug)]
struct IndexFile {
    route: String,
    object: ObjectKey,
    size: u64,
}

/// A scope's base index: the hash it is known by, and the pages (route, page object)
/// it was built from.
#[derive(Clone, Debug, Default)]
struct Base {
    inputs: String,
    pages: HashMap<String, ObjectKey>,
}

/// What one build used: the indexes, by their inputs, and each scope's base.
#[derive(Default)]
struct Used {
    indexes: HashMap<String, Vec<IndexFile>>,
    bases: BTreeMap<Access, Base>,
}

/// Built indexes by a hash of the pages they were built from (the page routes and
/// objects), so a scope whose pages are unchanged is not indexed again; and each scope's
/// base, so a scope whose pages changed a little gets a delta index only.
#[derive(Default)]
pub struct IndexCache {
    store: PathBuf,
    known: HashMap<String, Vec<IndexFile>>,
    bases: BTreeMap<Access, Base>,
    current: Mutex<Used>,
}

impl IndexCache {
    /// Lines of `<inputs> <route> <object> <size>` (a file of an index) and
    /// `<access> <inputs> <route> <page object>` (a page of a scope's base).
    pub(crate) fn load(store: &Path, path: &Path) -> IndexCache {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut known: HashMap<String, Vec<IndexFile>> = HashMap::default();
        let mut bases: BTreeMap<Access, Base> = BTreeMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[..] {
                [inputs, route, object, size] if bundle::paths::is_route(route) => {
                    let (Ok(object), Ok(size)) = (object.parse(), size.parse()) else { continue };
                    let file = IndexFile { route: route.to_owned(), object, size };
                    known.entry(inputs.to_owned()).or_default().push(file);
                }
                [access, inputs, route, page] if bundle::paths::is_route(route) => {
                    let (Ok(access), Ok(page)) = (access.parse::<Access>(), page.parse()) else { continue };
                    let base = bases.entry(access).or_default();
                    if base.inputs.is_empty() {
                        base.inputs = inputs.to_owned();
                    } else if base.inputs != inputs {
                        continue; // one base per scope
                    }
                    base.pages.insert(route.to_owned(), page);
                }
                _ => {}
            }
        }
        IndexCache { store: store.to_owned(), known, bases, current: Mutex::default() }
    }

    fn get(&self, inputs: &str) -> Option<Vec<IndexFile>> {
        let files = self.known.get(inputs)?;
        let present = files.iter().all(|f| {
            let path = self.store.join(bundle::paths::object_path(&f.object));
            std::fs::metadata(path).is_ok_and(|m| m.len() == f.size)
        });
        present.then(|| files.clone())
    }

    fn insert(&self, inputs: String, files: Vec<IndexFile>) {
        self.current.lock().expect("index cache lock").indexes.insert(inputs, files);
    }

    fn keep_base(&self, access: &Access, base: Base) {
        self.current.lock().expect("index cache lock").bases.insert(access.clone(), base);
    }

    /// What this build used becomes what the next one may reuse.
    pub(crate) fn advance(&mut self) {
        let current = std::mem::take(self.current.get_mut().expect("index cache lock"));
        self.known.extend(current.indexes);
        self.bases = current.bases;
    }

    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let current = self.current.lock().expect("index cache lock");
        let mut lines: Vec<String> = current
            .indexes
            .iter()
            .flat_map(|(inputs, files)| {
                files.iter().map(move |f| format!("{inputs} {} {} {}", f.route, f.object, f.size))
            })
            .collect();
        for (access, base) in &current.bases {
            lines.extend(
                base.pages.iter().map(|(route, page)| format!("{access} {} {route} {page}", base.inputs)),
            );
        }
        lines.sort();
        let mut text = lines.join("\n");
        text.push('\n');
        crate::build::local_store::write_atomic(path, text.as_bytes())
    }
}

/// The index files of every scope the `lessons` (lesson pages) fall in, and each scope's
/// `segments.json`.
pub(crate) fn index(
    lessons: &[Output],
    home: Option<&Output>,
    cache: &IndexCache,
) -> Result<Vec<Output>, String> {
    let mut scopes: BTreeMap<&Access, Vec<&Output>> = BTreeMap::new();
    for page in lessons {
        scopes.entry(&page.access).or_default().push(page);
    }
    // The public index carries the JS and WebAssembly every search loads: it is built
    // even with no public lesson, then of the home page. An index of no page has no
    // language, and Pagefind then fails to start, also for the enrolled courses' indexes
    // merged into it: a catalogue of enrolled courses only had no search at all.
    let public = scopes.entry(&Access::Public).or_default();
    if public.is_empty() {
        public.extend(home.filter(|h| h.access == Access::Public));
    }
    let mut indexer = Indexer::default();
    let mut outputs = Vec::new();
    for (access, mut pages) in scopes {
        pages.sort_by(|a, b| a.route.cmp(&b.route));
        outputs.extend(scope_index(access, &pages, cache, &mut indexer)?);
    }
    Ok(outputs)
}

/// One scope's files: its base whole when its pages are those of a known index (or when
/// they changed too much), else the base as it was and a delta of the pages changed.
fn scope_index(
    access: &Access,
    pages: &[&Output],
    cache: &IndexCache,
    indexer: &mut Indexer,
) -> Result<Vec<Output>, String> {
    let base_route = base_of(access);
    let full = inputs_of(access, "whole", pages);
    let now = || Base {
        inputs: full.clone(),
        pages: pages.iter().map(|p| (p.route.clone(), p.key.clone())).collect(),
    };
    let mut outputs = Vec::new();
    if let Some(files) = cache.get(&full) {
        outputs.extend(files.iter().map(|f| reused(f, access, &cache.store)));
        outputs.push(segments(access, &full, has_entry(&files), None, &[]));
        cache.insert(full.clone(), files);
        cache.keep_base(access, now());
        return Ok(outputs);
    }
    if let Some((base, base_files)) = cache.bases.get(access).and_then(|b| Some((b, cache.get(&b.inputs)?))) {
        let changed: Vec<&Output> =
            pages.iter().copied().filter(|p| base.pages.get(&p.route) != Some(&p.key)).collect();
        let current: std::collections::HashSet<&str> = pages.iter().map(|p| p.route.as_str()).collect();
        let mut stale: Vec<&str> =
            changed.iter().map(|p| p.route.as_str()).filter(|r| base.pages.contains_key(*r)).collect();
        stale.extend(base.pages.keys().map(String::as_str).filter(|r| !current.contains(r)));
        stale.sort_unstable();
        let limit = DELTA_PAGES.min(pages.len() / 4).max(1);
        // A page that left the scope (deleted, or now under a grant: a preview made a
        // lesson again) must leave its base too: its text was still served there.
        let left = base.pages.keys().any(|r| !current.contains(r.as_str()));
        if !left && changed.len().max(stale.len()) <= limit {
            outputs.extend(base_files.iter().map(|f| reused(f, access, &cache.store)));
            let delta_inputs = inputs_of(access, &format!("delta of {}", base.inputs), &changed);
            let delta = if changed.is_empty() {
                Vec::new()
            } else if let Some(files) = cache.get(&delta_inputs) {
                files.iter().map(|f| reused(f, access, &cache.store)).collect()
            } else {
                let mut built = indexer.build(access, &delta_base(&base_route), &changed, true)?;
                if !has_words(&built) {
                    built.clear();
                }
                built
            };
            let weight = delta_weight(base.pages.len(), changed.len());
            let delta_index = (!delta.is_empty()).then_some((delta_inputs.as_str(), weight));
            outputs.push(segments(access, &base.inputs, has_entry(&base_files), delta_index, &stale));
            if !changed.is_empty() {
                cache.insert(delta_inputs.clone(), delta.iter().map(IndexFile::of).collect());
            }
            outputs.extend(delta);
            cache.insert(base.inputs.clone(), base_files);
            cache.keep_base(access, base.clone());
            return Ok(outputs);
        }
    }
    let mut built = indexer.build(access, &base_route, pages, false)?;
    if *access != Access::Public && !has_words(&built) {
        // An index without a word has no language, and merging it makes Pagefind
        // throw for every search of a student holding the course's grant: a course
        // without one is left out (the browser skips an index it cannot fetch).
        built.clear();
    }
    outputs.push(segments(access, &full, has_entry(&built), None, &[]));
    cache.insert(full.clone(), built.iter().map(IndexFile::of).collect());
    cache.keep_base(access, now());
    outputs.extend(built);
    Ok(outputs)
}

impl IndexFile {
    fn of(output: &Output) -> IndexFile {
        IndexFile { route: output.route.clone(), object: output.key.clone(), size: output.size }
    }
}

fn has_entry(files: &[impl HasRoute]) -> bool {
    files.iter().any(|f| f.route().ends_with("/pagefind-entry.json"))
}

trait HasRoute {
    fn route(&self) -> &str;
}

impl HasRoute for IndexFile {
    fn route(&self) -> &str {
        &self.route
    }
}

impl HasRoute for Output {
    fn route(&self) -> &str {
        &self.route
    }
}

/// The weight of a delta's results against the base's. Pagefind scores each index by its
/// own statistics, and a word found in 1 of 2 delta pages weighs far less than one found
/// in 1 of 1,600 base pages: an exact match in a one-page delta ranked below the base's
/// near matches. The ratio of the two indexes' weights of a word on one page (BM25's
/// idf), held within 1-4 (4 brought a one-page delta's exact match level with the base's).
fn delta_weight(base_pages: usize, delta_pages: usize) -> f64 {
    let idf = |pages: usize| ((pages as f64 - 0.5) / 1.5 + 1.0).ln();
    (idf(base_pages.max(1)) / idf(delta_pages.max(1))).clamp(1.0, 4.0)
}

/// The scope's `segments.json`: `{tag, base, delta, weight, stale}`. `tag` changes with
/// either index, and the browser asks for each entry file with it, so a cached entry of
/// an older index is never used; `base`/`delta` say whether each index exists, `weight`
/// what the delta's scores are multiplied by; `stale` lists the routes whose base entry
/// is out of date (the delta holds the new one, if any).
fn segments(
    access: &Access,
    base_inputs: &str,
    base: bool,
    delta: Option<(&str, f64)>,
    stale: &[&str],
) -> Output {
    let tag = match delta {
        Some((delta, _)) => format!("{}{}", &base_inputs[..10], &delta[..10]),
        None => base_inputs[..20].to_owned(),
    };
    let weight = delta.map_or(1.0, |(_, w)| (w * 100.0).round() / 100.0);
    let body = serde_json::json!({ "tag": tag, "base": base, "delta": delta.is_some(), "weight": weight, "stale": stale });
    Output::new(
        segments_route(access),
        serde_json::to_vec(&body).expect("a segment list serialises"),
        "application/json; charset=utf-8".into(),
        CacheClass::Stable,
        access.clone(),
    )
}

/// Pagefind's indexer, on a runtime started when the first scope needs indexing.
#[derive(Default)]
struct Indexer {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Indexer {
    fn build(
        &mut self,
        access: &Access,
        base: &str,
        pages: &[&Output],
        delta: bool,
    ) -> Result<Vec<Output>, String> {
        let rt = match &mut self.runtime {
            Some(rt) => rt,
            None => self.runtime.insert(
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| format!("starting the indexer: {e}"))?,
            ),
        };
        rt.block_on(build_index(access, base, pages, delta))
    }
}

/// Whether an index holds any word: its entry names at least one language.
fn has_words(files: &[Output]) -> bool {
    let Some(entry) = files.iter().find(|o| o.route.ends_with("/pagefind-entry.json")) else { return false };
    let parsed = entry.bytes().ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    parsed.is_some_and(|v| v["languages"].as_object().is_some_and(|languages| !languages.is_empty()))
}

/// A hash of what an index is built from: Pagefind's version, the scope, which index of
/// it (`kind`: whole, or a delta of which base), its pages.
fn inputs_of(access: &Access, kind: &str, pages: &[&Output]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [env!("CARGO_PKG_VERSION"), "pagefind 1.6", &access.to_string(), kind] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    for page in pages {
        h.update((page.route.len() as u64).to_le_bytes());
        h.update(page.route.as_bytes());
        h.update(page.key.as_str().as_bytes());
    }
    hex::encode(h.finalize())
}

fn reused(file: &IndexFile, access: &Access, store: &Path) -> Output {
    Output {
        route: file.route.clone(),
        key: file.object.clone(),
        size: file.size,
        body: Body::File(store.join(bundle::paths::object_path(&file.object))),
        content_type: content_type_of(&file.route),
        cache: cache_class_of(&file.route),
        access: access.clone(),
    }
}

/// Pagefind's index of `pages`, its files served under `base`. A delta's pages carry the
/// meta `segment: delta`, so the browser tells their results from the base's.
async fn build_index(
    access: &Access,
    base: &str,
    pages: &[&Output],
    delta: bool,
) -> Result<Vec<Output>, String> {
    use pagefind::api::PagefindIndex;
    use pagefind::options::PagefindServiceConfig;
    let config = PagefindServiceConfig::builder().build();
    let mut index = PagefindIndex::new(Some(config)).map_err(|e| format!("starting the indexer: {e}"))?;
    for page in pages {
        let html = page.bytes().map_err(|e| format!("reading {}: {e}", page.route))?;
        let mut html = String::from_utf8_lossy(&html).into_owned();
        if delta {
            mark(&mut html, "segment:delta");
        }
        if page.route == "/" {
            // The home page stands in for a public index of no lesson: never a result.
            mark(&mut html, "standin:home");
        }
        index
            .add_html_file(None, Some(page.route.clone()), html)
            .await
            .map_err(|e| format!("indexing {}: {e}", page.route))?;
    }
    let files = index.get_files().await.map_err(|e| format!("building the search index: {e}"))?;
    let mut outputs = Vec::new();
    for file in files {
        let name = file.filename.to_string_lossy().replace('\\', "/");
        if !wanted(&name, *access == Access::Public && !delta) {
            continue;
        }
        let route = format!("{base}{name}");
        if !bundle::paths::is_route(&route) {
            return Err(format!("the search index names a file {name:?} that is no route"));
        }
        let (content_type, cache) = (content_type_of(&name), cache_class_of(&name));
        outputs.push(Output::new(route, file.contents, content_type, cache, access.clone()));
    }
    Ok(outputs)
}

/// Puts a `key:value` meta right inside `<body>` (or first, without one).
fn mark(html: &mut String, meta: &str) {
    let mark = format!("<i data-pagefind-meta=\"{meta}\" hidden></i>");
    let at = html.find("<body").and_then(|b| html[b..].find('>').map(|e| b + e + 1)).unwrap_or(0);
    html.insert_str(at, &mark);
}

/// The index files, and for the public index also the JS, its worker and the
/// WebAssembly (merged indexes use the primary's); not Pagefind's own UIs, highlighter
/// or playground (the theme has its search box).
fn wanted(name: &str, with_runtime: bool) -> bool {
    let index_file = name == "pagefind-entry.json"
        || name.ends_with(".pf_meta")
        || name.starts_with("index/")
        || name.starts_with("fragment/")
        || name.starts_with("filter/");
    let runtime = name == "pagefind.js" || name == "pagefind-worker.js" || name.starts_with("wasm.");
    index_file || (runtime && with_runtime)
}

/// Chunks are named by their hash; the entry, JS and WebAssembly keep their names.
fn cache_class_of(name: &str) -> CacheClass {
    let hashed = [".pf_meta", ".pf_index", ".pf_fragment", ".pf_filter"];
    if hashed.iter().any(|ext| name.ends_with(ext)) {
        CacheClass::Immutable
    } else {
        CacheClass::Stable
    }
}

fn content_type_of(name: &str) -> String {
    if name.ends_with(".js") {
        "application/javascript; charset=utf-8".into()
    } else if name.ends_with(".json") {
        "application/json; charset=utf-8".into()
    } else {
        // Chunks and WebAssembly come gzipped by Pagefind, which inflates them itself.
        "application/octet-stream".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(route: &str, access: Access, body: &str) -> Output {
        let html = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><title>t</title></head><body>\
             <h1 data-pagefind-meta=\"title\">Title of {route}</h1>\
             <article data-pagefind-body><p>{body}</p></article></body></html>"
        );
        Output::new(
            route.into(),
            html.into_bytes(),
            "text/html; charset=utf-8".into(),
            CacheClass::Stable,
            access,
        )
    }

    fn text_of(outputs: &[Output], prefix: &str) -> Vec<u8> {
        // Chunks are gzipped: inflate to look for words.
        use std::io::Read;
        let mut all = Vec::new();
        for o in outputs.iter().filter(|o| o.route.starts_with(prefix)) {
            let bytes = o.bytes().expect("bytes").into_owned();
            let mut inflated = Vec::new();
            if flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut inflated).is_ok() {
                all.extend(inflated);
            }
            all.extend(bytes);
        }
        all
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn enrolled_lessons_are_indexed_only_under_their_course() {
        let ds = Access::Course("ds".into());
        let pages = [
            lesson("/courses/py/a/", Access::Public, "zanzibarian public words"),
            lesson("/courses/ds/b/", ds.clone(), "quetzalcoatlic enrolled words"),
        ];
        let outputs = index(&pages, None, &IndexCache::default()).expect("index");
        let public = text_of(&outputs, PUBLIC_BASE);
        let enrolled = text_of(&outputs, "/courses/ds/_search/");
        assert!(contains(&public, "zanzibarian"), "the public lesson is in the public index");
        assert!(!contains(&public, "quetzalcoatl"), "no enrolled word in the public index");
        assert!(contains(&enrolled, "quetzalcoatl"), "the enrolled lesson is in its course's index");
        assert!(!contains(&enrolled, "zanzibar"));
        for o in &outputs {
            let expected = if o.route.starts_with(PUBLIC_BASE) { Access::Public } else { ds.clone() };
            assert!(!o.route.contains("/delta/"), "a first build has no delta: {}", o.route);
            assert_eq!(o.access, expected, "{}", o.route);
        }
        let routes: Vec<&str> = outputs.iter().map(|o| o.route.as_str()).collect();
        assert!(routes.contains(&"/_search/pagefind.js") && routes.contains(&"/_search/pagefind-entry.json"));
        assert!(routes.contains(&"/courses/ds/_search/pagefind-entry.json"));
        assert!(
            !routes.iter().any(|r| r.starts_with("/courses/ds/_search/pagefind") && r.ends_with(".js")),
            "merged indexes use the public runtime"
        );
        assert!(outputs
            .iter()
            .filter(|o| o.route.ends_with(".pf_index") || o.route.ends_with(".pf_fragment"))
            .all(|o| o.cache == CacheClass::Immutable));
    }

    #[test]
    fn an_enrolled_course_without_a_word_gets_no_index_to_break_the_merge() {
        let ds = Access::Course("ds".into());
        let pages = [
            lesson("/courses/py/a/", Access::Public, "zanzibarian public words"),
            lesson("/courses/ds/b/", ds, ""),
        ];
        let outputs = index(&pages, None, &IndexCache::default()).expect("index");
        let own: Vec<&str> =
            outputs.iter().map(|o| o.route.as_str()).filter(|r| r.starts_with("/courses/ds/")).collect();
        assert_eq!(own, ["/courses/ds/_search/segments.json"], "no index for a wordless course");
        let segments = outputs.iter().find(|o| o.route == own[0]).expect("segments");
        let segments: serde_json::Value =
            serde_json::from_slice(&segments.bytes().expect("bytes")).expect("json");
        assert_eq!(segments["base"], false, "{segments}");
        assert!(outputs.iter().any(|o| o.route == "/_search/pagefind-entry.json"));
        assert!(has_words(&outputs));
    }

    #[test]
    fn an_unchanged_scope_is_reused_from_the_cache() {
        let store = tempfile::tempdir().expect("tempdir");
        let pages = [lesson("/courses/py/a/", Access::Public, "words")];
        let cache = IndexCache::load(store.path(), &store.path().join("none"));
        let first = index(&pages, None, &cache).expect("index");
        // Not yet in the store: built again.
        assert!(first.iter().all(|o| matches!(o.body, Body::Bytes(_))));
        // (The segment list is written each time: a few bytes.)
        for o in &first {
            let path = store.path().join(bundle::paths::object_path(&o.key));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, o.bytes().expect("bytes")).expect("write");
        }
        cache.save(&store.path().join("search")).expect("save");
        let cache = IndexCache::load(store.path(), &store.path().join("search"));
        let second = index(&pages, None, &cache).expect("index");
        assert!(
            second
                .iter()
                .filter(|o| !o.route.ends_with("segments.json"))
                .all(|o| matches!(o.body, Body::File(_))),
            "reused from the store"
        );
        let keys =
            |v: &[Output]| v.iter().map(|o| (o.route.clone(), o.key.clone())).collect::<BTreeMap<_, _>>();
        assert_eq!(keys(&first), keys(&second));
    }

    /// Writes `outputs` into `store` as a build would, and saves and reloads the cache.
    fn stored(store: &Path, outputs: &[Output], cache: &IndexCache) -> IndexCache {
        for o in outputs {
            let path = store.join(bundle::paths::object_path(&o.key));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, o.bytes().expect("bytes")).expect("write");
        }
        cache.save(&store.join("search")).expect("save");
        IndexCache::load(store, &store.join("search"))
    }

    fn segments_of(outputs: &[Output], route: &str) -> serde_json::Value {
        let o = outputs.iter().find(|o| o.route == route).expect("segments.json");
        serde_json::from_slice(&o.bytes().expect("bytes")).expect("json")
    }

    fn routes_under<'a>(outputs: &'a [Output], prefix: &str) -> Vec<&'a str> {
        outputs.iter().map(|o| o.route.as_str()).filter(|r| r.starts_with(prefix)).collect()
    }

    /// Twelve public lessons, a cache on `store`, and their first index.
    fn twelve_public_lessons(store: &Path) -> (Vec<Output>, IndexCache, Vec<Output>) {
        let pages: Vec<Output> = (0..12)
            .map(|i| {
                lesson(&format!("/courses/py/l{i:02}/"), Access::Public, &format!("common words lesson{i}"))
            })
            .collect();
        let cache = IndexCache::load(store, &store.join("none"));
        let first = index(&pages, None, &cache).expect("index");
        (pages, cache, first)
    }

    #[test]
    fn an_edited_lesson_goes_into_a_delta_and_its_base_entry_is_listed_stale() {
        let store = tempfile::tempdir().expect("tempdir");
        let (mut pages, cache, first) = twelve_public_lessons(store.path());
        let base_files: BTreeMap<String, ObjectKey> = first
            .iter()
            .filter(|o| !o.route.ends_with("segments.json"))
            .map(|o| (o.route.clone(), o.key.clone()))
            .collect();
        let cache = stored(store.path(), &first, &cache);

        // One lesson edited, one added.
        pages[3] = lesson("/courses/py/l03/", Access::Public, "common words xylophonist");
        pages.push(lesson("/courses/py/new/", Access::Public, "common words quokkas"));
        let second = index(&pages, None, &cache).expect("index");
        for (route, key) in &base_files {
            let now = second.iter().find(|o| &o.route == route).unwrap_or_else(|| panic!("{route} kept"));
            assert_eq!(&now.key, key, "the base is reused as it was: {route}");
            assert!(matches!(now.body, Body::File(_)), "from the store, not indexed again: {route}");
        }
        let delta = text_of(&second, "/_search/delta/");
        assert!(contains(&delta, "xylophonist") && contains(&delta, "quokkas"), "changed pages in the delta");
        assert!(!contains(&delta, "lesson1"), "unchanged pages are not");
        assert!(contains(&delta, "segment"), "delta results carry their segment mark");
        assert!(routes_under(&second, "/_search/delta/").contains(&"/_search/delta/pagefind-entry.json"));
        assert!(
            !routes_under(&second, "/_search/delta/")
                .iter()
                .any(|r| r.ends_with(".js") || r.contains("wasm.")),
            "the delta uses the base's runtime"
        );
        let segments = segments_of(&second, "/_search/segments.json");
        assert_eq!(segments["base"], true);
        assert_eq!(segments["delta"], true);
        assert_eq!(segments["stale"], serde_json::json!(["/courses/py/l03/"]), "the edited page");
        assert_ne!(segments["tag"], segments_of(&first, "/_search/segments.json")["tag"], "a new tag");

        // The same pages again: nothing is indexed; a delta of the same pages is reused.
        let cache = stored(store.path(), &second, &cache);
        let third = index(&pages, None, &cache).expect("index");
        assert!(third
            .iter()
            .filter(|o| !o.route.ends_with("segments.json"))
            .all(|o| matches!(o.body, Body::File(_))));
        assert_eq!(segments_of(&third, "/_search/segments.json"), segments);

        // A page leaves the scope (deleted, or moved under a grant): indexed whole, so its
        // text is no longer in a public base.
        let cache = stored(store.path(), &third, &cache);
        pages.remove(7);
        let fourth = index(&pages, None, &cache).expect("index");
        assert_eq!(segments_of(&fourth, "/_search/segments.json")["delta"], false);
        assert!(routes_under(&fourth, "/_search/delta/").is_empty());
        assert!(!contains(&text_of(&fourth, "/_search/"), "lesson7"), "the page that left is gone");
    }

    #[test]
    fn a_delta_outgrowing_its_limit_is_folded_into_a_new_base() {
        let store = tempfile::tempdir().expect("tempdir");
        let (mut pages, cache, first) = twelve_public_lessons(store.path());
        let mut cache = stored(store.path(), &first, &cache);
        // A quarter of 12 pages (3) may go into a delta; a fourth changed page rebuilds.
        for (edit, expect_delta) in [(0, true), (1, true), (2, true), (4, false)] {
            pages[edit] =
                lesson(&pages[edit].route.clone(), Access::Public, &format!("edited words edit{edit}"));
            let outputs = index(&pages, None, &cache).expect("index");
            let segments = segments_of(&outputs, "/_search/segments.json");
            assert_eq!(segments["delta"], expect_delta, "after editing page {edit}: {segments}");
            if !expect_delta {
                assert_eq!(segments["stale"], serde_json::json!([]));
                assert!(routes_under(&outputs, "/_search/delta/").is_empty());
                let public = text_of(&outputs, "/_search/");
                assert!(
                    contains(&public, "edit0") && contains(&public, "edit4"),
                    "every edit in the new base"
                );
            }
            cache = stored(store.path(), &outputs, &cache);
        }
    }

    #[test]
    fn an_enrolled_course_keeps_its_own_delta_under_its_grant() {
        let store = tempfile::tempdir().expect("tempdir");
        let ds = Access::Course("ds".into());
        let mut pages: Vec<Output> = (0..8)
            .map(|i| lesson(&format!("/courses/ds/l{i}/"), ds.clone(), &format!("enrolled words lesson{i}")))
            .chain([lesson("/courses/py/a/", Access::Public, "public words")])
            .collect();
        let cache = IndexCache::load(store.path(), &store.path().join("none"));
        let first = index(&pages, None, &cache).expect("index");
        let cache = stored(store.path(), &first, &cache);
        pages[2] = lesson("/courses/ds/l2/", ds.clone(), "enrolled words pangolinish");
        let second = index(&pages, None, &cache).expect("index");
        assert!(text_of(&second, "/courses/ds/_search/delta/").windows(11).any(|w| w == b"pangolinish"));
        assert!(
            !contains(&text_of(&second, "/_search/"), "pangolin"),
            "nothing enrolled in the public index"
        );
        for o in second.iter().filter(|o| o.route.starts_with("/courses/ds/")) {
            assert_eq!(o.access, ds, "{}", o.route);
        }
        assert_eq!(
            segments_of(&second, "/_search/segments.json")["delta"],
            false,
            "the public scope is unchanged"
        );
        assert_eq!(
            segments_of(&second, "/courses/ds/_search/segments.json")["stale"],
            serde_json::json!(["/courses/ds/l2/"])
        );
    }

    #[test]
    fn with_every_course_enrolled_the_public_index_is_of_the_home_page() {
        let ds = Access::Course("ds".into());
        let pages = [lesson("/courses/ds/a/", ds, "enrolled words only")];
        let home = lesson("/", Access::Public, "welcome to the catalogue");
        let outputs = index(&pages, Some(&home), &IndexCache::default()).expect("index");
        let public: Vec<Output> =
            outputs.iter().filter(|o| o.route.starts_with(PUBLIC_BASE)).cloned().collect();
        assert!(has_words(&public), "the public index has a language, so Pagefind starts");
        assert!(contains(&text_of(&outputs, PUBLIC_BASE), "catalogue"));
        assert!(contains(&text_of(&outputs, PUBLIC_BASE), "standin"), "marked, so no result shows it");
        assert!(!contains(&text_of(&outputs, PUBLIC_BASE), "enrolled"));
    }
}
