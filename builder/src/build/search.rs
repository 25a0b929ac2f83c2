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
//! Pagefind builds an index whole, so an index is rebuilt when any page in its scope
//! changed and reused (from the store) when none did: editing one enrolled lesson
//! re-indexes that course only, editing a public one re-indexes the public pages.

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

/// One file of a built index, as the cache remembers it.
#[derive(Clone, Debug)]
struct IndexFile {
    route: String,
    object: ObjectKey,
    size: u64,
}

/// Built indexes by a hash of the pages they were built from (the page routes and
/// objects), so a scope whose pages are unchanged is not indexed again.
#[derive(Default)]
pub struct IndexCache {
    store: PathBuf,
    known: HashMap<String, Vec<IndexFile>>,
    current: Mutex<HashMap<String, Vec<IndexFile>>>,
}

impl IndexCache {
    /// Lines of `<inputs> <route> <object> <size>`.
    pub(crate) fn load(store: &Path, path: &Path) -> IndexCache {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut known: HashMap<String, Vec<IndexFile>> = HashMap::default();
        for line in text.lines() {
            let mut fields = line.split(' ');
            let (Some(inputs), Some(route), Some(object), Some(size), None) =
                (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Ok(object), Ok(size)) = (object.parse(), size.parse()) else { continue };
            if !bundle::paths::is_route(route) {
                continue;
            }
            let file = IndexFile { route: route.to_owned(), object, size };
            known.entry(inputs.to_owned()).or_default().push(file);
        }
        IndexCache { store: store.to_owned(), known, current: Mutex::default() }
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
        self.current.lock().expect("index cache lock").insert(inputs, files);
    }

    /// What this build used becomes what the next one may reuse.
    pub(crate) fn advance(&mut self) {
        let current = std::mem::take(self.current.get_mut().expect("index cache lock"));
        self.known.extend(current);
    }

    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let current = self.current.lock().expect("index cache lock");
        let mut lines: Vec<String> = current
            .iter()
            .flat_map(|(inputs, files)| {
                files.iter().map(move |f| format!("{inputs} {} {} {}", f.route, f.object, f.size))
            })
            .collect();
        lines.sort();
        let mut text = lines.join("\n");
        text.push('\n');
        crate::build::local_store::write_atomic(path, text.as_bytes())
    }
}

/// The index files of every scope the `lessons` (lesson pages) fall in.
pub(crate) fn index(lessons: &[Output], cache: &IndexCache) -> Result<Vec<Output>, String> {
    let mut scopes: BTreeMap<&Access, Vec<&Output>> = BTreeMap::new();
    for page in lessons {
        scopes.entry(&page.access).or_default().push(page);
    }
    // The public index carries the JS and WebAssembly every search loads: it is built
    // even with no public lesson.
    scopes.entry(&Access::Public).or_default();
    let mut outputs = Vec::new();
    let mut runtime: Option<tokio::runtime::Runtime> = None;
    for (access, mut pages) in scopes {
        pages.sort_by(|a, b| a.route.cmp(&b.route));
        let inputs = inputs_of(access, &pages);
        if let Some(files) = cache.get(&inputs) {
            outputs.extend(files.iter().map(|f| reused(f, access, &cache.store)));
            cache.insert(inputs, files);
            continue;
        }
        let rt = match &mut runtime {
            Some(rt) => rt,
            None => runtime.insert(
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| format!("starting the indexer: {e}"))?,
            ),
        };
        let mut built = rt.block_on(build_index(access, &pages))?;
        if *access != Access::Public && !has_words(&built) {
            // An index without a word has no language, and merging it makes Pagefind
            // throw for every search of a student holding the course's grant: a course
            // without one is left out (the browser skips an index it cannot fetch).
            built.clear();
        }
        let files =
            built.iter().map(|o| IndexFile { route: o.route.clone(), object: o.key.clone(), size: o.size });
        cache.insert(inputs, files.collect());
        outputs.extend(built);
    }
    Ok(outputs)
}

/// Whether an index holds any word: its entry names at least one language.
fn has_words(files: &[Output]) -> bool {
    let Some(entry) = files.iter().find(|o| o.route.ends_with("/pagefind-entry.json")) else { return false };
    let parsed = entry.bytes().ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    parsed.is_some_and(|v| v["languages"].as_object().is_some_and(|languages| !languages.is_empty()))
}

/// A hash of what an index is built from: Pagefind's version, the scope, its pages.
fn inputs_of(access: &Access, pages: &[&Output]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [env!("CARGO_PKG_VERSION"), "pagefind 1.6", &access.to_string()] {
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

async fn build_index(access: &Access, pages: &[&Output]) -> Result<Vec<Output>, String> {
    use pagefind::api::PagefindIndex;
    use pagefind::options::PagefindServiceConfig;
    let config = PagefindServiceConfig::builder().build();
    let mut index = PagefindIndex::new(Some(config)).map_err(|e| format!("starting the indexer: {e}"))?;
    for page in pages {
        let html = page.bytes().map_err(|e| format!("reading {}: {e}", page.route))?;
        let html = String::from_utf8_lossy(&html).into_owned();
        index
            .add_html_file(None, Some(page.route.clone()), html)
            .await
            .map_err(|e| format!("indexing {}: {e}", page.route))?;
    }
    let files = index.get_files().await.map_err(|e| format!("building the search index: {e}"))?;
    let base = base_of(access);
    let mut outputs = Vec::new();
    for file in files {
        let name = file.filename.to_string_lossy().replace('\\', "/");
        if !wanted(&name, access) {
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

/// The index files, and for the public index also the JS, its worker and the
/// WebAssembly (merged indexes use the primary's); not Pagefind's own UIs, highlighter
/// or playground (the theme has its search box).
fn wanted(name: &str, access: &Access) -> bool {
    let index_file = name == "pagefind-entry.json"
        || name.ends_with(".pf_meta")
        || name.starts_with("index/")
        || name.starts_with("fragment/")
        || name.starts_with("filter/");
    let runtime = name == "pagefind.js" || name == "pagefind-worker.js" || name.starts_with("wasm.");
    index_file || (runtime && *access == Access::Public)
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
        let outputs = index(&pages, &IndexCache::default()).expect("index");
        let public = text_of(&outputs, PUBLIC_BASE);
        let enrolled = text_of(&outputs, "/courses/ds/_search/");
        assert!(contains(&public, "zanzibarian"), "the public lesson is in the public index");
        assert!(!contains(&public, "quetzalcoatl"), "no enrolled word in the public index");
        assert!(contains(&enrolled, "quetzalcoatl"), "the enrolled lesson is in its course's index");
        assert!(!contains(&enrolled, "zanzibar"));
        for o in &outputs {
            let expected = if o.route.starts_with(PUBLIC_BASE) { Access::Public } else { ds.clone() };
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
        let outputs = index(&pages, &IndexCache::default()).expect("index");
        assert!(
            outputs.iter().all(|o| !o.route.starts_with("/courses/ds/")),
            "no index for a wordless course"
        );
        assert!(outputs.iter().any(|o| o.route == "/_search/pagefind-entry.json"));
        assert!(has_words(&outputs));
    }

    #[test]
    fn an_unchanged_scope_is_reused_from_the_cache() {
        let store = tempfile::tempdir().expect("tempdir");
        let pages = [lesson("/courses/py/a/", Access::Public, "words")];
        let cache = IndexCache::load(store.path(), &store.path().join("none"));
        let first = index(&pages, &cache).expect("index");
        // Not yet in the store: built again.
        assert!(first.iter().all(|o| matches!(o.body, Body::Bytes(_))));
        for o in &first {
            let path = store.path().join(bundle::paths::object_path(&o.key));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, o.bytes().expect("bytes")).expect("write");
        }
        cache.save(&store.path().join("search")).expect("save");
        let cache = IndexCache::load(store.path(), &store.path().join("search"));
        let second = index(&pages, &cache).expect("index");
        assert!(second.iter().all(|o| matches!(o.body, Body::File(_))), "reused from the store");
        let keys =
            |v: &[Output]| v.iter().map(|o| (o.route.clone(), o.key.clone())).collect::<BTreeMap<_, _>>();
        assert_eq!(keys(&first), keys(&second));
    }
}
