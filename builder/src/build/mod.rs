//! `course build`: content tree -> release in a local directory store.

// The stages, in the order data flows through them: read the content tree, discover the
// catalogue, load the theme, render Markdown (with its fenced blocks), collect what pages
// use, render pages, then store the outputs (compressed) in the local store.
pub(crate) mod assets;
pub(crate) mod cache;
pub(crate) mod catalogue;
pub(crate) mod compress;
pub mod course_files;
pub(crate) mod diagnostics;
pub mod drafts;
pub(crate) mod external;
pub(crate) mod frontmatter;
pub(crate) mod highlight;
pub(crate) mod links;
pub(crate) mod local_store;
pub(crate) mod markdown;
pub(crate) mod output;
pub(crate) mod pages;
pub(crate) mod relpath;
pub(crate) mod sanitize;
pub mod search;
pub(crate) mod theme;
pub(crate) mod tree;
pub(crate) mod uses;

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use std::collections::BTreeSet;

use bundle::size::human_bytes;
use bundle::{Access, CacheClass, ReleaseId};
use minijinja::Value;
use rayon::prelude::*;

use crate::build::assets::Uses;
use crate::build::cache::{BuildCache, CachedPage};
use crate::build::catalogue::Catalogue;
use crate::build::diagnostics::{ContentError, Diagnostics};
pub use crate::build::external::ExternalCheck;
use crate::build::links::PageLinks;
use crate::build::markdown::components::{Components, LabEntry};
use crate::build::markdown::{LinkTargets, MarkdownEnv};
use crate::build::output::{Body, Output};
use crate::build::pages::LessonView;
use crate::build::theme::Theme;
use crate::build::tree::ContentRoot;

/// Route of the not-found page.
pub const NOT_FOUND_ROUTE: &str = "/404.html";
/// Route of the page shown when an enrolled-only page is asked for without a valid grant.
pub const FORBIDDEN_ROUTE: &str = "/403.html";

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub content: PathBuf,
    pub out: PathBuf,
    pub channel: String,
    /// Largest lesson, TOML or instructions file read (bytes).
    pub max_source_bytes: u64,
    /// Include draft courses and lessons, marked as drafts (a preview: the manifest lists
    /// them and `course publish` refuses the release); without, they are left out.
    pub drafts: bool,
    /// Fail (writing nothing) when there are warnings, as when there are errors.
    pub deny_warnings: bool,
    /// Check external (`http:`/`https:`) links too: broken ones are errors.
    pub check_external: Option<ExternalCheck>,
    /// Store brotli and gzip variants of text objects (what students are sent). `course
    /// serve` turns it off: a preview on the author's machine gains nothing from them, and
    /// compressing every page again was most of a theme edit's rebuild there.
    pub precompress: bool,
    /// Build the search index (`build::search`). `course serve` goes without: Pagefind
    /// rebuilds a scope's index whole, seconds on a big catalogue for each edit.
    pub search: bool,
    /// Write each course's save list (`/courses/<slug>/_offline.json`). `course serve`
    /// goes without: its preview registers no service worker, so nothing reads them.
    pub offline_lists: bool,
    /// Hand the release's manifest back in the report (`course serve` gives it to its
    /// origin, which then need not read it back from the store).
    pub keep_manifest: bool,
}

impl BuildOptions {
    /// The usual options: build `content` into `out`'s `live` channel.
    pub fn new(content: PathBuf, out: PathBuf) -> Self {
        BuildOptions {
            content,
            out,
            channel: "live".into(),
            max_source_bytes: crate::build::tree::DEFAULT_MAX_SOURCE_BYTES,
            drafts: false,
            deny_warnings: false,
            check_external: None,
            precompress: true,
            search: true,
            offline_lists: true,
            keep_manifest: false,
        }
    }
}

#[derive(Debug)]
pub struct BuildReport {
    pub release: ReleaseId,
    pub pages: usize,
    /// Pages rendered by this build; the others were unchanged and reused.
    pub pages_rendered: usize,
    pub assets: usize,
    pub objects_total: usize,
    pub objects_written: usize,
    pub bytes_total: u64,
    pub bytes_written: u64,
    pub channel_moved: bool,
    pub elapsed: Duration,
    /// How long each phase took, in order (`course build --timings`).
    pub phases: Vec<(&'static str, Duration)>,
    /// Media, animations and labs that no page uses: not published (a warning).
    pub unpublished: Vec<PathBuf>,
    /// Files the build ignores, lessons in no module, code in unknown languages...
    pub warnings: Vec<ContentError>,
    /// The drafts it left out or included.
    pub drafts: drafts::DraftCount,
    /// The release's manifest, with `BuildOptions::keep_manifest`.
    pub manifest: Option<bundle::Manifest>,
}

impl BuildReport {
    /// Every warning: those in `warnings`, and each file in `unpublished`.
    pub fn warning_count(&self) -> usize {
        self.warnings.len() + self.unpublished.len()
    }
}

/// Times the phases of a build, each from the end of the one before.
pub struct Phases {
    last: Instant,
    pub done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn start() -> Phases {
        Phases { last: Instant::now(), done: Vec::new() }
    }

    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "built {} pages ({} rendered) and {} assets: {} objects ({} new), {} ({} new) in {:.0?}",
            self.pages,
            self.pages_rendered,
            self.assets,
            self.objects_total,
            self.objects_written,
            human_bytes(self.bytes_total),
            human_bytes(self.bytes_written),
            self.elapsed
        )?;
        if !self.drafts.is_empty() {
            writeln!(f, "{}", self.drafts)?;
        }
        match self.warning_count() {
            0 => writeln!(f, "no warnings")?,
            1 => writeln!(f, "1 warning")?,
            n => writeln!(f, "{n} warnings")?,
        }
        let note = if self.channel_moved { "" } else { " (unchanged, already live)" };
        write!(f, "release {}{note}", self.release)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{} content error(s); no release written", .errors.len())]
    Content { errors: Vec<ContentError>, warnings: Vec<ContentError> },
    /// A build with warnings and `deny_warnings`.
    #[error("{} warning(s), denied; no release written", .0.len())]
    Warnings(Vec<ContentError>),
    /// Reading the rendered pages for the courses' offline lists.
    #[error("listing the courses' offline files: {0}")]
    Offline(std::io::Error),
    /// Pagefind failed on the rendered pages (not a content error: a bug to report).
    #[error("building the search index: {0}")]
    Search(String),
    #[error("writing the release to {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Renders `content` into a release under `out` and points the channel at it.
/// Any content error means nothing is written.
pub fn build(options: &BuildOptions) -> Result<BuildReport, BuildError> {
    let cache = BuildCache::open(&options.out);
    let result = build_with(options, &cache);
    drop_aside(cache);
    result
}

/// Drops `value` on another thread: freeing a big catalogue's caches and manifest entry by
/// entry is time a one-shot build's author would wait for, just before the process ends.
fn drop_aside<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// [`build`] with the cache of file hashes and rendered pages kept by the caller across
/// builds (`course serve`), instead of read from `out` each time.
pub fn build_with(options: &BuildOptions, cache: &BuildCache) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    // Read while the pages render: what the store's channel serves now, which spares
    // storing a check of each of its objects.
    let live = {
        let (out, channel) = (options.out.clone(), options.channel.clone());
        std::thread::spawn(move || local_store::live_release(&out, &channel))
    };
    let mut rendered = render(
        &options.content,
        options.max_source_bytes,
        options.drafts,
        options.search,
        options.offline_lists,
        cache,
    )?;
    let mut phases = Phases::start();
    if let Some(check) = &options.check_external {
        let (errors, warnings) = external::check(check, &options.content, &rendered.links);
        rendered.warnings.extend(warnings);
        rendered.warnings.sort();
        phases.lap("check external links");
        if !errors.is_empty() {
            return Err(BuildError::Content { errors, warnings: rendered.warnings });
        }
    }
    if options.deny_warnings && !(rendered.warnings.is_empty() && rendered.unpublished.is_empty()) {
        let unpublished = rendered.unpublished.iter().map(|path| ContentError {
            file: path.clone(),
            line: 1,
            col: 1,
            message: "no page uses this file, so it is not published".into(),
        });
        return Err(BuildError::Warnings(rendered.warnings.into_iter().chain(unpublished).collect()));
    }
    let pages = rendered.pages;
    let assets = rendered.outputs.len() - pages;
    let io_error = |source| BuildError::Io { path: options.out.clone(), source };
    let drafts = std::mem::take(&mut rendered.draft_routes);
    let live = live.join().unwrap_or_default();
    let written = local_store::write_release(
        &options.out,
        live,
        rendered.outputs,
        drafts,
        &options.channel,
        SystemTime::now(),
        options.precompress,
    )
    .map_err(io_error)?;
    phases.lap("store objects, compress, write manifest");
    for (inputs, route, uses, links) in std::mem::take(&mut rendered.fresh_pages) {
        if let Some(r) = written.manifest.routes.get(&route) {
            let uses = uses.into_iter().collect();
            let page = CachedPage { object: r.object.clone(), size: r.size, uses, links };
            cache.pages.insert(inputs, page);
        }
    }
    let manifest = if options.keep_manifest {
        Some(written.manifest)
    } else {
        drop_aside(written.manifest);
        None
    };
    cache.save().map_err(io_error)?;
    phases.lap("save build cache");
    rendered.phases.extend(phases.done);
    Ok(BuildReport {
        phases: rendered.phases,
        release: written.release,
        pages,
        pages_rendered: rendered.pages_rendered,
        assets,
        objects_total: written.objects_total,
        objects_written: written.objects_written,
        bytes_total: written.bytes_total,
        bytes_written: written.bytes_written,
        channel_moved: written.channel_moved,
        elapsed: started.elapsed(),
        unpublished: rendered.unpublished,
        warnings: rendered.warnings,
        drafts: rendered.drafts,
        manifest,
    })
}

pub struct Rendered {
    /// Pages first, then assets.
    pub outputs: Vec<Output>,
    pub pages: usize,
    pub pages_rendered: usize,
    /// (inputs hash, route, uses, links) of each page rendered now, for the page cache.
    pub(crate) fresh_pages: Vec<(String, String, Uses, Arc<PageLinks>)>,
    /// The links of every page (rendered now or reused), for `--check-external`.
    pub(crate) links: Vec<Arc<PageLinks>>,
    pub phases: Vec<(&'static str, Duration)>,
    /// Sources of assets no page uses (not published).
    pub unpublished: Vec<PathBuf>,
    pub warnings: Vec<ContentError>,
    /// Routes of the draft pages included (the manifest's `drafts`).
    pub draft_routes: Vec<String>,
    pub drafts: drafts::DraftCount,
}

/// Renders every page (reusing those whose inputs are unchanged) and collects the assets
/// they use; with `drafts`, the drafts too (else they are left out).
pub fn render(
    content: &Path,
    max_source_bytes: u64,
    drafts: bool,
    search: bool,
    offline_lists: bool,
    cache: &BuildCache,
) -> Result<Rendered, BuildError> {
    highlight::preload();
    let mut phases = Phases::start();
    let diags = Diagnostics::default();
    let fail =
        |diags: &Diagnostics| BuildError::Content { errors: diags.take(), warnings: diags.take_warnings() };
    let Some(root) = ContentRoot::open(&diags, content, max_source_bytes) else { return Err(fail(&diags)) };
    // Until the walk is done, a link may have been missed: the next build stats all.
    cache.files.links_seen.store(true, std::sync::atomic::Ordering::Relaxed);
    // Side by side: neither reads what the other finds (a one-lesson rebuild stats 12,600
    // asset files, and the catalogue's 2,000 lessons are stat'ed meanwhile).
    let (catalogue, collected) = rayon::join(
        || catalogue::load(&diags, &root, drafts, &cache.lessons),
        || assets::collect_or_reuse(&diags, &root, highlight::stylesheet(), cache),
    );
    let Some(catalogue) = catalogue else { return Err(fail(&diags)) };
    let assets = &collected.assets;
    phases.lap("load catalogue, collect and hash assets");
    let Some(theme) = Theme::load(&diags, &root, assets.theme.clone()) else { return Err(fail(&diags)) };
    phases.lap("load theme");
    cache.files.links_seen.store(
        root.saw_link.load(std::sync::atomic::Ordering::Relaxed),
        std::sync::atomic::Ordering::Relaxed,
    );

    let links =
        LinkTargets { drafts: drafts::targets(&catalogue, drafts), ..link_targets(&catalogue, assets) };
    let plain = MarkdownEnv { diags: &diags, links: &links, assets, components: None };
    let labs = lab_entries(&catalogue, assets);
    phases.lap("link targets, labs");
    let components = Components { diags: &diags, theme: &theme, assets, labs: &labs, instructions: &plain };
    let markdown = MarkdownEnv { components: Some(&components), ..plain };

    let shared_inputs = shared_inputs(&catalogue, &theme, assets, &labs, &links);
    phases.lap("hash shared page inputs");
    let lessons = render_lessons(&root, &catalogue, &theme, &markdown, cache, &shared_inputs);
    if lessons.fresh.len() == lessons.pages.len() {
        // Nothing was reused, so the labs may have changed: check every lab's instructions,
        // also those no lesson shows. (When pages are reused, the labs are as last built.)
        for lab in labs.values() {
            lab.view(assets, &plain, &Access::Public);
        }
    }
    // Lessons whose front matter failed still get their body checked.
    for body in &catalogue.unplaced_bodies {
        markdown.render(&body.source, body.body_offset, &body.scope);
    }
    phases.lap("render lessons");
    let mut pages = lessons.pages;
    let lesson_pages = pages.len();
    let site_pages = render_site_pages(&catalogue, &theme, &diags, cache, &shared_inputs);
    phases.lap("render site pages");
    let pages_rendered = lessons.fresh.len() + site_pages.fresh.len();
    pages.extend(site_pages.pages);
    let mut fresh_pages = lessons.fresh;
    fresh_pages.extend(site_pages.fresh);
    let mut page_links = lessons.links;
    page_links.extend(site_pages.links);
    let entries: Vec<links::PageEntry<'_>> = page_links
        .iter()
        .map(|(route, source, links)| links::PageEntry { route, source: source.as_deref(), links })
        .collect();
    links::check_anchors(&diags, &root.shown, &entries);
    phases.lap("check links");
    if !diags.is_empty() {
        return Err(fail(&diags));
    }
    // The search index is built beside the assets' outputs and the offline lists, which
    // never list search routes: Pagefind indexes on one core, and the other was idle.
    let (search_index, others, lists) = std::thread::scope(|scope| {
        let search_job = search.then(|| {
            scope.spawn(|| {
                let home = pages[lesson_pages..].iter().find(|p| p.route == "/");
                search::index(&pages[..lesson_pages], home, &cache.search)
            })
        });
        let mut others = collected.outputs(&lessons.used);
        others.extend(service_worker(assets, &others));
        let slugs: Vec<&str> = catalogue.courses.iter().map(|c| c.slug.as_str()).collect();
        let lists = if offline_lists {
            course_files::save_lists(&[&pages, &others], &slugs, &cache.refs)
        } else {
            Ok(Vec::new())
        };
        phases.lap("asset outputs, offline lists");
        let search_index = search_job.map(|job| job.join().expect("the search indexer does not panic"));
        (search_index.transpose(), others, lists)
    });
    phases.lap("search index (the rest of it)");
    let search_index = search_index.map_err(BuildError::Search)?.unwrap_or_default();
    let lists = lists.map_err(BuildError::Offline)?;
    let page_count = pages.len();
    let mut outputs = pages;
    outputs.extend(others);
    outputs.extend(search_index);
    outputs.extend(lists);
    let (mut unpublished, draft_count) = drafts::unpublished(&catalogue, drafts, &lessons.used, &components);
    if !catalogue.orphan_bodies.is_empty() {
        // What only lessons in no module use is left out with them (their warning says so).
        let scratch = Diagnostics::default();
        let quiet_plain = MarkdownEnv { diags: &scratch, ..plain };
        let quiet_components = Components { diags: &scratch, instructions: &quiet_plain, ..components };
        let quiet = MarkdownEnv { components: Some(&quiet_components), ..quiet_plain };
        let mut with_orphans = lessons.used.clone();
        for body in &catalogue.orphan_bodies {
            let uses = quiet.render(&body.source, body.body_offset, &body.scope).uses;
            with_orphans.extend(uses.into_iter().map(|id| (body.scope.clone(), id)));
        }
        let still_unused = assets.unused(&with_orphans);
        unpublished.retain(|path| still_unused.contains(path));
    }
    let warnings = diags.take_warnings();
    Ok(Rendered {
        draft_routes: drafts::included_routes(&catalogue),
        drafts: draft_count,
        outputs,
        pages: page_count,
        pages_rendered,
        fresh_pages,
        links: page_links.into_iter().map(|(_, _, links)| links).collect(),
        phases: phases.done,
        unpublished,
        warnings,
    })
}

/// Route of the service worker (the theme's `static/js/sw.js`): stable and short-cached, at
/// the root so its scope is the whole site.
pub const SERVICE_WORKER_ROUTE: &str = "/sw.js";

/// The theme's service worker, also served at [`SERVICE_WORKER_ROUTE`] (a worker's URL
/// cannot change from release to release), if the theme has one.
fn service_worker(assets: &assets::Assets, outputs: &[Output]) -> Option<Output> {
    let url = assets.theme.get("js/sw.js")?;
    let fingerprinted = outputs.iter().find(|o| &o.route == url)?;
    Some(Output {
        route: SERVICE_WORKER_ROUTE.to_owned(),
        cache: CacheClass::Stable,
        access: Access::Public,
        ..fingerprinted.clone()
    })
}

fn page(route: String, html: String, access: Access) -> Output {
    let html_type = "text/html; charset=utf-8".to_owned();
    Output::new(route, html.into_bytes(), html_type, CacheClass::Stable, access)
}

/// A hash of everything a lesson page depends on besides its own file: the builder, the
/// theme, every asset URL, the labs, the link targets and the site's navigation (titles
/// and order of all lessons). A lesson whose file and these are unchanged renders to the
/// same bytes, so its page from the last build is reused.
fn shared_inputs(
    catalogue: &Catalogue,
    theme: &Theme,
    assets: &assets::Assets,
    labs: &BTreeMap<String, LabEntry<'_>>,
    links: &LinkTargets,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    // A rebuilt `course` binary may render differently: its identity is part of the key.
    if let Some(meta) = std::env::current_exe().ok().and_then(|exe| std::fs::metadata(exe).ok()) {
        let modified = meta.modified().ok().and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok());
        field(format!("{}:{:?}", meta.len(), modified).as_bytes());
    }
    field(theme.fingerprint().as_bytes());
    assets.feed_fingerprint(&mut field);
    field(json(&pages::site_view(catalogue)).as_bytes());
    for course in &catalogue.courses {
        field(json(&pages::course_view(course)).as_bytes());
    }
    for lab in labs.values() {
        field(lab.slug.as_bytes());
        field(lab.title.as_bytes());
        field(lab.summary.as_deref().unwrap_or_default().as_bytes());
        field(lab.instructions.text.as_bytes());
    }
    let mut lessons: Vec<_> = links.lessons.iter().collect();
    lessons.sort();
    for (rel, url) in lessons {
        field(rel.as_bytes());
        field(url.as_bytes());
    }
    let mut routes: Vec<_> = links.routes.iter().collect();
    routes.sort();
    for route in routes {
        field(route.as_bytes());
    }
    for broken in &links.broken {
        field(broken.as_bytes());
    }
    // Links to drafts are errors or warnings: pages linking to one render again when
    // what is a draft changes.
    let mut drafts: Vec<_> = links.drafts.routes.iter().map(|(r, k)| format!("{r} {k:?}")).collect();
    drafts.extend(links.drafts.lessons.iter().map(|(l, k)| format!("{l} {k:?}")));
    drafts.sort();
    field(format!("{} {}", links.drafts.included, drafts.join("\n")).as_bytes());
    hex::encode(h.finalize())
}

/// A view as JSON, for hashing.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("views serialise")
}

/// The cache key of a page: a hash of what it is rendered from.
fn inputs_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

fn reused_page((page, path): (Arc<CachedPage>, PathBuf), route: String, access: Access) -> Output {
    Output {
        route,
        key: page.object.clone(),
        size: page.size,
        body: Body::File(path),
        content_type: "text/html; charset=utf-8".into(),
        cache: CacheClass::Stable,
        access,
    }
}

pub(crate) fn link_targets(catalogue: &Catalogue, assets: &assets::Assets) -> LinkTargets {
    let mut lessons = HashMap::default();
    let mut routes: HashSet<String> = assets.theme_routes().map(str::to_owned).collect();
    routes.extend(["/".to_owned(), NOT_FOUND_ROUTE.to_owned(), FORBIDDEN_ROUTE.to_owned()]);
    for course in &catalogue.courses {
        routes.insert(pages::course_url(course));
        for lesson in &course.lessons {
            let url = pages::lesson_url(course, lesson);
            lessons.insert(lesson.source.rel.clone(), url.clone());
            routes.insert(url);
        }
    }
    LinkTargets {
        lessons,
        routes,
        broken: catalogue.broken_lessons.clone(),
        orphans: catalogue.orphans.clone(),
        drafts: Default::default(),
    }
}

pub(crate) fn lab_entries<'a>(
    catalogue: &'a Catalogue,
    assets: &assets::Assets,
) -> BTreeMap<String, LabEntry<'a>> {
    let mut entries = BTreeMap::new();
    for (slug, lab) in &catalogue.labs {
        if assets.lab(&Access::Public, slug).is_none() {
            continue; // no app bundle (reported)
        }
        let entry = LabEntry::new(slug.clone(), lab.title.clone(), lab.summary.clone(), &lab.instructions);
        entries.insert(slug.clone(), entry);
    }
    entries
}

struct RenderedPages {
    pages: Vec<Output>,
    /// (inputs hash, route, uses, links) of the pages rendered now (not reused).
    fresh: Vec<(String, String, Uses, Arc<PageLinks>)>,
    /// (route, lesson file, links) of every page, rendered now or reused.
    links: Vec<(String, Option<String>, Arc<PageLinks>)>,
    /// Every (scope, asset) the pages use, rendered now or reused.
    used: assets::UsedAssets,
}

fn render_lessons(
    root: &ContentRoot,
    catalogue: &Catalogue,
    theme: &Theme,
    markdown: &MarkdownEnv<'_>,
    cache: &BuildCache,
    shared_inputs: &str,
) -> RenderedPages {
    // Converted to template values once: every page shares them (the navigation of a big
    // catalogue is thousands of entries; converting it per page was most of the render),
    // and only when a page renders (a one-lesson rebuild reuses 1,999 pages).
    let views = std::sync::OnceLock::new();
    let views = || {
        views.get_or_init(|| {
            let courses: Vec<_> = catalogue.courses.iter().map(pages::course_view).collect();
            let site = Value::from_serialize(pages::site_view(catalogue));
            let course_values: Vec<Value> = courses.iter().map(Value::from_serialize).collect();
            let courses_value = Value::from(course_values.clone());
            (courses, site, course_values, courses_value)
        })
    };
    let jobs: Vec<(usize, usize)> = catalogue
        .courses
        .iter()
        .enumerate()
        .flat_map(|(c, course)| (0..course.lessons.len()).map(move |l| (c, l)))
        .collect();
    // (page, Some(inputs) when rendered now, what it uses, its links)
    let rendered: Vec<(Output, Option<String>, Uses, Arc<PageLinks>)> = jobs
        .par_iter()
        .filter_map(|&(c, l)| {
            let course = &catalogue.courses[c];
            let lesson = &course.lessons[l];
            let access = course.lesson_access(lesson);
            let inputs = inputs_hash(&[shared_inputs, &c.to_string(), &lesson.source.rel, &lesson.digest]);
            if let Some(page) = cache.pages.get(&inputs) {
                let uses = page.0.uses.iter().cloned().collect();
                let links = Arc::clone(&page.0.links);
                return Some((
                    reused_page(page, pages::lesson_url(course, lesson), access),
                    None,
                    uses,
                    links,
                ));
            }
            // A lesson the cache vouched for is read only now that its page is rendered.
            let read;
            let source = if lesson.unread {
                let text = catalogue::read_vouched_text(markdown.diags, root, &cache.lessons, lesson)?;
                read = catalogue::SourceFile { text, ..lesson.source.clone() };
                &read
            } else {
                &lesson.source
            };
            let body = markdown.render(source, lesson.body_offset, &access);
            let (courses, site, course_values, courses_value) = views();
            let module =
                course.modules.iter().position(|m| m.lessons.contains(&l)).map(|m| &courses[c].modules[m]);
            let summary = |i: usize| pages::lesson_summary(course, &course.lessons[i]);
            let view = LessonView { summary: summary(l), content: body.html, toc: body.toc };
            let ctx = minijinja::context! {
                site => site.clone(),
                courses => courses_value.clone(),
                course => course_values[c].clone(),
                module => module,
                lesson => view,
                prev => l.checked_sub(1).map(summary),
                next => (l + 1 < course.lessons.len()).then(|| summary(l + 1)),
            };
            match theme.render("lesson.html", ctx) {
                Ok(html) => {
                    let links = Arc::new(PageLinks {
                        ids: links::ids_in(&html),
                        out: body.links,
                        ids_complete: body.ids_complete,
                    });
                    let page = page(pages::lesson_url(course, lesson), html, access);
                    Some((page, Some(inputs), body.uses, links))
                }
                Err(err) => {
                    markdown.diags.push(err);
                    None
                }
            }
        })
        .collect();
    let sources: HashMap<String, &str> = catalogue
        .courses
        .iter()
        .flat_map(|c| c.lessons.iter().map(move |l| (pages::lesson_url(c, l), l.source.rel.as_str())))
        .collect();
    let mut lesson_pages = RenderedPages {
        pages: Vec::with_capacity(rendered.len()),
        fresh: Vec::new(),
        links: Vec::with_capacity(rendered.len()),
        used: BTreeSet::new(),
    };
    for (page, inputs, uses, links) in rendered {
        for id in &uses {
            lesson_pages.used.insert((page.access.clone(), id.clone()));
        }
        let source = sources.get(&page.route).map(|s| s.to_string());
        lesson_pages.links.push((page.route.clone(), source, Arc::clone(&links)));
        if let Some(inputs) = inputs {
            lesson_pages.fresh.push((inputs, page.route.clone(), uses, links));
        }
        lesson_pages.pages.push(page);
    }
    lesson_pages
}

/// The index, error and course pages: they depend only on the shared inputs, so they are
/// reused whenever those are unchanged.
fn render_site_pages(
    catalogue: &Catalogue,
    theme: &Theme,
    diags: &Diagnostics,
    cache: &BuildCache,
    shared_inputs: &str,
) -> RenderedPages {
    let site = Value::from_serialize(pages::site_view(catalogue));
    let course_values: Vec<Value> =
        catalogue.courses.iter().map(|c| Value::from_serialize(pages::course_view(c))).collect();
    let courses = Value::from(course_values.clone());
    let mut jobs: Vec<(String, &str, minijinja::Value, Access)> = vec![
        (
            "/".into(),
            "index.html",
            minijinja::context! { site => &site, courses => &courses },
            Access::Public,
        ),
        (
            NOT_FOUND_ROUTE.into(),
            "404.html",
            minijinja::context! { site => &site, courses => &courses },
            Access::Public,
        ),
        (
            FORBIDDEN_ROUTE.into(),
            "403.html",
            minijinja::context! { site => &site, courses => &courses },
            Access::Public,
        ),
    ];
    for (course, view) in catalogue.courses.iter().zip(course_values) {
        let ctx = minijinja::context! { site => &site, courses => &courses, course => view };
        jobs.push((pages::course_url(course), "course.html", ctx, course.page_access()));
    }
    let mut rendered = RenderedPages {
        pages: Vec::with_capacity(jobs.len()),
        fresh: Vec::new(),
        links: Vec::with_capacity(jobs.len()),
        used: BTreeSet::new(),
    };
    for (route, template, ctx, access) in jobs {
        let inputs = inputs_hash(&[shared_inputs, template, &route]);
        if let Some(cached) = cache.pages.get(&inputs) {
            rendered.links.push((route.clone(), None, Arc::clone(&cached.0.links)));
            rendered.pages.push(reused_page(cached, route, access));
            continue;
        }
        match theme.render(template, ctx) {
            Ok(html) => {
                let links =
                    Arc::new(PageLinks { ids: links::ids_in(&html), out: Vec::new(), ids_complete: true });
                rendered.links.push((route.clone(), None, Arc::clone(&links)));
                rendered.fresh.push((inputs, route.clone(), Uses::new(), links));
                rendered.pages.push(page(route, html, access));
            }
            Err(err) => diags.push(err),
        }
    }
    rendered
}
