//! Lesson Markdown to HTML: heading ids and table of contents, highlighted code, rich
//! fenced blocks (quiz, animation, lab), and links/images resolved to their URLs.

/// Fenced blocks (quiz, animation, lab); a lab's instructions are Markdown again.
pub(crate) mod components;
/// What renders without a word but is not what the author meant.
pub(crate) mod lint;

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::ops::Range;

use pulldown_cmark::{Alignment, CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};
use serde::Serialize;

use bundle::Access;

use crate::build::assets::{AssetId, Assets, Uses};
use crate::build::catalogue::SourceFile;
use crate::build::diagnostics::{Diagnostics, LineIndex};
use crate::build::highlight::highlight;
use crate::build::links::{self, LinkRef, LinkTo};
use crate::build::markdown::components::Components;
use crate::build::relpath;
use crate::build::sanitize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TocEntry {
    pub level: u8,
    pub id: String,
    pub text: String,
}

pub(crate) struct Rendered {
    pub html: String,
    pub toc: Vec<TocEntry>,
    /// The media, animations and labs the HTML refers to (published in the page's scope).
    pub uses: Uses,
    /// The links checked once every page is rendered (anchors, external URLs), those of the
    /// lab instructions it shows included.
    pub links: Vec<LinkRef>,
    /// False when a mistake (an unclosed code fence) may have hidden some of its headings.
    pub ids_complete: bool,
}

/// One render's scope (whose media its references are) and what it used so far.
pub(crate) struct Page<'s> {
    pub scope: &'s Access,
    pub uses: Uses,
    /// Links to check after rendering (see [`Rendered::links`]).
    pub links: Vec<LinkRef>,
    /// Links of this render's own source, by byte offset: made [`LinkRef`]s at its end.
    found: Vec<(usize, String, LinkTo)>,
}

impl<'s> Page<'s> {
    pub(crate) fn new(scope: &'s Access) -> Self {
        Page { scope, uses: Uses::new(), links: Vec::new(), found: Vec::new() }
    }
}

/// Where internal links may point.
#[derive(Default)]
pub(crate) struct LinkTargets {
    /// Content-relative lesson file (`courses/py/loops.md`) -> its URL.
    pub lessons: HashMap<String, String>,
    /// Every route of the release.
    pub routes: HashSet<String>,
    /// Lesson files that failed to load; links to them are not errors of their own.
    pub broken: BTreeSet<String>,
    /// Lesson files listed in no module of their course (not published): links to them are errors.
    pub orphans: BTreeSet<String>,
    /// The drafts, included in this build or left out (`build::drafts`).
    pub drafts: DraftTargets,
}

/// Drafts a link may name: with the drafts left out, a link from a published page to one
/// is an error; with them included (a preview), a warning that `course build` will fail.
#[derive(Default)]
pub(crate) struct DraftTargets {
    /// Content-relative lesson file -> what it is.
    pub lessons: HashMap<String, DraftKind>,
    /// Route of a draft page -> what it is.
    pub routes: HashMap<String, DraftKind>,
    /// Whether the drafts are in this build.
    pub included: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DraftKind {
    Lesson,
    LessonOfDraftCourse,
    Course,
}

impl DraftKind {
    fn what(self) -> &'static str {
        match self {
            DraftKind::Lesson => "a draft lesson",
            DraftKind::LessonOfDraftCourse => "a lesson of a draft course",
            DraftKind::Course => "a draft course",
        }
    }
}

/// Read-only state shared by every Markdown render of a build.
pub(crate) struct MarkdownEnv<'a> {
    pub diags: &'a Diagnostics,
    pub links: &'a LinkTargets,
    pub assets: &'a Assets,
    /// `None` where rich blocks are not allowed (lab instructions).
    pub components: Option<&'a Components<'a>>,
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Renders inline Markdown (a quiz prompt, choice or explanation) without the wrapping
/// paragraph, with the same rules as lessons: heading attributes dropped, raw HTML
/// sanitised, and each link's and image's destination given by `resolve(dest, what)`
/// (`what` is `link` or `image`), which checks it as a lesson's.
pub(crate) fn inline_html_with(text: &str, resolve: &mut dyn FnMut(&str, &str) -> String) -> String {
    let mut html = String::new();
    let events: Vec<Event<'_>> = Parser::new_ext(text, options()).collect();
    let raw = events.iter().any(|e| matches!(e, Event::Html(_) | Event::InlineHtml(_)));
    let mut tables = TableAlign::default();
    let mut events: Vec<Event<'_>> = events.into_iter().map(|e| tables.map(e)).collect();
    for event in &mut events {
        match event {
            Event::Start(Tag::Heading { attrs, .. }) => attrs.clear(),
            Event::Start(Tag::Link { link_type: LinkType::Email, .. }) => {}
            Event::Start(Tag::Link { dest_url, .. }) => *dest_url = resolve(dest_url, "link").into(),
            Event::Start(Tag::Image { dest_url, .. }) => *dest_url = resolve(dest_url, "image").into(),
            _ => {}
        }
    }
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    if raw {
        html = sanitize::clean(&html, &[]);
    }
    let trimmed = html.trim_end();
    match trimmed.strip_prefix("<p>").and_then(|s| s.strip_suffix("</p>")) {
        Some(inner) if !inner.contains("<p>") => inner.to_owned(),
        _ => trimmed.to_owned(),
    }
}

/// The raw HTML in inline Markdown `text` (what [`inline_html`] sanitises), piece by piece.
pub(crate) fn raw_html_of_inline(text: &str) -> Vec<String> {
    Parser::new_ext(text, options())
        .filter_map(|e| match e {
            Event::Html(h) | Event::InlineHtml(h) => Some(h.into_string()),
            _ => None,
        })
        .collect()
}

/// Table cells of aligned columns (`:---`, `:---:`, `---:`) get a class (`align-left`,
/// `align-center`, `align-right`, styled by the theme) instead of the `style` attribute
/// pulldown-cmark writes, which the site's Content-Security-Policy (`style-src 'self'`)
/// would block.
#[derive(Default)]
struct TableAlign {
    columns: Vec<Alignment>,
    head: bool,
    cell: usize,
}

impl TableAlign {
    fn map<'e>(&mut self, event: Event<'e>) -> Event<'e> {
        match event {
            Event::Start(Tag::Table(columns)) => {
                self.columns = columns;
                Event::Start(Tag::Table(Vec::new()))
            }
            Event::Start(Tag::TableHead) => {
                (self.head, self.cell) = (true, 0);
                event
            }
            Event::End(TagEnd::TableHead) => {
                self.head = false;
                event
            }
            Event::Start(Tag::TableRow) => {
                self.cell = 0;
                event
            }
            Event::Start(Tag::TableCell) => {
                let class = match self.columns.get(self.cell) {
                    Some(Alignment::Left) => " class=\"align-left\"",
                    Some(Alignment::Center) => " class=\"align-center\"",
                    Some(Alignment::Right) => " class=\"align-right\"",
                    _ => "",
                };
                Event::Html(format!("<{}{class}>", self.cell_tag()).into())
            }
            Event::End(TagEnd::TableCell) => {
                self.cell += 1;
                Event::Html(format!("</{}>", self.cell_tag()).into())
            }
            other => other,
        }
    }

    fn cell_tag(&self) -> &'static str {
        if self.head {
            "th"
        } else {
            "td"
        }
    }
}

/// Most raw HTML one lesson may hold: sanitising deeply nested HTML costs time quadratic
/// in its depth, and real lessons use a few kilobytes at most.
pub(crate) const MAX_RAW_HTML: usize = 64 << 10;

/// Heading text to an anchor id (not a URL slug: letters of any script are kept):
/// lowercase, letters, digits and `_` kept, spaces and `-` to `-`.
pub(crate) fn heading_anchor(text: &str) -> String {
    let mut slug = String::new();
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '_' {
            slug.push(c);
        } else if (c == ' ' || c == '-') && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        "section".to_owned()
    } else {
        slug
    }
}

impl MarkdownEnv<'_> {
    /// Renders `source.text[body_offset..]` for a page of `scope`; problems go to the
    /// diagnostics. Raw HTML the author wrote is sanitised (see [`sanitize`]); what the
    /// build itself generates (highlighted code, quizzes, animations, labs) is not.
    pub(crate) fn render(&self, source: &SourceFile, body_offset: usize, scope: &Access) -> Rendered {
        let body = &source.text[body_offset..];
        let mut events: Vec<(Event<'_>, Range<usize>)> =
            Parser::new_ext(body, options()).into_offset_iter().collect();
        let raw_bytes: usize = events
            .iter()
            .map(|(e, _)| match e {
                Event::Html(h) | Event::InlineHtml(h) => h.len(),
                _ => 0,
            })
            .sum();
        let raw_html = raw_bytes > 0;
        // Whether every id the author meant the page to have is on it: a mistake that drops
        // part of the page (reported) makes links into it unchecked, not errors of their own.
        let mut ids_complete = true;
        if raw_bytes > MAX_RAW_HTML {
            let first = events.iter().find(|(e, _)| matches!(e, Event::Html(_) | Event::InlineHtml(_)));
            let at = body_offset + first.map_or(0, |(_, r)| r.start);
            let msg = format!(
                "the lesson holds {} of raw HTML, over the {} limit (put it in a lab, or use Markdown)",
                bundle::size::human_bytes(raw_bytes as u64),
                bundle::size::human_bytes(MAX_RAW_HTML as u64)
            );
            self.diags.at_offset(&source.shown, &source.text, at, msg);
            events.retain(|(e, _)| !matches!(e, Event::Html(_) | Event::InlineHtml(_)));
            ids_complete = false;
        } else if raw_html {
            for (event, range) in &events {
                if matches!(event, Event::Start(Tag::HtmlBlock) | Event::InlineHtml(_)) {
                    let at = body_offset + range.start;
                    lint::raw_html(self.diags, source, at, &body[range.clone()]);
                }
            }
        }
        let toc = self.assign_heading_ids(&mut events);
        let mut page = Page::new(scope);
        let mut tables = TableAlign::default();
        // With raw HTML to sanitise, generated HTML waits outside as numbered placeholders.
        let mut generated: Vec<String> = Vec::new();
        let mut emit = |html: String, out: &mut Vec<Event<'_>>| {
            if raw_html {
                out.push(Event::Html(sanitize::placeholder(generated.len()).into()));
                generated.push(html);
            } else {
                out.push(Event::Html(html.into()));
            }
        };
        let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len());
        let mut counters = components::Counters::default();
        let mut i = 0;
        while i < events.len() {
            let (event, range) = &events[i];
            let at = body_offset + range.start;
            match event {
                Event::Start(Tag::CodeBlock(kind)) => {
                    let block = &body[range.clone()];
                    let lang = match kind {
                        CodeBlockKind::Fenced(info) => {
                            info.split_whitespace().next().unwrap_or("").to_owned()
                        }
                        CodeBlockKind::Indented => String::new(),
                    };
                    let closed = !matches!(kind, CodeBlockKind::Fenced(_)) || lint::fence_closed(block);
                    if !closed {
                        // Shown as the code it became, and nothing in it is checked (a quiz
                        // block's "TOML" would be the rest of the lesson).
                        let to_end = body[range.end..].trim().is_empty();
                        lint::unclosed_fence(self.diags, source, at, lint::opening_fence(block), to_end);
                        ids_complete = false;
                    } else if !lang.is_empty() {
                        let lang_at = block.find(lang.as_str()).unwrap_or(0);
                        ids_complete &=
                            lint::code_language(self.diags, source, at + lang_at, &lang, &components::BLOCKS);
                    }
                    let mut code = String::new();
                    let mut code_at = None;
                    i += 1;
                    while let Some((ev, r)) = events.get(i) {
                        match ev {
                            Event::Text(t) => {
                                code_at.get_or_insert(body_offset + r.start);
                                code.push_str(t);
                            }
                            Event::End(TagEnd::CodeBlock) => break,
                            _ => {}
                        }
                        i += 1;
                    }
                    let html = if closed && components::is_block(&lang) {
                        let code_at = code_at.unwrap_or(at);
                        match self.components {
                            // A block that failed (reported) leaves out its ids (`quiz-2`...).
                            Some(c) => c
                                .render(&lang, &code, source, code_at, &mut counters, &mut page)
                                .unwrap_or_else(|| {
                                    ids_complete = false;
                                    String::new()
                                }),
                            None => {
                                let msg = format!("a ```{lang} block is not allowed here");
                                self.diags.at_offset(&source.shown, &source.text, at, msg);
                                String::new()
                            }
                        }
                    } else {
                        highlight(&code, &lang)
                    };
                    emit(html, &mut out);
                }
                Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                    let dest = match link_type {
                        LinkType::Email => dest_url.to_string(),
                        LinkType::Autolink => {
                            let dest = self.check_scheme(dest_url, source, at, "link");
                            external(&dest, at, &mut page);
                            dest
                        }
                        _ => self.resolve_link(dest_url, source, at, &mut page),
                    };
                    out.push(Event::Start(Tag::Link {
                        link_type: *link_type,
                        dest_url: dest.into(),
                        title: title.clone(),
                        id: id.clone(),
                    }));
                }
                Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                    let dest = self.resolve_file(dest_url, source, at, "image", &mut page).into();
                    out.push(Event::Start(Tag::Image {
                        link_type: *link_type,
                        dest_url: dest,
                        title: title.clone(),
                        id: id.clone(),
                    }));
                }
                _ => out.push(tables.map(event.clone())),
            }
            i += 1;
        }
        let mut html = String::with_capacity(body.len() * 2);
        pulldown_cmark::html::push_html(&mut html, out.into_iter());
        if raw_html {
            html = sanitize::clean(&html, &generated);
        }
        if !page.found.is_empty() {
            let index = LineIndex::new(&source.text);
            for (at, dest, to) in std::mem::take(&mut page.found) {
                let (line, col) = index.line_col(at);
                page.links.push(LinkRef { file: source.rel.clone(), line, col, dest, to });
            }
        }
        Rendered { html, toc, uses: page.uses, links: page.links, ids_complete }
    }

    /// Gives every heading an id (its own `{#id}` or a slug of its text, made unique) and
    /// returns the h2/h3 table of contents. Other heading attributes (`{key=value}`) are
    /// dropped: they would put author-chosen attributes (`onclick`, `data-*` the theme's
    /// scripts read) on the page; `{.class}` stays.
    fn assign_heading_ids(&self, events: &mut [(Event<'_>, Range<usize>)]) -> Vec<TocEntry> {
        let mut used = HashSet::default();
        // The next suffix to try per base, so many equal headings stay linear.
        let mut next_suffix: HashMap<String, usize> = HashMap::default();
        let mut toc = Vec::new();
        for i in 0..events.len() {
            let Event::Start(Tag::Heading { level, id, .. }) = &events[i].0 else { continue };
            let level = *level as u8;
            let mut text = String::new();
            for (ev, _) in &events[i + 1..] {
                match ev {
                    Event::Text(t) | Event::Code(t) => text.push_str(t),
                    Event::End(TagEnd::Heading(_)) => break,
                    _ => {}
                }
            }
            let base = id.as_ref().map_or_else(|| heading_anchor(&text), |id| id.to_string());
            let mut unique = base.clone();
            if !used.insert(unique.clone()) {
                let n = next_suffix.entry(base.clone()).or_insert(1);
                loop {
                    unique = format!("{base}-{n}");
                    *n += 1;
                    if used.insert(unique.clone()) {
                        break;
                    }
                }
            }
            if let Event::Start(Tag::Heading { id, attrs, .. }) = &mut events[i].0 {
                *id = Some(CowStr::from(unique.clone()));
                attrs.clear();
            }
            if level == 2 || level == 3 {
                toc.push(TocEntry { level, id: unique, text });
            }
        }
        toc
    }

    /// A link: lesson files and routes are checked (and their anchors once every page is
    /// rendered), other relative files become assets.
    fn resolve_link(&self, dest: &str, source: &SourceFile, at: usize, page: &mut Page<'_>) -> String {
        if relpath::scheme(dest).is_some() {
            let dest = self.check_scheme(dest, source, at, "link");
            external(&dest, at, page);
            return dest;
        }
        let (path, suffix) = relpath::split_suffix(dest);
        if path.is_empty() {
            // `#id` (or `?query#id`) on this page.
            if let Some(fragment) = links::fragment(suffix) {
                let to = LinkTo::Anchor { page: String::new(), fragment: fragment.to_owned() };
                page.found.push((at, dest.to_owned(), to));
            }
            return dest.to_owned();
        }
        if relpath::is_external(dest) {
            return dest.to_owned();
        }
        let anchor = |page: &mut Page<'_>, url: &str| {
            if let Some(fragment) = links::fragment(suffix) {
                let to = LinkTo::Anchor { page: url.to_owned(), fragment: fragment.to_owned() };
                page.found.push((at, dest.to_owned(), to));
            }
        };
        if path.starts_with('/') {
            if let Some(&kind) = self.links.drafts.routes.get(path) {
                if !self.link_to_draft(kind, dest, source, at) {
                    return dest.to_owned();
                }
            }
            if !self.links.routes.contains(path) {
                let msg = format!("link to `{dest}`, a page that does not exist in this release");
                self.diags.at_offset(&source.shown, &source.text, at, msg);
            } else {
                anchor(page, path);
            }
            return dest.to_owned();
        }
        if path.ends_with(".md") {
            let target = relpath::join(relpath::parent(&source.rel), path);
            if let Some(&kind) = target.as_ref().and_then(|t| self.links.drafts.lessons.get(t)) {
                if !self.link_to_draft(kind, dest, source, at) {
                    return dest.to_owned();
                }
            }
            if let Some(url) = target.as_ref().and_then(|t| self.links.lessons.get(t)) {
                anchor(page, url);
                return format!("{url}{suffix}");
            }
            if target.as_ref().is_some_and(|t| self.links.broken.contains(t)) {
                return dest.to_owned();
            }
            if let Some(target) = target.as_ref().filter(|t| self.links.orphans.contains(*t)) {
                let msg = format!(
                    "link to `{dest}`, a lesson in no module of {}/course.toml: it is not published \
                     (list it in a module, or link to another lesson)",
                    relpath::parent(target)
                );
                self.diags.at_offset(&source.shown, &source.text, at, msg);
                return dest.to_owned();
            }
            let resolved = target.unwrap_or_else(|| path.to_owned());
            let msg = format!("link to a lesson that does not exist: `{dest}` (looked for {resolved})");
            self.diags.at_offset(&source.shown, &source.text, at, msg);
            return dest.to_owned();
        }
        self.resolve_file(dest, source, at, "link", page)
    }

    /// A link from `source` to a draft: an error when the drafts are left out (`false`: the
    /// link has no target), a warning in a preview unless `source` is a draft itself.
    fn link_to_draft(&self, kind: DraftKind, dest: &str, source: &SourceFile, at: usize) -> bool {
        let drafts = &self.links.drafts;
        if !drafts.included {
            let msg = format!(
                "links to {}, which is not published: `{dest}` (remove the link, or publish it: \
                 take out its `draft = true`)",
                kind.what()
            );
            self.diags.at_offset(&source.shown, &source.text, at, msg);
            return false;
        }
        if !drafts.lessons.contains_key(&source.rel) {
            let msg = format!(
                "links to {}: `{dest}` works in this preview, but `course build` fails on it \
                 until the draft is published",
                kind.what()
            );
            self.diags.warn_at_offset(&source.shown, &source.text, at, msg);
        }
        true
    }

    /// An image or file reference relative to the source file: the file's URL in the page's
    /// scope (and the file is then published there).
    fn resolve_file(
        &self,
        dest: &str,
        source: &SourceFile,
        at: usize,
        what: &str,
        page: &mut Page<'_>,
    ) -> String {
        let web =
            matches!(relpath::scheme(dest).as_deref(), Some("http" | "https")) || dest.starts_with("//");
        if what == "image" && web {
            let msg = format!(
                "image from another site (`{dest}`): the site's Content-Security-Policy (img-src 'self') \
                 blocks it; save it in the course's media/ folder and link to that"
            );
            self.diags.at_offset(&source.shown, &source.text, at, msg);
            return dest.to_owned();
        }
        if relpath::scheme(dest).is_some() {
            return self.check_scheme(dest, source, at, what);
        }
        if relpath::is_external(dest) || dest.starts_with('/') {
            return dest.to_owned();
        }
        let (path, suffix) = relpath::split_suffix(dest);
        let target = relpath::join(relpath::parent(&source.rel), path);
        if let Some(target) = target.as_ref().filter(|t| self.assets.is_active(t)) {
            let msg = format!(
                "{what} to `{target}`: HTML, XML and JavaScript files are not published as course media \
                 (they would run as code on the site); make it a lab"
            );
            self.diags.at_offset(&source.shown, &source.text, at, msg);
            return dest.to_owned();
        }
        if let Some((target, url)) =
            target.as_ref().and_then(|t| Some((t, self.assets.file_url(page.scope, t)?)))
        {
            page.uses.insert(AssetId::File(target.clone()));
            return format!("{url}{suffix}");
        }
        let resolved = target.unwrap_or_else(|| path.to_owned());
        let msg = format!("{what} to a file that does not exist: `{dest}` (looked for {resolved})");
        self.diags.at_offset(&source.shown, &source.text, at, msg);
        dest.to_owned()
    }

    /// A URL with a scheme may only be a web, mail or phone link (or, for an image, a
    /// `data:` one): `javascript:` and friends are content errors, never published.
    fn check_scheme(&self, dest: &str, source: &SourceFile, at: usize, what: &str) -> String {
        if let Some(scheme) = relpath::scheme(dest) {
            let allowed = ["http", "https", "mailto", "tel"].contains(&scheme.as_str())
                || (what == "image" && scheme == "data");
            if !allowed {
                let msg = format!(
                    "{what} with a `{scheme}:` URL is not allowed (use http:, https:, mailto: or tel:)"
                );
                self.diags.at_offset(&source.shown, &source.text, at, msg);
                return String::new();
            }
        }
        dest.to_owned()
    }
}

/// Records an `http:`/`https:` link (for `course build --check-external`).
fn external(dest: &str, at: usize, page: &mut Page<'_>) {
    if matches!(relpath::scheme(dest).as_deref(), Some("http" | "https")) {
        page.found.push((at, dest.to_owned(), LinkTo::External));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(heading_anchor("Push & Pop!"), "push-pop");
        assert_eq!(heading_anchor("  Big-O  notation "), "big-o-notation");
        assert_eq!(heading_anchor("`len()` in Python"), "len-in-python");
        assert_eq!(heading_anchor("!!!"), "section");
    }

    #[test]
    fn inline() {
        let mut seen = Vec::new();
        let mut inline = |text: &str| {
            inline_html_with(text, &mut |dest, what| {
                seen.push(format!("{what} {dest}"));
                format!("/resolved/{dest}")
            })
        };
        assert_eq!(inline("a `b` *c*"), "a <code>b</code> <em>c</em>");
        assert_eq!(
            inline("[a](x.md#y) ![i](m.png)"),
            "<a href=\"/resolved/x.md#y\">a</a> <img src=\"/resolved/m.png\" alt=\"i\" />"
        );
        let heading = inline("x\n\n# Head {onclick=alert(6) .note}");
        assert!(!heading.contains("onclick") && heading.contains("class=\"note\""), "{heading}");
        assert_eq!(inline("<b>ok</b><script>x</script>"), "<b>ok</b>");
        assert_eq!(seen, ["link x.md#y", "image m.png"]);
    }

    fn render(text: &str) -> (String, Vec<String>, Vec<String>) {
        let diags = Diagnostics::default();
        let links = LinkTargets::default();
        let assets = Assets::default();
        let env = MarkdownEnv { diags: &diags, links: &links, assets: &assets, components: None };
        let source = SourceFile { rel: "x.md".into(), shown: "x.md".into(), text: text.to_owned() };
        let html = env.render(&source, 0, &Access::Public).html;
        let show =
            |v: Vec<crate::build::diagnostics::ContentError>| v.iter().map(ToString::to_string).collect();
        (html, show(diags.take()), show(diags.take_warnings()))
    }

    #[test]
    fn aligned_columns_are_classes_not_styles() {
        let table = "| a | b | c | d |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |\n";
        for text in [table.to_owned(), format!("{table}\n<kbd>raw HTML: sanitised</kbd>\n")] {
            let (html, errors, _) = render(&text);
            assert!(errors.is_empty(), "{errors:?}");
            assert!(!html.contains("style"), "{html}");
            for cell in [
                "<th class=\"align-left\">a</th>",
                "<th class=\"align-center\">b</th>",
                "<th class=\"align-right\">c</th>",
                "<th>d</th>",
                "<td class=\"align-right\">3</td>",
                "<td>4</td>",
            ] {
                assert!(html.contains(cell), "{cell} in {html}");
            }
        }
        let prompt = inline_html_with("| a |\n|--:|\n| 1 |", &mut |dest, _| dest.to_owned());
        assert!(prompt.contains("<td class=\"align-right\">1</td>") && !prompt.contains("style"), "{prompt}");
    }

    #[test]
    fn links_to_anchors_and_external_urls_are_recorded_where_they_are() {
        let diags = Diagnostics::default();
        let links = LinkTargets {
            lessons: HashMap::from_iter([("b.md".to_owned(), "/c/b/".to_owned())]),
            routes: HashSet::from_iter(["/c/b/".to_owned()]),
            broken: BTreeSet::new(),
            orphans: BTreeSet::new(),
            drafts: DraftTargets::default(),
        };
        let assets = Assets::default();
        let env = MarkdownEnv { diags: &diags, links: &links, assets: &assets, components: None };
        let text = "# T\n\n[a](#x) [b](b.md?q=1#y) [c](/c/b/#z) [d](b.md) <https://e.org/p#f>\n\n\
                    ```text\n[not](#a-link)\n```\n\n[ext](http://e.org/) [mail](mailto:a@e.org)\n";
        let source = SourceFile { rel: "a.md".into(), shown: "a.md".into(), text: text.into() };
        let page = env.render(&source, 0, &Access::Public);
        assert!(diags.is_empty(), "{:?}", diags.take());
        let found: Vec<(usize, usize, &str, &LinkTo)> =
            page.links.iter().map(|l| (l.line, l.col, l.dest.as_str(), &l.to)).collect();
        let anchor =
            |page: &str, fragment: &str| LinkTo::Anchor { page: page.into(), fragment: fragment.into() };
        assert_eq!(
            found,
            [
                (3, 1, "#x", &anchor("", "x")),
                (3, 9, "b.md?q=1#y", &anchor("/c/b/", "y")),
                (3, 25, "/c/b/#z", &anchor("/c/b/", "z")),
                (3, 48, "https://e.org/p#f", &LinkTo::External),
                (9, 1, "http://e.org/", &LinkTo::External),
            ]
        );
        assert!(page.ids_complete && page.html.contains("href=\"/c/b/?q=1#y\""), "{}", page.html);
    }

    #[test]
    fn images_from_other_sites_are_errors() {
        let (_, errors, _) = render("![a](https://example.org/a.png) ![b](//cdn.example.org/b.png)\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("x.md:1:1: image from another site"), "{errors:?}");
        assert!(errors[0].contains("img-src 'self'"), "{errors:?}");
    }

    #[test]
    fn many_equal_headings_get_unique_ids_in_linear_time() {
        let diags = Diagnostics::default();
        let links = LinkTargets::default();
        let assets = Assets::default();
        let env = MarkdownEnv { diags: &diags, links: &links, assets: &assets, components: None };
        let text = "# a {#a-1 onclick=x}\n\n".to_owned() + &"# a\n\n".repeat(20_000);
        let source = SourceFile { rel: "x.md".into(), shown: "x.md".into(), text };
        // Trying a, a-1, a-2... afresh for every heading took minutes here (quadratic).
        let page = env.render(&source, 0, &Access::Public);
        assert!(page.html.contains("id=\"a-20000\"") && !page.html.contains("id=\"a-20001\""));
        assert_eq!(page.html.matches("id=\"a-1\"").count(), 1, "the explicit id stays unique");
        assert!(!page.html.contains("onclick"));
    }
}
