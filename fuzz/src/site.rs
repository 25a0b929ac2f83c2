//! The builder's Markdown pipeline set up as `course build` sets it up, from the sample
//! content in `content/`: its real theme (quiz, animation and lab partials), its assets,
//! labs and link targets. Built once per fuzzing process and shared by every input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use builder::assets::{self, Assets};
use builder::build::{FORBIDDEN_ROUTE, NOT_FOUND_ROUTE};
use builder::cache::FileHashes;
use builder::catalogue::{self, Catalogue, SourceFile};
use builder::components::{Components, LabEntry};
use builder::diagnostics::{ContentError, Diagnostics};
use builder::markdown::{LinkTargets, MarkdownEnv};
use builder::theme::Theme;
use builder::tree::{ContentRoot, DEFAULT_MAX_SOURCE_BYTES};
use builder::{highlight, pages};
use bundle::Access;
use rustc_hash::{FxHashMap, FxHashSet};

/// The sample course whose directory fuzzed lessons pretend to live in (so relative links
/// to its media and lessons resolve).
pub const COURSE: &str = "python-foundations";

pub struct Site {
    /// Shared by every render; [`Site::take_errors`] empties it after each input.
    pub diags: &'static Diagnostics,
    /// Lessons: rich blocks allowed.
    pub markdown: &'static MarkdownEnv<'static>,
    pub components: &'static Components<'static>,
}

impl Site {
    pub fn take_errors(&self) -> Vec<ContentError> {
        self.diags.take()
    }

    /// A lesson file of the sample course holding `text`.
    pub fn lesson(&self, text: String) -> SourceFile {
        let rel = format!("courses/{COURSE}/fuzzed.md");
        SourceFile { shown: content_dir().join(&rel), rel, text }
    }
}

fn content_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../content")
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

pub fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        crate::html::assert_checker_works();
        let diags = leak(Diagnostics::default());
        let root = ContentRoot::open(diags, &content_dir(), DEFAULT_MAX_SOURCE_BYTES).expect("content/");
        let catalogue = leak(catalogue::load(diags, &root).expect("the sample catalogue loads"));
        let assets = leak(assets::collect(diags, &root, highlight::stylesheet(), &FileHashes::default()));
        let theme = leak(Theme::load(diags, &root, assets.theme.clone()).expect("the sample theme loads"));
        let links = leak(link_targets(catalogue, assets));
        let labs = leak(lab_entries(catalogue, assets));
        let plain = leak(MarkdownEnv { diags, links, assets, components: None });
        let components = leak(Components { diags, theme, assets, labs, instructions: plain });
        let markdown = leak(MarkdownEnv { diags, links, assets, components: Some(components) });
        let errors = diags.take();
        assert!(errors.is_empty(), "the sample content has errors: {errors:?}");
        Site { diags, markdown, components }
    })
}

/// As `build::link_targets` (private there).
fn link_targets(catalogue: &Catalogue, assets: &Assets) -> LinkTargets {
    let mut lessons = FxHashMap::default();
    let mut routes: FxHashSet<String> = assets.theme_routes().map(str::to_owned).collect();
    routes.extend(["/".to_owned(), NOT_FOUND_ROUTE.to_owned(), FORBIDDEN_ROUTE.to_owned()]);
    for course in &catalogue.courses {
        routes.insert(pages::course_url(course));
        for lesson in &course.lessons {
            let url = pages::lesson_url(course, lesson);
            lessons.insert(lesson.source.rel.clone(), url.clone());
            routes.insert(url);
        }
    }
    LinkTargets { lessons, routes, broken: catalogue.broken_lessons.clone() }
}

/// As `build::lab_entries` (private there).
fn lab_entries<'a>(catalogue: &'a Catalogue, assets: &Assets) -> BTreeMap<String, LabEntry<'a>> {
    catalogue
        .labs
        .iter()
        .filter(|(slug, _)| assets.lab(&Access::Public, slug).is_some())
        .map(|(slug, lab)| {
            let entry =
                LabEntry::new(slug.clone(), lab.title.clone(), lab.summary.clone(), &lab.instructions);
            (slug.clone(), entry)
        })
        .collect()
}
