//! The template contexts of the site's pages (see docs/theme.md).

use serde::Serialize;

use crate::build::catalogue::{Catalogue, Course, Lesson};
use crate::build::markdown::TocEntry;

#[derive(Serialize, Clone)]
pub(crate) struct SiteView {
    pub title: String,
    pub tagline: Option<String>,
}

#[derive(Serialize, Clone)]
pub(crate) struct LessonSummary {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub duration: Option<u32>,
    pub url: String,
    /// A lesson of an enrolled course that anyone may read.
    pub preview: bool,
    /// Not published: a draft lesson, or a lesson of a draft course (only in previews).
    pub draft: bool,
}

#[derive(Serialize, Clone)]
pub(crate) struct ModuleView {
    pub title: String,
    pub lessons: Vec<LessonSummary>,
}

#[derive(Serialize, Clone)]
pub(crate) struct CourseView {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub level: Option<String>,
    pub access: &'static str,
    /// Who may read the course page: `public` (also for an enrolled course that shows its
    /// syllabus to everyone) or `enrolled`.
    pub syllabus: &'static str,
    pub url: String,
    pub lesson_count: usize,
    pub modules: Vec<ModuleView>,
    /// A draft course: not published (only in previews).
    pub draft: bool,
}

#[derive(Serialize)]
pub(crate) struct LessonView {
    #[serde(flatten)]
    pub summary: LessonSummary,
    pub content: String,
    pub toc: Vec<TocEntry>,
}

pub(crate) fn course_url(course: &Course) -> String {
    bundle::paths::course_prefix(&course.slug)
}

pub(crate) fn lesson_url(course: &Course, lesson: &Lesson) -> String {
    lesson_route(&course.slug, &lesson.slug)
}

/// The route of lesson `lesson` of course `course`.
pub(crate) fn lesson_route(course: &str, lesson: &str) -> String {
    format!("{}{lesson}/", bundle::paths::course_prefix(course))
}

pub(crate) fn site_view(catalogue: &Catalogue) -> SiteView {
    SiteView { title: catalogue.site.title.clone(), tagline: catalogue.site.tagline.clone() }
}

pub(crate) fn lesson_summary(course: &Course, lesson: &Lesson) -> LessonSummary {
    LessonSummary {
        slug: lesson.slug.clone(),
        title: lesson.title.clone(),
        summary: lesson.summary.clone(),
        duration: lesson.duration,
        url: lesson_url(course, lesson),
        preview: course.enrolled && lesson.preview,
        draft: lesson.draft || course.draft,
    }
}

pub(crate) fn course_view(course: &Course) -> CourseView {
    let modules = course
        .modules
        .iter()
        .map(|m| ModuleView {
            title: m.title.clone(),
            lessons: course.lessons[m.lessons.clone()].iter().map(|l| lesson_summary(course, l)).collect(),
        })
        .collect();
    CourseView {
        slug: course.slug.clone(),
        title: course.title.clone(),
        summary: course.summary.clone(),
        level: course.level.clone(),
        access: if course.enrolled { "enrolled" } else { "public" },
        syllabus: if course.page_access() == bundle::Access::Public { "public" } else { "enrolled" },
        url: course_url(course),
        lesson_count: course.lessons.len(),
        modules,
        draft: course.draft,
    }
}
