//! `course new <slug>`: scaffolds a course in a content root — `courses/<slug>/course.toml`
//! (title, summary, one module, `draft = true`) and its first lesson — and adds the slug
//! to site.toml's course list when the site lists its courses. It never overwrites: an
//! existing course folder, a bad slug or a folder that is no content root is refused
//! before anything is written.
//!
//! The course starts as a draft (as Hugo's `hugo new` marks new content): `course serve`
//! shows it at once, while a `course build` meant for publishing leaves it out until the
//! author takes `draft = true` out of its course.toml.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use bundle::paths::is_slug;
use serde::Deserialize;
use toml::Spanned;

/// The slug (and file name) of the lesson a new course starts with.
pub const FIRST_LESSON: &str = "introduction";

/// What [`new_course`] wrote.
#[derive(Debug)]
pub struct NewCourse {
    pub slug: String,
    pub course_toml: PathBuf,
    pub lesson: PathBuf,
    /// site.toml, when the slug was added to its course list.
    pub listed_in: Option<PathBuf>,
}

impl std::fmt::Display for NewCourse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "created {}", self.course_toml.display())?;
        writeln!(f, "created {}", self.lesson.display())?;
        if let Some(site) = &self.listed_in {
            writeln!(f, "added {} to the courses of {}", self.slug, site.display())?;
        }
        write!(
            f,
            "the course is a draft: `course serve` shows it; `course build` leaves it out until you \
             take `draft = true` out of {}",
            self.course_toml.display()
        )
    }
}

/// A title from a slug: `intro-to-rust` -> `Intro to rust`.
pub fn title_of(slug: &str) -> String {
    let words = slug.replace('-', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Writes the course `slug` into the content root `content` (see the module docs).
pub fn new_course(content: &Path, slug: &str, title: Option<&str>) -> anyhow::Result<NewCourse> {
    if !is_slug(slug) {
        bail!(
            "`{slug}` is not a course slug: use a-z, 0-9 and inner -, at most 64 characters \
             (e.g. `intro-to-rust`)"
        );
    }
    let site_path = content.join("site.toml");
    if !site_path.is_file() {
        bail!(
            "{} is not a content root: it has no site.toml (pass --content with the folder that holds \
             site.toml, courses/ and theme/)",
            content.display()
        );
    }
    let dir = content.join("courses").join(slug);
    if dir.symlink_metadata().is_ok() {
        bail!(
            "{} exists already: `course new` never overwrites a course (choose another slug)",
            dir.display()
        );
    }
    let title = title.map_or_else(|| title_of(slug), str::to_owned);
    if title.trim().is_empty() {
        bail!("the title must not be empty");
    }
    let site =
        std::fs::read_to_string(&site_path).with_context(|| format!("reading {}", site_path.display()))?;
    let listed = list_course(&site, slug).with_context(|| format!("{}", site_path.display()))?;

    std::fs::create_dir_all(content.join("courses")).context("creating courses/")?;
    // `create_dir` (not `_all`) fails if another run made the folder meanwhile.
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let course_toml = dir.join("course.toml");
    let lesson = dir.join(format!("{FIRST_LESSON}.md"));
    let written = write_new(&course_toml, &course_toml_text(&title))
        .and_then(|()| write_new(&lesson, LESSON))
        .and_then(|()| match &listed {
            Some(text) => write_replacing(&site_path, text),
            None => Ok(()),
        });
    if let Err(err) = written {
        // Leave nothing half made: the folder is this run's own.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(err);
    }
    Ok(NewCourse { slug: slug.to_owned(), course_toml, lesson, listed_in: listed.map(|_| site_path) })
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn course_toml_text(title: &str) -> String {
    format!(
        "title = {title}\n\
         summary = \"What students learn in this course, in one sentence (shown on the index).\"\n\
         level = \"Beginner\"\n\
         access = \"public\"  # or \"enrolled\": only students holding a signed grant\n\
         # A draft: `course serve` and `course build --drafts` show it, `course build` leaves it\n\
         # out. Take this line out to publish the course.\n\
         draft = true\n\
         \n\
         [[modules]]\n\
         title = \"Getting started\"\n\
         lessons = [\"{FIRST_LESSON}\"]  # lesson slugs (file names without .md), in order\n",
        title = toml_string(title)
    )
}

const LESSON: &str = "+++\n\
title = \"Introduction\"\n\
summary = \"What this course covers and how it is organised.\"\n\
duration = 5\n\
+++\n\
\n\
# Introduction\n\
\n\
Welcome! Replace this text with the first lesson.\n\
\n\
## What you will learn\n\
\n\
- A first point\n\
- A second point\n\
\n\
## Next steps\n\
\n\
Add a lesson by writing another `.md` file next to this one and listing its slug in a\n\
module of `course.toml`; link to it from here as `[Its title](its-slug.md)`.\n";

/// Creates `path` with `text`; fails if it exists.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Replaces `path` with `text` atomically (temp file and rename).
fn write_replacing(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("site.toml");
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

#[derive(Deserialize)]
struct SiteCourses {
    #[serde(default)]
    courses: Option<Spanned<Vec<Spanned<String>>>>,
}

/// site.toml's text with `slug` appended to its `courses` list, keeping the rest of the
/// file as it is; `None` when the site lists no courses (the catalogue then orders them
/// alphabetically) or lists this one already.
fn list_course(site: &str, slug: &str) -> anyhow::Result<Option<String>> {
    let parsed: SiteCourses = toml::from_str(site).map_err(|e| anyhow!("does not parse: {}", e.message()))?;
    let Some(courses) = parsed.courses else { return Ok(None) };
    if courses.get_ref().iter().any(|c| c.get_ref() == slug) {
        return Ok(None);
    }
    let array = courses.span();
    let entry = format!("\"{slug}\"");
    let text = match courses.get_ref().last() {
        None => {
            let at = array.start + 1; // after `[`
            format!("{}{entry}{}", &site[..at], &site[at..])
        }
        Some(last) => {
            let first = courses.get_ref().first().map_or(last.span().start, |c| c.span().start);
            let at = last.span().end;
            let one_per_line = site[array.start..first].contains('\n');
            let separator = if one_per_line {
                let line_start = site[..last.span().start].rfind('\n').map_or(0, |i| i + 1);
                let indent: String =
                    site[line_start..last.span().start].chars().take_while(|c| c.is_whitespace()).collect();
                format!(",\n{indent}")
            } else {
                ", ".to_owned()
            };
            format!("{}{separator}{entry}{}", &site[..at], &site[at..])
        }
    };
    // The edit must give the same list plus the new slug, and the file must still parse.
    let check: SiteCourses = toml::from_str(&text).map_err(|e| anyhow!("could not add `{slug}`: {e}"))?;
    let before: Vec<&String> = courses.get_ref().iter().map(Spanned::get_ref).collect();
    let after: Vec<String> = check
        .courses
        .map(|c| c.into_inner().into_iter().map(Spanned::into_inner).collect())
        .unwrap_or_default();
    if after.len() != before.len() + 1 || after.last().map(String::as_str) != Some(slug) {
        bail!("could not add `{slug}` to its course list; add it by hand");
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_slugs() {
        assert_eq!(title_of("intro-to-rust"), "Intro to rust");
        assert_eq!(title_of("x"), "X");
    }

    #[test]
    fn the_slug_is_appended_to_the_course_list_keeping_the_file() {
        let one_line = "title = \"T\"\ncourses = [\"a\", \"b\"]  # order\ntagline = \"x\"\n";
        assert_eq!(
            list_course(one_line, "new").expect("edits").as_deref(),
            Some("title = \"T\"\ncourses = [\"a\", \"b\", \"new\"]  # order\ntagline = \"x\"\n")
        );
        let trailing = "courses = [\n  \"a\",\n  \"b\", # last\n]\n";
        assert_eq!(
            list_course(trailing, "new").expect("edits").as_deref(),
            Some("courses = [\n  \"a\",\n  \"b\",\n  \"new\", # last\n]\n")
        );
        assert_eq!(
            list_course("courses = []\n", "new").expect("edits").as_deref(),
            Some("courses = [\"new\"]\n")
        );
        assert_eq!(
            list_course("title = \"T\"\n", "new").expect("no list"),
            None,
            "the site lists no courses"
        );
        assert_eq!(list_course("courses = [\"new\"]\n", "new").expect("listed"), None, "listed already");
        assert!(list_course("courses = [", "new").is_err());
    }

    #[test]
    fn refuses_bad_slugs_non_roots_and_existing_courses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let err = new_course(root, "ok", None).expect_err("no site.toml");
        assert!(err.to_string().contains("is not a content root"), "{err}");
        std::fs::write(root.join("site.toml"), "title = \"S\"\ncourses = [\"old\"]\n").expect("site");
        for bad in ["Bad", "-x", "a b", "", "../x"] {
            let err = new_course(root, bad, None).expect_err("a bad slug");
            assert!(err.to_string().contains("is not a course slug"), "{bad}: {err}");
        }
        let made = new_course(root, "fresh", Some("A \"quoted\" title")).expect("scaffolds");
        let course = std::fs::read_to_string(&made.course_toml).expect("course.toml");
        let parsed: toml::Table = toml::from_str(&course).expect("course.toml parses");
        assert_eq!(parsed["title"].as_str(), Some("A \"quoted\" title"), "{course}");
        assert_eq!(parsed["draft"].as_bool(), Some(true), "a new course is a draft");
        assert!(std::fs::read_to_string(root.join("site.toml"))
            .expect("site")
            .contains("[\"old\", \"fresh\"]"));
        std::fs::write(&made.lesson, "edited").expect("edit");
        let err = new_course(root, "fresh", None).expect_err("exists");
        assert!(err.to_string().contains("exists already"), "{err}");
        assert_eq!(std::fs::read_to_string(&made.lesson).expect("lesson"), "edited", "never overwritten");
    }
}
