//! What one course's offline copy holds: its page, its lessons, and everything they
//! reference in the release (stylesheets and what they reference, scripts, images,
//! animations and lab apps whole, starter zips), found by reading the rendered pages. The
//! service worker's save list (`/courses/<slug>/_offline.json`) and `course pack` both
//! take their files from here.
//!
//! Only routes the course's readers may read are taken: a public course's copy holds only
//! public routes, an enrolled course's its own and public ones, never another course's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bundle::{Access, ObjectKey};
use lol_html::{element, text, HtmlRewriter, Settings};
use rustc_hash::FxHashMap as HashMap;

use crate::build::output::Output;

/// The save list's route for course `slug`.
pub fn list_route(slug: &str) -> String {
    format!("{}_offline.json", bundle::paths::course_prefix(slug))
}

/// The course's page and lessons: routes `/courses/<slug>/` and `/courses/<slug>/<x>/`
/// that are HTML.
fn course_pages(routes: &BTreeMap<&str, &Output>, slug: &str) -> Vec<String> {
    let prefix = bundle::paths::course_prefix(slug);
    routes
        .range(prefix.as_str()..)
        .take_while(|(r, _)| r.starts_with(&prefix))
        .filter(|(r, o)| {
            let rest = &r[prefix.len()..];
            let is_page = rest.is_empty() || (rest.ends_with('/') && rest.matches('/').count() == 1);
            is_page && !rest.starts_with('_') && o.content_type.starts_with("text/html")
        })
        .map(|(r, _)| (*r).to_owned())
        .collect()
}

/// Who may read the copy of a course whose page has `page_access`: its readers.
fn readable(copy: &Access, route: &Access) -> bool {
    route == &Access::Public || route == copy
}

/// The references of pages and stylesheets by their object key (they follow from the
/// bytes), so a rebuild parses only the pages rendered anew: without it, listing every
/// course read and parsed all 2,000 pages of a catalogue on each build (5 s). Kept as the
/// journal's text (a line's routes, split when a course is crawled), without links to
/// pages: parsing and writing 320,000 routes (12 MB) on each build was a fifth of a
/// one-lesson rebuild.
///
/// And the save lists built, by a hash of what a course's list follows from (its own
/// routes and the site's), so only a course whose routes changed is crawled again.
#[derive(Default)]
pub struct ReferenceCache {
    store: PathBuf,
    known: HashMap<ObjectKey, Arc<str>>,
    lists: HashMap<String, (ObjectKey, u64)>,
    current: Mutex<Used>,
}

/// What one build used (or kept) of the cache.
#[derive(Default)]
struct Used {
    refs: HashMap<ObjectKey, Arc<str>>,
    lists: HashMap<String, (ObjectKey, u64)>,
}

impl ReferenceCache {
    /// Lines of `<object> <route> <route>...` and `list <inputs> <object> <size>`.
    pub(crate) fn load(store: &Path, path: &Path) -> ReferenceCache {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut cache = ReferenceCache { store: store.to_owned(), ..Default::default() };
        for line in text.lines() {
            let (first, rest) = line.split_once(' ').unwrap_or((line, ""));
            if first == "list" {
                let fields: Vec<&str> = rest.split(' ').collect();
                if let [inputs, object, size] = fields[..] {
                    if let (Ok(object), Ok(size)) = (object.parse(), size.parse()) {
                        cache.lists.insert(inputs.to_owned(), (object, size));
                    }
                }
            } else if let Ok(key) = first.parse::<ObjectKey>() {
                cache.known.insert(key, Arc::from(rest));
            }
        }
        cache
    }

    fn of(&self, output: &Output) -> std::io::Result<Vec<String>> {
        let line = match self.known.get(&output.key) {
            Some(line) => line.clone(),
            None => {
                // Links to pages (routes ending in `/`, nine in ten references) are left
                // out: a copy takes its course's pages by their routes, and never another's.
                let refs = references(output)?;
                let kept: Vec<&str> = refs
                    .iter()
                    .map(String::as_str)
                    .filter(|r| is_listed_route(r) && !r.ends_with('/'))
                    .collect();
                Arc::from(kept.join(" "))
            }
        };
        let refs = line.split(' ').filter(|r| bundle::paths::is_route(r)).map(str::to_owned).collect();
        self.current.lock().expect("reference cache lock").refs.insert(output.key.clone(), line);
        Ok(refs)
    }

    /// Carries the references of pages and stylesheets this build did not crawl into the
    /// journal, for a later build that does.
    fn keep<'a>(&self, outputs: impl Iterator<Item = &'a Output>) {
        let mut current = self.current.lock().expect("reference cache lock");
        for o in outputs {
            if let Some(line) = self.known.get(&o.key) {
                current.refs.entry(o.key.clone()).or_insert_with(|| line.clone());
            }
        }
    }

    /// A stored save list built from `inputs`, if its object is in the store.
    fn list(&self, inputs: &str) -> Option<(ObjectKey, u64)> {
        let (object, size) = self.lists.get(inputs)?;
        let path = self.store.join(bundle::paths::object_path(object));
        std::fs::metadata(path).is_ok_and(|m| m.len() == *size).then(|| (object.clone(), *size))
    }

    fn insert_list(&self, inputs: String, list: (ObjectKey, u64)) {
        self.current.lock().expect("reference cache lock").lists.insert(inputs, list);
    }

    /// What this build used becomes what the next one may reuse.
    pub(crate) fn advance(&mut self) {
        let current = std::mem::take(self.current.get_mut().expect("reference cache lock"));
        self.known = current.refs;
        self.lists = current.lists;
    }

    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let current = self.current.lock().expect("reference cache lock");
        let mut lines: Vec<String> = current.refs.iter().map(|(key, line)| format!("{key} {line}")).collect();
        lines.extend(
            current.lists.iter().map(|(inputs, (object, size))| format!("list {inputs} {object} {size}")),
        );
        lines.sort_unstable();
        let mut text = lines.join("\n");
        text.push('\n');
        crate::build::local_store::write_atomic(path, text.as_bytes())
    }
}

/// A route an offline copy may take: not the search indexes (a copy searches nothing
/// offline, and a delta index changes on every build) and not the save lists themselves.
fn is_listed_route(route: &str) -> bool {
    bundle::paths::is_route(route) && !route.contains("/_search/") && !route.ends_with("/_offline.json")
}

/// The references in an HTML page or stylesheet to other routes of the site (absolute
/// paths, without their query or fragment).
pub(crate) fn references(output: &Output) -> std::io::Result<Vec<String>> {
    let bytes = output.bytes()?;
    let found = std::cell::RefCell::new(Vec::new());
    if output.content_type.starts_with("text/html") {
        let mut rewriter = HtmlRewriter::new(
            Settings::new()
                .append_element_content_handler(element!("*", |el| {
                    for attr in el.attributes() {
                        let name = attr.name();
                        if matches!(name.as_str(), "href" | "src" | "poster" | "data" | "action")
                            || name.starts_with("data-")
                        {
                            found
                                .borrow_mut()
                                .push(html_escape::decode_html_entities(&attr.value()).into_owned());
                        }
                    }
                    Ok(())
                }))
                // A <noscript>'s markup (the theme's noscript.css) is text to the parser.
                .append_element_content_handler(text!("noscript", |t| {
                    found.borrow_mut().extend(quoted_links(t.as_str()).into_iter().map(|(_, v)| v));
                    Ok(())
                })),
            |_: &[u8]| {},
        );
        rewriter.write(&bytes).map_err(std::io::Error::other)?;
        rewriter.end().map_err(std::io::Error::other)?;
    } else if output.content_type.starts_with("text/css") {
        found.borrow_mut().extend(css_urls(&String::from_utf8_lossy(&bytes)));
    }
    Ok(found.into_inner().into_iter().filter_map(|v| site_path(&v)).collect())
}

/// The `href="..."` and `src="..."` values in markup held as text (a <noscript>'s): each
/// value's byte range in `text` and its decoded value.
pub(crate) fn quoted_links(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = [text[at..].find("href=\""), text[at..].find("src=\"")].into_iter().flatten().min()
    {
        let start = at + pos + text[at + pos..].find('"').map_or(0, |q| q + 1);
        let Some(len) = text[start..].find('"') else { break };
        let value = html_escape::decode_html_entities(&text[start..start + len]).into_owned();
        found.push((start..start + len, value));
        at = start + len;
    }
    found
}

/// `url(...)` and `@import "..."` references of a stylesheet.
pub(crate) fn css_urls(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(at) = [rest.find("url("), rest.find("@import")].into_iter().flatten().min() {
        let after = &rest[at..];
        let skip = if after.starts_with("url(") { 4 } else { 7 };
        let body = after[skip..].trim_start();
        if skip == 7 && body.starts_with("url(") {
            rest = &rest[at + skip..]; // `@import url(...)`: the url( is next
            continue;
        }
        let (value, len) = match body.chars().next() {
            Some(q @ ('"' | '\'')) => match body[1..].find(q) {
                Some(end) => (&body[1..1 + end], end + 2),
                None => break,
            },
            _ => match body.find(')') {
                Some(end) => (body[..end].trim(), end),
                None => break,
            },
        };
        urls.push(value.to_owned());
        let consumed = at + skip + (after[skip..].len() - body.len()) + len;
        rest = &rest[consumed.min(rest.len())..];
    }
    urls
}

/// `/path?query#fragment` -> `/path`, for same-site absolute paths only.
pub(crate) fn site_path(value: &str) -> Option<String> {
    let value = value.trim();
    if !value.starts_with('/') || value.starts_with("//") {
        return None;
    }
    let end = value.find(['?', '#']).unwrap_or(value.len());
    Some(value[..end].to_owned())
}

/// Routes of a tree-hash bundle (`.../labs/<hash>/`, `.../animations/<hash>/`) a route is in:
/// a lab's or Lottie's files refer to each other relatively, so the bundle goes whole.
fn bundle_dir(route: &str) -> Option<&str> {
    for marker in ["/labs/", "/animations/"] {
        if let Some(at) = route.find(marker) {
            let start = at + marker.len();
            let end = start + route[start..].find('/')?;
            return Some(&route[..=end]);
        }
    }
    None
}

/// The routes of course `slug`'s offline copy (page, lessons, what they use), sorted;
/// `None` if the release has no such course page.
pub fn course_files(
    outputs: &[Output],
    slug: &str,
    refs: &ReferenceCache,
) -> std::io::Result<Option<BTreeSet<String>>> {
    let routes: BTreeMap<&str, &Output> = outputs.iter().map(|o| (o.route.as_str(), o)).collect();
    let enrolled = enrolled_slugs(outputs.iter());
    files_of(&routes, &enrolled, slug, refs)
}

/// The slugs of the courses that have routes only their students read.
fn enrolled_slugs<'a>(outputs: impl Iterator<Item = &'a Output>) -> BTreeSet<&'a str> {
    outputs
        .filter_map(|o| match &o.access {
            Access::Course(slug) => Some(slug.as_str()),
            Access::Public => None,
        })
        .collect()
}

fn files_of(
    routes: &BTreeMap<&str, &Output>,
    enrolled: &BTreeSet<&str>,
    slug: &str,
    refs: &ReferenceCache,
) -> std::io::Result<Option<BTreeSet<String>>> {
    let Some(page) = routes.get(bundle::paths::course_prefix(slug).as_str()) else { return Ok(None) };
    // The copy is read by whoever reads the course's lessons: an enrolled course's
    // students (even where its page is public).
    let copy = if enrolled.contains(slug) { Access::Course(slug.to_owned()) } else { page.access.clone() };
    let mut taken = BTreeSet::new();
    let mut queue: Vec<String> = course_pages(routes, slug);
    while let Some(route) = queue.pop() {
        let Some(output) = routes.get(route.as_str()) else { continue };
        if !is_listed_route(&route) || !readable(&copy, &output.access) || !taken.insert(route.clone()) {
            continue;
        }
        if let Some(dir) = bundle_dir(&route) {
            let whole = routes.range(dir..).take_while(|(r, _)| r.starts_with(dir));
            queue.extend(whole.map(|(r, _)| r.to_string()).filter(|r| !taken.contains(r)));
            continue;
        }
        let crawl = output.content_type.starts_with("text/css")
            || (output.content_type.starts_with("text/html") && route.starts_with("/courses/"));
        if crawl {
            // What the course's pages use: its own routes, and the site's assets and
            // bundles; other courses' pages and the site's own pages are linked to, not taken.
            let own = bundle::paths::course_prefix(slug);
            queue.extend(refs.of(output)?.into_iter().filter(|r| {
                let html = routes.get(r.as_str()).is_some_and(|o| o.content_type.starts_with("text/html"));
                r.starts_with(&own) || (!r.starts_with("/courses/") && (!html || bundle_dir(r).is_some()))
            }));
        }
    }
    Ok(Some(taken))
}

/// The save list of every course, as outputs: `{course, bytes, files: [{url, object,
/// size}]}`, with the course's access (an enrolled course's only under its grant). A
/// course whose inputs (`list_inputs`) are those of a stored list gets that list again,
/// uncrawled; the others are crawled side by side. `parts` are the release's outputs, in
/// any number of slices.
pub(crate) fn save_lists(
    parts: &[&[Output]],
    slugs: &[&str],
    refs: &ReferenceCache,
) -> std::io::Result<Vec<Output>> {
    use rayon::prelude::*;
    let outputs = || parts.iter().flat_map(|part| part.iter());
    let routes: BTreeMap<&str, &Output> = outputs().map(|o| (o.route.as_str(), o)).collect();
    let enrolled = enrolled_slugs(outputs());
    let site = site_inputs(&routes);
    refs.keep(outputs());
    let lists: Vec<Option<Output>> = slugs
        .par_iter()
        .map(|slug| -> std::io::Result<Option<Output>> {
            let access =
                if enrolled.contains(slug) { Access::Course((*slug).to_owned()) } else { Access::Public };
            let inputs = list_inputs(&routes, &site, slug, &access);
            if let Some((object, size)) = refs.list(&inputs) {
                refs.insert_list(inputs, (object.clone(), size));
                return Ok(Some(Output {
                    route: list_route(slug),
                    body: crate::build::output::Body::File(
                        refs.store.join(bundle::paths::object_path(&object)),
                    ),
                    key: object,
                    size,
                    content_type: "application/json; charset=utf-8".into(),
                    cache: bundle::CacheClass::Stable,
                    access,
                }));
            }
            let Some(files) = files_of(&routes, &enrolled, slug, refs)? else { return Ok(None) };
            let entries: Vec<serde_json::Value> = files
                .iter()
                .filter_map(|r| routes.get(r.as_str()))
                .map(|o| serde_json::json!({ "url": o.route, "object": o.key.as_str(), "size": o.size }))
                .collect();
            let bytes: u64 = files.iter().filter_map(|r| routes.get(r.as_str())).map(|o| o.size).sum();
            let list = serde_json::json!({ "course": slug, "bytes": bytes, "files": entries });
            let body = serde_json::to_vec(&list).expect("a list serialises");
            let output = Output::new(
                list_route(slug),
                body,
                "application/json; charset=utf-8".into(),
                bundle::CacheClass::Stable,
                access,
            );
            refs.insert_list(inputs, (output.key.clone(), output.size));
            Ok(Some(output))
        })
        .collect::<std::io::Result<_>>()?;
    Ok(lists.into_iter().flatten().collect())
}

/// Feeds what a crawl may look at of one route into a hash.
fn hash_route(h: &mut sha2::Sha256, o: &Output) {
    use sha2::Digest;
    // The access as it prints, without a string per route (a site has 10,000 routes).
    let access = match &o.access {
        Access::Public => std::borrow::Cow::Borrowed("public"),
        other => std::borrow::Cow::Owned(other.to_string()),
    };
    for part in [o.route.as_str(), o.key.as_str(), &access, &o.content_type] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
}

/// A hash of the site's routes outside `/courses/` a copy may take (its assets and
/// bundles): every course's list follows from them.
fn site_inputs(routes: &BTreeMap<&str, &Output>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (route, o) in routes.iter().filter(|(r, _)| !r.starts_with("/courses/") && is_listed_route(r)) {
        debug_assert_eq!(*route, o.route);
        hash_route(&mut h, o);
    }
    h.finalize().into()
}

/// A hash of what course `slug`'s list follows from: the builder's version, the site's
/// routes, who reads the copy, and the course's own routes (its pages, their references
/// by their objects, its assets). Other courses' routes are never taken.
fn list_inputs(routes: &BTreeMap<&str, &Output>, site: &[u8; 32], slug: &str, access: &Access) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(site);
    h.update(access.to_string().as_bytes());
    h.update([0]);
    let prefix = bundle::paths::course_prefix(slug);
    let own = routes.range(prefix.as_str()..).take_while(|(r, _)| r.starts_with(&prefix));
    for (_, o) in own.filter(|(r, _)| is_listed_route(r)) {
        hash_route(&mut h, o);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::output::Body;
    use bundle::CacheClass;

    fn out(route: &str, access: Access, ty: &str, body: &str) -> Output {
        Output::new(route.into(), body.as_bytes().to_vec(), ty.into(), CacheClass::Stable, access)
    }

    #[test]
    fn a_course_copy_takes_its_pages_and_what_they_use_and_nothing_of_other_courses() {
        let ds = Access::Course("ds".into());
        let html = "text/html; charset=utf-8";
        let outputs = vec![
            // minijinja writes `/` in attributes as `&#x2f;`.
            out("/courses/ds/", Access::Public, html, "<a href=\"&#x2f;courses&#x2f;ds&#x2f;a&#x2f;\">a</a>"),
            out(
                "/courses/ds/a/",
                ds.clone(),
                html,
                "<link href=\"/assets/site.1.css\"><img src=\"/courses/ds/_/assets/x.1.png\">\
                 <iframe src=\"/courses/ds/_/labs/h1/index.html\"></iframe>\
                 <a href=\"/courses/py/b/#x\">other</a><img src=\"/courses/zz/_/assets/y.png\">",
            ),
            out("/assets/site.1.css", Access::Public, "text/css", "a{background:url(\"/assets/bg.1.svg\")}"),
            out("/assets/bg.1.svg", Access::Public, "image/svg+xml", "<svg/>"),
            out("/courses/ds/_/assets/x.1.png", ds.clone(), "image/png", "png"),
            out("/courses/ds/_/labs/h1/index.html", ds.clone(), html, "<script src=\"app.js\"></script>"),
            out("/courses/ds/_/labs/h1/app.js", ds.clone(), "application/javascript", "1"),
            out("/courses/py/b/", Access::Public, html, "b"),
            out("/courses/zz/_/assets/y.png", Access::Course("zz".into()), "image/png", "secret"),
            out("/assets/unused.1.png", Access::Public, "image/png", "u"),
        ];
        let refs = ReferenceCache::default();
        let files = course_files(&outputs, "ds", &refs).expect("io").expect("a course");
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        assert_eq!(
            files,
            [
                "/assets/bg.1.svg",
                "/assets/site.1.css",
                "/courses/ds/",
                "/courses/ds/_/assets/x.1.png",
                "/courses/ds/_/labs/h1/app.js",
                "/courses/ds/_/labs/h1/index.html",
                "/courses/ds/a/",
            ]
        );
        assert!(course_files(&outputs, "nope", &refs).expect("io").is_none());
        let lists = save_lists(&[&outputs], &["ds", "py"], &refs).expect("lists");
        // The same from the cache of what the pages reference.
        let store = tempfile::tempdir().expect("tempdir");
        refs.save(&store.path().join("refs")).expect("save");
        let cached = ReferenceCache::load(store.path(), &store.path().join("refs"));
        assert!(!cached.known.is_empty());
        let again = course_files(&outputs, "ds", &cached).expect("io").expect("a course");
        assert_eq!(again.iter().map(String::as_str).collect::<Vec<_>>(), files);
        assert_eq!(lists[0].route, "/courses/ds/_offline.json");
        assert_eq!(lists[0].access, ds, "an enrolled course's list is under its grant");
    }

    #[test]
    fn css_references() {
        let css = "@import \"/a.css\"; b{background:url( /b.svg )} c{src:url('/c.woff')}";
        assert_eq!(css_urls(css), ["/a.css", "/b.svg", "/c.woff"]);
        assert_eq!(site_path("/x/?q=1#f").as_deref(), Some("/x/"));
        assert_eq!(site_path("//evil/x"), None);
        assert_eq!(site_path("https://a/"), None);
    }

    #[test]
    fn only_a_course_whose_routes_changed_is_crawled_again() {
        let html = "text/html; charset=utf-8";
        let catalogue = |py_text: &str, css: &str| {
            vec![
                out("/courses/ds/", Access::Public, html, "<link href=\"/assets/site.1.css\">"),
                out("/courses/py/", Access::Public, html, py_text),
                out("/assets/site.1.css", Access::Public, "text/css", css),
                out("/assets/bg.1.svg", Access::Public, "image/svg+xml", "<svg/>"),
                out("/assets/bg.2.svg", Access::Public, "image/svg+xml", "<svg></svg>"),
                out("/_search/segments.json", Access::Public, "application/json", py_text),
            ]
        };
        let store = tempfile::tempdir().expect("tempdir");
        let journal = store.path().join("refs");
        let build = |outputs: &[Output]| {
            let refs = ReferenceCache::load(store.path(), &journal);
            let lists = save_lists(&[outputs], &["ds", "py"], &refs).expect("lists");
            for o in &lists {
                let path = store.path().join(bundle::paths::object_path(&o.key));
                std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
                std::fs::write(path, o.bytes().expect("bytes")).expect("write");
            }
            refs.save(&journal).expect("save");
            lists
        };
        let fresh = |lists: &[Output]| -> Vec<bool> {
            lists.iter().map(|o| matches!(o.body, Body::Bytes(_))).collect()
        };
        let first = build(&catalogue("<link href=\"/assets/site.1.css\">", "a{}"));
        assert_eq!(fresh(&first), [true, true]);
        let again = build(&catalogue("<link href=\"/assets/site.1.css\">", "a{}"));
        assert_eq!(fresh(&again), [false, false], "nothing changed: both lists from the store");
        assert_eq!(
            again.iter().map(|o| &o.key).collect::<Vec<_>>(),
            first.iter().map(|o| &o.key).collect::<Vec<_>>()
        );
        // The py page changes (and a search index with it, which changes no list).
        let edited =
            build(&catalogue("<link href=\"/assets/site.1.css\"><img src=\"/assets/bg.2.svg\">", "a{}"));
        assert_eq!(fresh(&edited), [false, true], "only the edited course is crawled");
        let files = |o: &Output| String::from_utf8(o.bytes().expect("bytes").into_owned()).expect("utf-8");
        assert!(files(&edited[1]).contains("/assets/bg.2.svg") && !files(&edited[1]).contains("_search"));
        let restyled = build(&catalogue(
            "<link href=\"/assets/site.1.css\"><img src=\"/assets/bg.2.svg\">",
            "a{background:url(/assets/bg.1.svg)}",
        ));
        assert_eq!(fresh(&restyled), [true, true], "a site asset changed: every course is crawled");
        assert!(restyled.iter().all(|o| files(o).contains("/assets/bg.1.svg")));
    }
}
