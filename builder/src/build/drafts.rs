//! Drafts: `draft = true` in a lesson's front matter or in a course.toml. A build with
//! drafts (`course build --drafts`, `course serve`) shows them, marked as drafts, and
//! records their routes in the manifest, so `course publish` refuses the release; a
//! build without (`course build`) leaves them out entirely ([`catalogue::LeftOut`]): no
//! page, no navigation entry, none of the files only they use, and a link to one from a
//! published page is a content error.

use std::fmt;
use std::path::PathBuf;

use crate::build::assets::UsedAssets;
use crate::build::catalogue::Catalogue;
use crate::build::diagnostics::Diagnostics;
use crate::build::markdown::components::Components;
use crate::build::markdown::{DraftKind, DraftTargets, MarkdownEnv};
use crate::build::pages::{course_url, lesson_route, lesson_url};

/// How many drafts a build left out or included (a line of its report).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DraftCount {
    /// Draft lessons of courses that are not drafts themselves.
    pub lessons: usize,
    /// Draft courses (their lessons are not counted in `lessons`).
    pub courses: usize,
    /// Whether the build included them (a preview) or left them out.
    pub included: bool,
    /// Files used only by the drafts left out, not published with them.
    pub files_only_drafts_use: usize,
}

impl DraftCount {
    pub fn is_empty(&self) -> bool {
        self.lessons == 0 && self.courses == 0
    }

    pub(crate) fn of(catalogue: &Catalogue, included: bool) -> DraftCount {
        if included {
            let courses = catalogue.courses.iter().filter(|c| c.draft).count();
            let lessons = catalogue
                .courses
                .iter()
                .filter(|c| !c.draft)
                .map(|c| c.lessons.iter().filter(|l| l.draft).count())
                .sum();
            DraftCount { lessons, courses, included, files_only_drafts_use: 0 }
        } else {
            let left_out = &catalogue.left_out;
            let lessons = left_out.lessons.iter().filter(|l| !l.in_draft_course).count();
            DraftCount { lessons, courses: left_out.courses.len(), included, files_only_drafts_use: 0 }
        }
    }
}

impl fmt::Display for DraftCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, what: &str| format!("{n} draft {what}{}", if n == 1 { "" } else { "s" });
        let mut what = Vec::new();
        if self.lessons > 0 {
            what.push(plural(self.lessons, "lesson"));
        }
        if self.courses > 0 {
            what.push(plural(self.courses, "course"));
        }
        let what = what.join(" and ");
        if self.included {
            write!(f, "included {what}, marked as drafts: this release is a preview and cannot be published")
        } else {
            write!(
                f,
                "left out {what}: not published (`course build --drafts` and `course serve` show drafts)"
            )?;
            match self.files_only_drafts_use {
                0 => Ok(()),
                1 => write!(f, "; 1 file only drafts use was left out with them"),
                n => write!(f, "; {n} files only drafts use were left out with them"),
            }
        }
    }
}

/// The drafts links may name, included or left out.
pub(crate) fn targets(catalogue: &Catalogue, included: bool) -> DraftTargets {
    let mut targets = DraftTargets { included, ..DraftTargets::default() };
    if included {
        for course in &catalogue.courses {
            if course.draft {
                targets.routes.insert(course_url(course), DraftKind::Course);
            }
            for lesson in &course.lessons {
                let kind = match (course.draft, lesson.draft) {
                    (true, _) => DraftKind::LessonOfDraftCourse,
                    (false, true) => DraftKind::Lesson,
                    (false, false) => continue,
                };
                targets.lessons.insert(lesson.source.rel.clone(), kind);
                targets.routes.insert(lesson_url(course, lesson), kind);
            }
        }
    } else {
        for slug in &catalogue.left_out.courses {
            targets.routes.insert(bundle::paths::course_prefix(slug), DraftKind::Course);
        }
        for lesson in &catalogue.left_out.lessons {
            let kind =
                if lesson.in_draft_course { DraftKind::LessonOfDraftCourse } else { DraftKind::Lesson };
            targets.lessons.insert(lesson.source.rel.clone(), kind);
            targets.routes.insert(lesson_route(&lesson.course, &lesson.slug), kind);
        }
    }
    targets
}

/// Routes of the draft pages a build includes, sorted (the manifest's `drafts`).
pub(crate) fn included_routes(catalogue: &Catalogue) -> Vec<String> {
    let mut routes = Vec::new();
    for course in &catalogue.courses {
        if course.draft {
            routes.push(course_url(course));
        }
        for lesson in course.lessons.iter().filter(|l| course.draft || l.draft) {
            routes.push(lesson_url(course, lesson));
        }
    }
    routes.sort();
    routes
}

/// The files no page `used` that are not published (the build's warning), and the count
/// of drafts. Files that only the drafts left out use are not published either, but are
/// not called unused: they are counted with the drafts. To find them, the drafts' bodies
/// are rendered with diagnostics thrown away (a draft left out is not checked).
pub(crate) fn unpublished(
    catalogue: &Catalogue,
    included: bool,
    used: &UsedAssets,
    components: &Components<'_>,
) -> (Vec<PathBuf>, DraftCount) {
    let assets = components.assets;
    let unused = assets.unused(used);
    let mut count = DraftCount::of(catalogue, included);
    if catalogue.left_out.lessons.is_empty() {
        return (unused, count);
    }
    let scratch = Diagnostics::default();
    let plain = MarkdownEnv { diags: &scratch, ..*components.instructions };
    let quiet_components = Components { diags: &scratch, instructions: &plain, ..*components };
    let quiet = MarkdownEnv { components: Some(&quiet_components), ..plain };
    let mut with_drafts = used.clone();
    for lesson in &catalogue.left_out.lessons {
        let body = quiet.render(&lesson.source, lesson.body_offset, &lesson.scope);
        with_drafts.extend(body.uses.into_iter().map(|id| (lesson.scope.clone(), id)));
    }
    let still_unused = assets.unused(&with_drafts);
    count.files_only_drafts_use = unused.len() - still_unused.len();
    (still_unused, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_line_says_what_and_why() {
        let left_out = DraftCount { lessons: 2, courses: 1, included: false, files_only_drafts_use: 1 };
        assert_eq!(
            left_out.to_string(),
            "left out 2 draft lessons and 1 draft course: not published (`course build --drafts` and \
             `course serve` show drafts); 1 file only drafts use was left out with them"
        );
        let included = DraftCount { lessons: 1, courses: 0, included: true, files_only_drafts_use: 0 };
        assert_eq!(
            included.to_string(),
            "included 1 draft lesson, marked as drafts: this release is a preview and cannot be published"
        );
        assert!(DraftCount::default().is_empty());
    }
}
