//! Loads `content/`: the site, its courses and their lessons, and the labs.
//! Problems are reported to [`Diagnostics`] and the faulty item is skipped, so one run
//! finds every error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bundle::paths::is_slug;
use bundle::Access;
use rayon::prelude::*;
use serde::Deserialize;
use toml::Spanned;

use crate::build::cache::{LessonCache, LessonMeta, Stamp};
use crate::build::diagnostics::Diagnostics;
use crate::build::frontmatter::{parse_toml_checked, split};
use crate::build::tree::ContentRoot;

/// A content file: its path relative to the content root (with `/`), the path shown in
/// errors, and its text.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    pub rel: String,
    pub shown: PathBuf,
    pub text: String,
}

#[derive(Debug)]
pub(crate) struct Catalogue {
    pub site: Site,
    /// In index order.
    pub courses: Vec<Course>,
    pub labs: BTreeMap<String, Lab>,
    /// Lesson files that exist but failed to load (already reported): links to them and
    /// module entries naming them are not reported again.
    pub broken_lessons: BTreeSet<String>,
    /// Lesson files listed in no module (a warning: they are not published); links to them
    /// are errors.
    pub orphans: BTreeSet<String>,
    /// Their bodies: what only they use is not published either, and not called unused.
    pub orphan_bodies: Vec<UnplacedBody>,
    /// Bodies of lessons whose front matter failed: rendered only to report their own
    /// errors too (one error must not hide the others of the same file).
    pub unplaced_bodies: Vec<UnplacedBody>,
    /// The drafts this build leaves out (none when it includes drafts).
    pub left_out: LeftOut,
}

/// Drafts a build without `--drafts` leaves out: no page, no navigation entry, nothing
/// published for them. They are remembered so links to them are reported as links to
/// drafts, and so the files only they use are not called unused.
#[derive(Debug, Default)]
pub(crate) struct LeftOut {
    /// Slugs of the draft courses (`draft = true` in course.toml).
    pub courses: Vec<String>,
    /// Every lesson left out: the draft lessons and the lessons of draft courses.
    pub lessons: Vec<DraftLesson>,
}

/// A lesson left out as a draft.
#[derive(Debug)]
pub(crate) struct DraftLesson {
    pub course: String,
    pub slug: String,
    /// Whether it is left out because its course is a draft (else: its own front matter).
    pub in_draft_course: bool,
    pub source: SourceFile,
    pub body_offset: usize,
    /// Whose media its body would use.
    pub scope: Access,
}

/// A lesson body to check although its lesson could not be loaded.
#[derive(Debug)]
pub(crate) struct UnplacedBody {
    pub source: SourceFile,
    pub body_offset: usize,
    /// Whose media its references would be.
    pub scope: Access,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Site {
    pub title: String,
    #[serde(default)]
    pub tagline: Option<String>,
    #[serde(default)]
    courses: Vec<Spanned<String>>,
}

#[derive(Debug)]
pub(crate) struct Course {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub level: Option<String>,
    pub enrolled: bool,
    /// An enrolled course whose course page (the syllabus) anyone may read.
    pub public_syllabus: bool,
    /// `draft = true` in course.toml: previewed, never published (present only in builds
    /// that include drafts).
    pub draft: bool,
    pub modules: Vec<Module>,
    /// In reading order (module by module); `Module::lessons` indexes into this.
    pub lessons: Vec<Lesson>,
}

#[derive(Debug)]
pub(crate) struct Module {
    pub title: String,
    pub lessons: std::ops::Range<usize>,
}

#[derive(Debug)]
pub(crate) struct Lesson {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub duration: Option<u32>,
    /// In an enrolled course: a lesson anyone may read (a taste of the course).
    pub preview: bool,
    /// `draft = true` in its front matter: previewed, never published (present only in
    /// builds that include drafts).
    pub draft: bool,
    /// Its text is empty while `unread` (see [`read_lesson_text`]).
    pub source: SourceFile,
    pub body_offset: usize,
    /// Where the slug comes from: the `slug` value in the front matter, or the file (0).
    pub slug_offset: usize,
    /// SHA-256 of the file's text.
    pub digest: String,
    /// Loaded from the lesson cache: the file is unchanged and was not read.
    pub unread: bool,
}

impl Course {
    /// Who may read the course page.
    pub(crate) fn page_access(&self) -> Access {
        self.scope(self.public_syllabus)
    }

    /// Who may read a lesson (and so the media it shows).
    pub(crate) fn lesson_access(&self, lesson: &Lesson) -> Access {
        self.scope(lesson.preview)
    }

    fn scope(&self, public_anyway: bool) -> Access {
        if self.enrolled && !public_anyway {
            Access::Course(self.slug.clone())
        } else {
            Access::Public
        }
    }
}

#[derive(Debug)]
pub(crate) struct Lab {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub instructions: SourceFile,
}

#[derive(Deserialize)]
struct CourseToml {
    title: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    access: AccessToml,
    /// Who may read the course page of an enrolled course (default: its students only).
    #[serde(default)]
    syllabus: Option<AccessToml>,
    #[serde(default)]
    modules: Vec<ModuleToml>,
    #[serde(default)]
    draft: bool,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum AccessToml {
    #[default]
    Public,
    Enrolled,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleToml {
    title: String,
    lessons: Vec<Spanned<String>>,
}

/// Unknown keys are reported one by one (see [`parse_toml_checked`]), so no
/// `deny_unknown_fields` here.
#[derive(Deserialize)]
pub(crate) struct FrontMatter {
    title: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    duration: Option<u32>,
    #[serde(default)]
    pub(crate) slug: Option<Spanned<String>>,
    #[serde(default)]
    preview: bool,
    #[serde(default)]
    draft: bool,
}

pub(crate) const FRONT_MATTER_KEYS: [&str; 6] = ["title", "summary", "duration", "slug", "preview", "draft"];
// The top-level keys of the TOML files (unknown ones are each an error, see
// `parse_toml_checked`; nested tables deny theirs).
const SITE_KEYS: [&str; 3] = ["title", "tagline", "courses"];
const COURSE_KEYS: [&str; 7] = ["title", "summary", "level", "access", "syllabus", "modules", "draft"];
const LAB_KEYS: [&str; 2] = ["title", "summary"];

#[derive(Deserialize)]
struct LabToml {
    title: String,
    #[serde(default)]
    summary: Option<String>,
}

/// Reads a file of the content tree (through [`ContentRoot`]: inside the root, within the
/// size limit, UTF-8); a missing or unreadable file is reported at 1:1.
pub(crate) fn read_source(diags: &Diagnostics, root: &ContentRoot, rel: &str) -> Option<SourceFile> {
    let shown = root.shown.join(rel);
    let text = root.read_text(diags, &shown)?;
    Some(SourceFile { rel: rel.to_owned(), shown, text })
}

/// Names of the directories (or files ending in `ext`, without it) directly inside `dir`.
fn entries(
    diags: &Diagnostics,
    root: &ContentRoot,
    dir: &Path,
    want_dirs: bool,
    ext: Option<&str>,
) -> Vec<String> {
    root.entries(diags, dir)
        .into_iter()
        .filter(|entry| entry.is_dir == want_dirs)
        .filter_map(|entry| match ext {
            Some(ext) => entry.name.strip_suffix(ext).map(str::to_owned),
            None => Some(entry.name),
        })
        .collect()
}

/// Loads the catalogue; `drafts` says whether draft courses and lessons are part of it
/// (`course build --drafts`, `course serve`) or left out (`course build`).
pub(crate) fn load(
    diags: &Diagnostics,
    root: &ContentRoot,
    drafts: bool,
    cache: &LessonCache,
) -> Option<Catalogue> {
    for entry in root.entries(diags, &root.shown) {
        let known = if entry.is_dir {
            matches!(entry.name.as_str(), "courses" | "animations" | "labs" | "theme")
        } else {
            entry.name == "site.toml"
        };
        if !known {
            diags.warn(&entry.path, "not part of the site: the build ignores it");
        }
    }
    let site_file = read_source(diags, root, "site.toml")?;
    let site: Site = parse_toml_checked(
        diags,
        &site_file.shown,
        &site_file.text,
        &site_file.text,
        0,
        "site.toml",
        &SITE_KEYS,
    )?;

    // Courses load in parallel; diagnostics are sorted when taken, so order is stable.
    let course_dirs = entries(diags, root, &root.shown.join("courses"), true, None);
    let loaded: Vec<(Option<Course>, Broken)> = course_dirs
        .par_iter()
        .map(|slug| {
            let mut broken = Broken::default();
            (load_course(diags, root, slug, cache, &mut broken), broken)
        })
        .collect();
    let mut broken_lessons = BTreeSet::new();
    let mut orphans = BTreeSet::new();
    let mut orphan_bodies = Vec::new();
    let mut unplaced_bodies = Vec::new();
    let mut courses = Vec::with_capacity(loaded.len());
    let mut left_out = LeftOut::default();
    for (mut course, broken) in loaded {
        if let Some(course) = course.as_mut().filter(|c| c.draft && !drafts) {
            // Left out as drafts: their bodies are checked for what they use.
            for lesson in &mut course.lessons {
                read_lesson_text(diags, root, cache, lesson);
            }
        }
        let course = if drafts { course } else { course.and_then(|c| leave_out_drafts(c, &mut left_out)) };
        courses.extend(course);
        broken_lessons.extend(broken.files);
        orphans.extend(broken.orphans.iter().map(|body| body.source.rel.clone()));
        orphan_bodies.extend(broken.orphans);
        unplaced_bodies.extend(broken.bodies);
    }

    // Index order: as listed in site.toml, then the rest alphabetically.
    let mut order: Vec<String> = Vec::new();
    for listed in &site.courses {
        if courses.iter().any(|c| &c.slug == listed.get_ref()) {
            order.push(listed.get_ref().clone());
        } else if !course_dirs.contains(listed.get_ref()) {
            // (A course folder that failed to load has its own errors already.)
            let at = listed.span().start;
            diags.at_offset(
                &site_file.shown,
                &site_file.text,
                at,
                format!("unknown course `{}`", listed.get_ref()),
            );
        }
    }
    courses.sort_by_key(|c| (order.iter().position(|s| s == &c.slug).unwrap_or(usize::MAX), c.slug.clone()));

    let labs = entries(diags, root, &root.shown.join("labs"), true, None)
        .iter()
        .filter_map(|slug| load_lab(diags, root, slug))
        .map(|lab| (lab.slug.clone(), lab))
        .collect();

    Some(Catalogue { site, courses, labs, broken_lessons, orphans, orphan_bodies, unplaced_bodies, left_out })
}

/// The course without its draft lessons (`None`: the course is a draft), which go to
/// `left_out`. A module left with no lesson because all of its were drafts is dropped.
fn leave_out_drafts(mut course: Course, left_out: &mut LeftOut) -> Option<Course> {
    fn leave(course: &Course, lesson: Lesson, in_draft_course: bool) -> DraftLesson {
        DraftLesson {
            course: course.slug.clone(),
            slug: lesson.slug.clone(),
            in_draft_course,
            scope: course.lesson_access(&lesson),
            source: lesson.source,
            body_offset: lesson.body_offset,
        }
    }
    if course.draft {
        let lessons = std::mem::take(&mut course.lessons);
        left_out.lessons.extend(lessons.into_iter().map(|l| leave(&course, l, true)));
        left_out.courses.push(course.slug);
        return None;
    }
    if !course.lessons.iter().any(|l| l.draft) {
        return Some(course);
    }
    let mut lessons: Vec<Option<Lesson>> =
        std::mem::take(&mut course.lessons).into_iter().map(Some).collect();
    for module in std::mem::take(&mut course.modules) {
        let start = course.lessons.len();
        for lesson in module.lessons.clone().filter_map(|i| lessons[i].take()) {
            if lesson.draft {
                left_out.lessons.push(leave(&course, lesson, false));
            } else {
                course.lessons.push(lesson);
            }
        }
        if !module.lessons.is_empty() && course.lessons.len() == start {
            continue; // every lesson of the module is a draft
        }
        course.modules.push(Module { title: module.title, lessons: start..course.lessons.len() });
    }
    Some(course)
}

/// The lessons of one course that failed to load, or are in no module.
#[derive(Default)]
struct Broken {
    files: BTreeSet<String>,
    orphans: Vec<UnplacedBody>,
    bodies: Vec<UnplacedBody>,
}

fn load_course(
    diags: &Diagnostics,
    root: &ContentRoot,
    slug: &str,
    cache: &LessonCache,
    broken: &mut Broken,
) -> Option<Course> {
    let dir_rel = format!("courses/{slug}");
    if !is_slug(slug) {
        diags.at(&root.shown.join(&dir_rel), 1, 1, "course folder name is not a slug (a-z, 0-9, -)");
        return None;
    }
    let toml_file = read_source(diags, root, &format!("{dir_rel}/course.toml"))?;
    let meta: CourseToml = parse_toml_checked(
        diags,
        &toml_file.shown,
        &toml_file.text,
        &toml_file.text,
        0,
        "course.toml",
        &COURSE_KEYS,
    )?;
    let enrolled = meta.access == AccessToml::Enrolled;
    // Until a lesson says otherwise, what its body uses belongs to the course's scope.
    let scope = if enrolled { Access::Course(slug.to_owned()) } else { Access::Public };

    // Lessons by slug, each slug once.
    let mut by_slug: BTreeMap<String, Lesson> = BTreeMap::new();
    for stem in entries(diags, root, &root.shown.join(&dir_rel), false, Some(".md")) {
        let rel = format!("{dir_rel}/{stem}.md");
        let mut lesson = match load_lesson(diags, root, &rel, &stem, cache) {
            Loaded::Lesson(lesson) => lesson,
            Loaded::BodyOnly(source, body_offset) => {
                broken.files.insert(rel);
                broken.bodies.push(UnplacedBody { source, body_offset, scope: scope.clone() });
                continue;
            }
            Loaded::Nothing => {
                broken.files.insert(rel);
                continue;
            }
        };
        if let Some(first) = by_slug.get(&lesson.slug) {
            broken.files.insert(rel);
            read_lesson_text(diags, root, cache, &mut lesson);
            let msg = format!(
                "duplicate lesson slug `{}` (also used by {})",
                lesson.slug,
                first.source.shown.display()
            );
            diags.at_offset(&lesson.source.shown, &lesson.source.text, lesson.slug_offset, msg);
            continue;
        }
        by_slug.insert(lesson.slug.clone(), lesson);
    }

    // Reading order comes from the modules; every lesson sits in exactly one.
    let mut lessons = Vec::new();
    let mut modules = Vec::new();
    let mut placed = BTreeSet::new();
    // New slugs of lessons that a module still lists by their old name (reported).
    let mut renamed_listed = BTreeSet::new();
    for module in meta.modules {
        let start = lessons.len();
        for listed in module.lessons {
            let at = listed.span().start;
            let name = listed.into_inner();
            if !placed.insert(name.clone()) {
                diags.at_offset(
                    &toml_file.shown,
                    &toml_file.text,
                    at,
                    format!("lesson `{name}` is listed twice"),
                );
            } else if let Some(lesson) = by_slug.remove(&name) {
                lessons.push(lesson);
            } else if let Some(renamed) =
                by_slug.values().chain(&lessons).find(|l| l.source.rel == format!("{dir_rel}/{name}.md"))
            {
                // The file's front matter gave it another slug: modules list lessons by slug.
                let msg = format!(
                    "module lists lesson `{name}`, but {dir_rel}/{name}.md sets `slug = \"{}\"`: list `{}` \
                     in {dir_rel}/course.toml instead (modules name lessons by their slug)",
                    renamed.slug, renamed.slug
                );
                diags.at_offset(&toml_file.shown, &toml_file.text, at, msg);
                renamed_listed.insert(renamed.slug.clone());
            } else if !broken.files.contains(&format!("{dir_rel}/{name}.md")) {
                let msg = format!("module lists lesson `{name}`, but there is no {dir_rel}/{name}.md");
                diags.at_offset(&toml_file.shown, &toml_file.text, at, msg);
            }
        }
        modules.push(Module { title: module.title, lessons: start..lessons.len() });
    }
    // Lessons in no module are drafts, perhaps: not published (a warning), and links to
    // them are errors (they would not lead anywhere).
    for mut lesson in by_slug.into_values() {
        if renamed_listed.contains(&lesson.slug) {
            // Links to it are not errors of their own: the module's entry says what to fix.
            broken.files.insert(lesson.source.rel);
            continue;
        }
        let msg = format!(
            "lesson `{}` is in no module of {dir_rel}/course.toml, so it is not published \
             (list it in a module's `lessons` to publish it)",
            lesson.slug
        );
        diags.warn(&lesson.source.shown, msg);
        read_lesson_text(diags, root, cache, &mut lesson);
        let scope = if lesson.preview { Access::Public } else { scope.clone() };
        broken.orphans.push(UnplacedBody { source: lesson.source, body_offset: lesson.body_offset, scope });
    }

    Some(Course {
        slug: slug.to_owned(),
        title: meta.title,
        summary: meta.summary,
        level: meta.level,
        enrolled,
        public_syllabus: enrolled && meta.syllabus == Some(AccessToml::Public),
        draft: meta.draft,
        modules,
        lessons,
    })
}

/// What reading a lesson file gave.
enum Loaded {
    Lesson(Lesson),
    /// The front matter failed (reported), but the body can still be checked.
    BodyOnly(SourceFile, usize),
    Nothing,
}

/// Reads the text of a lesson loaded from the cache (its pages must be rendered again, or
/// its body checked); false, with an error, when the file cannot be read or has changed
/// since its stamp was taken (the next build reads it afresh).
pub(crate) fn read_lesson_text(
    diags: &Diagnostics,
    root: &ContentRoot,
    cache: &LessonCache,
    lesson: &mut Lesson,
) -> bool {
    if !lesson.unread {
        return true;
    }
    let Some(text) = read_vouched_text(diags, root, cache, lesson) else { return false };
    lesson.source.text = text;
    lesson.unread = false;
    true
}

/// The text of a lesson loaded from the cache, checked against the digest the cache has.
pub(crate) fn read_vouched_text(
    diags: &Diagnostics,
    root: &ContentRoot,
    cache: &LessonCache,
    lesson: &Lesson,
) -> Option<String> {
    let text = root.read_text(diags, &lesson.source.shown)?;
    if bundle::hash::sha256_hex(text.as_bytes()) != lesson.digest {
        cache.distrust(&lesson.source.rel);
        diags.at(&lesson.source.shown, 1, 1, "the file changed while the build read it: build again");
        return None;
    }
    Some(text)
}

/// The stamp of a lesson file that may be read (inside the root, a regular file), or
/// `None` (reported by the read that follows).
fn lesson_stamp(root: &ContentRoot, path: &Path) -> Option<Stamp> {
    root.plain_file_inside(path).filter(|m| m.is_file()).map(|m| Stamp::of(&m))
}

fn load_lesson(
    diags: &Diagnostics,
    root: &ContentRoot,
    rel: &str,
    stem: &str,
    cache: &LessonCache,
) -> Loaded {
    let shown = root.shown.join(rel);
    let stamp = lesson_stamp(root, &shown);
    if let Some(meta) = stamp.and_then(|stamp| cache.get(rel, stamp)) {
        return Loaded::Lesson(Lesson {
            slug: meta.slug,
            title: meta.title,
            summary: meta.summary,
            duration: meta.duration,
            preview: meta.preview,
            draft: false,
            source: SourceFile { rel: meta.rel, shown, text: String::new() },
            body_offset: meta.body_offset,
            slug_offset: meta.slug_offset,
            digest: meta.digest,
            unread: true,
        });
    }
    let Some(source) = read_source(diags, root, rel) else { return Loaded::Nothing };
    let parts = match split(&source.text) {
        Ok(parts) => parts,
        Err((at, why)) => {
            diags.at_offset(&source.shown, &source.text, at, why);
            // With no front matter at all, the whole file is a body worth checking.
            return if source.text.starts_with("+++") {
                Loaded::Nothing
            } else {
                Loaded::BodyOnly(source, 0)
            };
        }
    };
    let body_offset = parts.body_offset;
    let front: Option<FrontMatter> = parse_toml_checked(
        diags,
        &source.shown,
        &source.text,
        parts.front,
        parts.front_offset,
        "front matter",
        &FRONT_MATTER_KEYS,
    );
    let Some(front) = front else { return Loaded::BodyOnly(source, body_offset) };
    let slug_offset = front.slug.as_ref().map_or(0, |s| parts.front_offset + s.span().start);
    let slug = match front.slug {
        Some(slug) => {
            if !is_slug(slug.get_ref()) {
                let at = parts.front_offset + slug.span().start;
                diags.at_offset(&source.shown, &source.text, at, "slug must use only a-z, 0-9 and -");
                return Loaded::BodyOnly(source, body_offset);
            }
            slug.into_inner()
        }
        None if is_slug(stem) => stem.to_owned(),
        None => {
            diags.at(
                &source.shown,
                1,
                1,
                "lesson file name is not a slug (a-z, 0-9, -); rename it or set `slug`",
            );
            return Loaded::BodyOnly(source, body_offset);
        }
    };
    let digest = bundle::hash::sha256_hex(source.text.as_bytes());
    if front.title.trim().is_empty() {
        diags.at_offset(&source.shown, &source.text, parts.front_offset, "title must not be empty");
    } else if let (Some(stamp), false) = (stamp, front.draft) {
        let meta = LessonMeta {
            rel: rel.to_owned(),
            slug: slug.clone(),
            title: front.title.clone(),
            summary: front.summary.clone(),
            duration: front.duration,
            preview: front.preview,
            body_offset,
            slug_offset,
            digest: digest.clone(),
        };
        cache.insert(stamp, meta);
    }
    Loaded::Lesson(Lesson {
        slug,
        title: front.title,
        summary: front.summary,
        duration: front.duration,
        preview: front.preview,
        draft: front.draft,
        source,
        body_offset,
        slug_offset,
        digest,
        unread: false,
    })
}

fn load_lab(diags: &Diagnostics, root: &ContentRoot, slug: &str) -> Option<Lab> {
    let dir_rel = format!("labs/{slug}");
    if !is_slug(slug) {
        diags.at(&root.shown.join(&dir_rel), 1, 1, "lab folder name is not a slug (a-z, 0-9, -)");
        return None;
    }
    let toml_file = read_source(diags, root, &format!("{dir_rel}/lab.toml"))?;
    let meta: LabToml = parse_toml_checked(
        diags,
        &toml_file.shown,
        &toml_file.text,
        &toml_file.text,
        0,
        "lab.toml",
        &LAB_KEYS,
    )?;
    if !root.shown.join(&dir_rel).join("app/index.html").is_file() {
        diags.at(&toml_file.shown, 1, 1, format!("lab has no app: {dir_rel}/app/index.html is missing"));
        return None;
    }
    let instructions = read_source(diags, root, &format!("{dir_rel}/instructions.md"))?;
    Some(Lab { slug: slug.to_owned(), title: meta.title, summary: meta.summary, instructions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(slug: &str, draft: bool) -> Lesson {
        let rel = format!("courses/c/{slug}.md");
        Lesson {
            slug: slug.to_owned(),
            title: slug.to_uppercase(),
            summary: None,
            duration: None,
            preview: false,
            draft,
            source: SourceFile { shown: PathBuf::from(&rel), rel, text: String::new() },
            body_offset: 0,
            slug_offset: 0,
            digest: String::new(),
            unread: false,
        }
    }

    /// A course whose modules hold these (slug, draft) lessons.
    fn course(draft: bool, modules: &[&[(&str, bool)]]) -> Course {
        let mut course = Course {
            slug: "c".into(),
            title: "C".into(),
            summary: None,
            level: None,
            enrolled: true,
            public_syllabus: false,
            draft,
            modules: Vec::new(),
            lessons: Vec::new(),
        };
        for (i, lessons) in modules.iter().enumerate() {
            let start = course.lessons.len();
            course.lessons.extend(lessons.iter().map(|&(slug, draft)| lesson(slug, draft)));
            course.modules.push(Module { title: format!("m{i}"), lessons: start..course.lessons.len() });
        }
        course
    }

    fn outline(course: &Course) -> Vec<(String, Vec<String>)> {
        let slugs = |m: &Module| course.lessons[m.lessons.clone()].iter().map(|l| l.slug.clone()).collect();
        course.modules.iter().map(|m| (m.title.clone(), slugs(m))).collect()
    }

    #[test]
    fn draft_lessons_leave_the_outline_and_modules_of_only_drafts_go_with_them() {
        let mut left_out = LeftOut::default();
        let modules: &[&[(&str, bool)]] =
            &[&[("a", false), ("b", true)], &[("c", true)], &[], &[("d", false)]];
        let kept = leave_out_drafts(course(false, modules), &mut left_out).expect("not a draft course");
        let expected = [("m0", vec!["a"]), ("m2", vec![]), ("m3", vec!["d"])];
        let expected: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(m, ls)| (m.to_string(), ls.iter().map(|l| l.to_string()).collect()))
            .collect();
        assert_eq!(outline(&kept), expected, "an empty module stays; one emptied by drafts goes");
        let left: Vec<_> = left_out.lessons.iter().map(|l| (l.slug.as_str(), l.in_draft_course)).collect();
        assert_eq!(left, [("b", false), ("c", false)]);
        assert_eq!(
            left_out.lessons[0].scope,
            Access::Course("c".into()),
            "the draft's scope is its course's"
        );
        assert!(left_out.courses.is_empty());
    }

    #[test]
    fn a_draft_course_is_left_out_whole() {
        let mut left_out = LeftOut::default();
        let modules: &[&[(&str, bool)]] = &[&[("a", false), ("b", true)]];
        assert!(leave_out_drafts(course(true, modules), &mut left_out).is_none());
        assert_eq!(left_out.courses, ["c"]);
        let left: Vec<_> = left_out.lessons.iter().map(|l| (l.slug.as_str(), l.in_draft_course)).collect();
        assert_eq!(left, [("a", true), ("b", true)]);
    }
}
