//! Entry points for the fuzz targets in `fuzz/` (`course` does not use them): each runs one
//! parser authors feed exactly as `course build` runs it and hands back what the targets
//! check. The pipeline's own types stay crate-private; the unit tests below run each entry
//! once, so CI keeps them compiling and working.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bundle::Access;

use crate::build::assets;
use crate::build::cache::{FileHashes, ZipCache};
use crate::build::catalogue::{self, FrontMatter, SourceFile, FRONT_MATTER_KEYS};
use crate::build::diagnostics::{ContentError, Diagnostics, LineIndex};
use crate::build::frontmatter::{parse_toml_checked, split};
use crate::build::markdown::components::{Components, Counters, LabEntry};
use crate::build::markdown::MarkdownEnv;
use crate::build::theme::Theme;
use crate::build::tree::{ContentRoot, DEFAULT_MAX_SOURCE_BYTES};
use crate::build::{highlight, lab_entries, link_targets, sanitize};

/// The 1-based line and column (in characters) of a byte offset, as content errors give it.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).line_col(offset)
}

/// What reading a lesson's front matter gave.
pub struct FrontMatterRun<'t> {
    /// The TOML between the `+++` fences, its byte offset and the body's; `None` when a
    /// fence is missing (then `errors` says why).
    pub split: Option<(&'t str, usize, usize)>,
    /// Whether the front matter parsed into a lesson's fields.
    pub parsed: bool,
    /// Where in the TOML the `slug` value is (the catalogue reports a bad slug there).
    pub slug_span: Option<Range<usize>>,
    pub errors: Vec<ContentError>,
}

/// Splits `text` (the file `file`) and parses its front matter as the catalogue does.
pub fn front_matter<'t>(file: &Path, text: &'t str) -> FrontMatterRun<'t> {
    let diags = Diagnostics::default();
    let parts = match split(text) {
        Ok(parts) => parts,
        Err((offset, message)) => {
            diags.at_offset(file, text, offset, message);
            return FrontMatterRun { split: None, parsed: false, slug_span: None, errors: diags.take() };
        }
    };
    let front: Option<FrontMatter> = parse_toml_checked(
        &diags,
        file,
        text,
        parts.front,
        parts.front_offset,
        "front matter",
        &FRONT_MATTER_KEYS,
    );
    FrontMatterRun {
        split: Some((parts.front, parts.front_offset, parts.body_offset)),
        parsed: front.is_some(),
        slug_span: front.and_then(|front| front.slug).map(|slug| slug.span()),
        errors: diags.take(),
    }
}

/// Raw HTML of a lesson as the sanitiser publishes it (`generated` stands for the HTML the
/// builder itself puts back in place).
pub fn sanitize(html: &str) -> String {
    sanitize::clean(html, &["<b>generated</b>".to_owned()])
}

/// The Markdown pipeline set up as `course build` sets it up for a content root: its
/// theme (quiz, animation and lab partials), assets, labs and link targets. Loading it
/// leaks it: a fuzzing process loads one and keeps it to the end.
pub struct Site {
    diags: &'static Diagnostics,
    markdown: &'static MarkdownEnv<'static>,
    components: &'static Components<'static>,
    content: PathBuf,
    course: String,
}

/// One render of fuzzed text: the lesson file it was placed in, its HTML, and its errors.
pub struct Render {
    pub source: String,
    pub html: Option<String>,
    /// The ids of the headings the HTML links to from its table of contents.
    pub heading_ids: Vec<String>,
    pub errors: Vec<ContentError>,
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

impl Site {
    /// Loads `content` (which must build without errors); fuzzed lessons pretend to live in
    /// the directory of `course`, so its relative links resolve.
    pub fn load(content: &Path, course: &str) -> Result<Site, Vec<ContentError>> {
        let diags = leak(Diagnostics::default());
        let loaded = (|| {
            let root = ContentRoot::open(diags, content, DEFAULT_MAX_SOURCE_BYTES)?;
            let catalogue = leak(catalogue::load(diags, &root, true, &Default::default())?);
            let assets = leak(assets::collect(
                diags,
                &root,
                highlight::stylesheet(),
                &FileHashes::default(),
                &ZipCache::default(),
            ));
            let theme = leak(Theme::load(diags, &root, assets.theme.clone())?);
            let links = leak(link_targets(catalogue, assets));
            let labs: &BTreeMap<String, LabEntry<'static>> = leak(lab_entries(catalogue, assets));
            let plain = leak(MarkdownEnv { diags, links, assets, components: None });
            let components = leak(Components { diags, theme, assets, labs, instructions: plain });
            let markdown = leak(MarkdownEnv { diags, links, assets, components: Some(components) });
            Some((markdown, components))
        })();
        let errors = diags.take();
        match loaded {
            Some((markdown, components)) if errors.is_empty() => Ok(Site {
                diags,
                markdown,
                components,
                content: content.to_owned(),
                course: course.to_owned(),
            }),
            _ => Err(errors),
        }
    }

    fn lesson(&self, text: String) -> SourceFile {
        let rel = format!("courses/{}/fuzzed.md", self.course);
        SourceFile { shown: self.content.join(&rel), rel, text }
    }

    fn scope(&self, enrolled: bool) -> Access {
        if enrolled {
            Access::Course(self.course.clone())
        } else {
            Access::Public
        }
    }

    /// `body` as a lesson body (no front matter), public or in the course's grant scope.
    pub fn render_lesson(&self, body: &str, enrolled: bool) -> Render {
        let source = self.lesson(body.to_owned());
        let rendered = self.markdown.render(&source, 0, &self.scope(enrolled));
        Render {
            heading_ids: rendered.toc.into_iter().map(|entry| entry.id).collect(),
            html: Some(rendered.html),
            errors: self.diags.take(),
            source: source.text,
        }
    }

    /// `code` as the TOML of a ` ```kind ` block (quiz, animation or lab) in a lesson.
    pub fn render_block(&self, kind: &str, code: &str, enrolled: bool) -> Render {
        let prefix = format!("+++\ntitle = \"Fuzzed\"\n+++\n\nBefore the block.\n\n```{kind}\n");
        let source = self.lesson(format!("{prefix}{code}\n```\n"));
        let scope = self.scope(enrolled);
        let mut page = crate::build::markdown::Page::new(&scope);
        let html =
            self.components.render(kind, code, &source, prefix.len(), &mut Counters::default(), &mut page);
        Render { html, heading_ids: Vec::new(), errors: self.diags.take(), source: source.text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Site {
        let content = Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
        Site::load(&content, "python-foundations").unwrap_or_else(|errors| panic!("{errors:?}"))
    }

    #[test]
    fn front_matter_reports_the_slug_span_and_errors_in_the_file() {
        let text = "+++\ntitle = \"T\"\nslug = \"x y\"\nextra = 1\n+++\n# Body\n";
        let run = front_matter(Path::new("l.md"), text);
        let (front, front_offset, body_offset) = run.split.expect("split");
        assert_eq!(&text[front_offset..front_offset + front.len()], front);
        assert_eq!(&text[body_offset..], "# Body\n");
        assert!(run.parsed);
        assert_eq!(&front[run.slug_span.expect("slug")], "\"x y\"");
        assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
        assert_eq!((run.errors[0].line, run.errors[0].col), (4, 1));
        assert!(front_matter(Path::new("l.md"), "no fence").split.is_none());
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn the_sample_site_renders_lessons_and_blocks_and_reports_bad_ones() {
        let site = sample();
        let lesson = site.render_lesson("## Hello\n\n[bad](javascript:alert(1))\n", false);
        assert_eq!(lesson.heading_ids, ["hello"]);
        assert_eq!(lesson.errors.len(), 1, "{:?}", lesson.errors);
        let quiz = "[[questions]]\nprompt = \"2+2?\"\nchoices = [\"4\", \"5\"]\nanswer = 0\n";
        let block = site.render_block("quiz", quiz, true);
        assert!(block.html.is_some() && block.errors.is_empty(), "{:?}", block.errors);
        assert!(site.render_block("quiz", "nonsense = [", false).errors.len() == 1);
        assert!(!sanitize("<script>x</script><b>ok</b>").contains("<script"));
    }
}
