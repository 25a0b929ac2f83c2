//! Link integrity across pages. A link that names an `#anchor` (`[x](#id)`,
//! `[x](other.md#id)`, `[x](/courses/c/l/#id)`) must name an id its target page has: a
//! heading's, a quiz's or an animation's, one the theme writes, or one in the author's raw
//! HTML. Which ids a page has is only known once it is rendered, so links are recorded
//! while pages render ([`LinkRef`]) and checked when every page is known ([`check_anchors`]).
//!
//! Like Zola's `check_internal_links_with_anchors`, the ids of a page are what its HTML
//! carries (`id="..."`), and the empty fragment and `#top` always work (the HTML
//! standard's "indicated part": the top of the page). A fragment matches as written or
//! percent-decoded (`#caf%C3%A9` is the heading `café`), case-sensitively, as browsers do.
//!
//! A rebuild reuses unchanged pages without rendering them, so the page cache keeps each
//! page's ids and the links out of it ([`PageLinks::tokens`]): a link from an unchanged
//! page to a heading another page no longer has is still found.

use std::path::Path;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::build::diagnostics::{did_you_mean, Diagnostics};

/// A link the build checks once every page is rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkRef {
    /// The content-relative file the link is written in (a lesson, or a lab's
    /// instructions shown on the page).
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The link as the author wrote it.
    pub dest: String,
    pub to: LinkTo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinkTo {
    /// An `#anchor` on a page: its route, or `""` for the page the link is on.
    Anchor { page: String, fragment: String },
    /// An `http:`/`https:` URL (checked only with `course build --check-external`).
    External,
}

/// What the link checks need to know of one page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageLinks {
    /// Every `id` in the page's HTML, sorted.
    pub ids: Vec<String>,
    /// The links out of the page that are checked after rendering.
    pub out: Vec<LinkRef>,
    /// False when an error of the page's own may have hidden some of its ids (an unclosed
    /// code fence turns the rest of the lesson into code): links into it are then not
    /// checked, so the one mistake is reported once. Always true in the page cache, which
    /// keeps only pages of builds without errors.
    pub ids_complete: bool,
}

/// Bytes escaped in the page cache's tokens (which are separated by spaces, fields by `|`).
const TOKEN: &AsciiSet = &CONTROLS.add(b' ').add(b'%').add(b'|');

fn esc(s: &str) -> String {
    utf8_percent_encode(s, TOKEN).to_string()
}

fn unesc(s: &str) -> Option<String> {
    percent_decode_str(s).decode_utf8().ok().map(|s| s.into_owned())
}

impl PageLinks {
    /// The page's links as words of the page cache's line format: `#:<id>`,
    /// `>:<file>|<line>|<col>|<page>|<fragment>|<dest>` and `@:<file>|<line>|<col>|<dest>`.
    pub(crate) fn tokens(&self) -> impl Iterator<Item = String> + '_ {
        let ids = self.ids.iter().map(|id| format!("#:{}", esc(id)));
        let out = self.out.iter().map(|l| {
            let at = format!("{}|{}|{}", esc(&l.file), l.line, l.col);
            match &l.to {
                LinkTo::Anchor { page, fragment } => {
                    format!(">:{at}|{}|{}|{}", esc(page), esc(fragment), esc(&l.dest))
                }
                LinkTo::External => format!("@:{at}|{}", esc(&l.dest)),
            }
        });
        ids.chain(out)
    }

    /// Reads back one word [`tokens`](Self::tokens) wrote; `None` if it is not one.
    pub(crate) fn read_token(&mut self, token: &str) -> Option<()> {
        let (kind, rest) = token.split_once(':')?;
        if kind == "#" {
            self.ids.push(unesc(rest)?);
            return Some(());
        }
        let fields: Vec<&str> = rest.split('|').collect();
        let (file, line, col) =
            (unesc(fields.first()?)?, fields.get(1)?.parse().ok()?, fields.get(2)?.parse().ok()?);
        let (to, dest) = match (kind, fields.len()) {
            (">", 6) => {
                let to = LinkTo::Anchor { page: unesc(fields[3])?, fragment: unesc(fields[4])? };
                (to, unesc(fields[5])?)
            }
            ("@", 4) => (LinkTo::External, unesc(fields[3])?),
            _ => return None,
        };
        self.out.push(LinkRef { file, line, col, dest, to });
        Some(())
    }

    /// Whether a word of the page cache's line format is one of these.
    pub(crate) fn is_token(token: &str) -> bool {
        token.starts_with("#:") || token.starts_with(">:") || token.starts_with("@:")
    }
}

/// The fragment of a link's `?query#fragment` suffix, if it has one.
pub(crate) fn fragment(suffix: &str) -> Option<&str> {
    suffix.split_once('#').map(|(_, fragment)| fragment)
}

/// Every `id="..."` of the start tags of `html` (values unescaped), sorted, each once.
/// Text never holds a raw `<` (the renderer escapes it), so tags are where `<` is.
pub(crate) fn ids_in(html: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let (attributes, after) = start_tag(rest);
        rest = after;
        for (name, value) in attributes {
            if name.eq_ignore_ascii_case("id") && !value.is_empty() {
                ids.push(unescape_html(value));
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The attributes of the start tag `rest` begins with (after its `<`), and what follows it.
fn start_tag(rest: &str) -> (Vec<(&str, &str)>, &str) {
    let b = rest.as_bytes();
    let mut i = b.iter().position(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/').unwrap_or(b.len());
    let mut attributes = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() || b[i] == b'>' {
            return (attributes, rest.get(i + 1..).unwrap_or(""));
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !b"/>=".contains(&b[i]) {
            i += 1;
        }
        let name = &rest[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let quote = b[i];
                let end = b[i + 1..].iter().position(|c| *c == quote).map_or(b.len(), |p| i + 1 + p);
                value = &rest[i + 1..end];
                i = end + 1;
            } else {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = &rest[start..i];
            }
        }
        if name.is_empty() {
            i += 1; // a stray `=`
        } else {
            attributes.push((name, value));
        }
    }
}

/// The character references renderers and templates write in attribute values.
fn unescape_html(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A page of the release as the anchor check sees it.
pub(crate) struct PageEntry<'a> {
    pub route: &'a str,
    /// The lesson it is rendered from (content-relative), or `None` for the site's own pages.
    pub source: Option<&'a str>,
    pub links: &'a PageLinks,
}

/// Reports every link whose `#anchor` is not an id of its target page, at the link.
/// Targets that are not pages of this build (a page that failed, a theme file) are not
/// checked here: what made them fail is reported already.
pub(crate) fn check_anchors(diags: &Diagnostics, root: &Path, pages: &[PageEntry<'_>]) {
    let by_route: HashMap<&str, (&PageEntry<'_>, HashSet<&str>)> =
        pages.iter().map(|p| (p.route, (p, p.links.ids.iter().map(String::as_str).collect()))).collect();
    for page in pages {
        for link in &page.links.out {
            let LinkTo::Anchor { page: target, fragment } = &link.to else { continue };
            let route = if target.is_empty() { page.route } else { target.as_str() };
            let Some((target_page, ids)) = by_route.get(route) else { continue };
            if !target_page.links.ids_complete || is_top(fragment) || ids.contains(fragment.as_str()) {
                continue;
            }
            let decoded = percent_decode_str(fragment).decode_utf8().ok();
            if decoded.as_deref().is_some_and(|d| ids.contains(d) || is_top(d)) {
                continue;
            }
            let shown = decoded.as_deref().unwrap_or(fragment);
            let on = match (target.is_empty(), target_page.source) {
                (true, Some(source)) if source == link.file => "this page".to_owned(),
                (true, Some(source)) => format!("the page that shows it ({source})"),
                (false, Some(source)) => source.to_owned(),
                (_, None) => format!("the page {route}"),
            };
            let hint = did_you_mean(shown, ids.iter().copied());
            let msg =
                format!("link to `{}`: {on} has no heading or anchor with id `{shown}`{hint}", link.dest);
            diags.at(&root.join(&link.file), link.line, link.col, msg);
        }
    }
}

/// The fragments that need no id: the empty one and `top` (the top of the page).
fn is_top(fragment: &str) -> bool {
    fragment.is_empty() || fragment.eq_ignore_ascii_case("top")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_start_tags_only() {
        let html = r#"<h2 id="first-steps">First</h2><p>id="not-a-tag" &lt;b id="x"&gt;</p>
<form class="quiz" id='quiz-1' data-x="a>b"><div ID=bare>x</div><!-- <a id="comment"> -->
<h3 id="caf&#233;-&amp;-cr&#xe8;me">t</h3><input checked id="last">"#;
        assert_eq!(ids_in(html), ["bare", "café-&-crème", "first-steps", "last", "quiz-1"]);
    }

    #[test]
    fn tokens_round_trip() {
        let links = PageLinks {
            ids: vec!["a b".into(), "100%|x".into(), "café".into()],
            out: vec![
                LinkRef {
                    file: "courses/c/my lesson.md".into(),
                    line: 3,
                    col: 7,
                    dest: "b.md?x=1#sp ace".into(),
                    to: LinkTo::Anchor { page: "/courses/c/b/".into(), fragment: "sp ace".into() },
                },
                LinkRef {
                    file: "labs/l/instructions.md".into(),
                    line: 1,
                    col: 1,
                    dest: "https://example.org/a|b".into(),
                    to: LinkTo::External,
                },
            ],
            ids_complete: true,
        };
        let mut back = PageLinks { ids_complete: true, ..PageLinks::default() };
        for token in links.tokens() {
            assert!(!token.contains(' ') && PageLinks::is_token(&token), "{token}");
            back.read_token(&token).expect("reads back");
        }
        assert_eq!(back, links);
        assert!(back.read_token(">:x|1").is_none());
    }

    #[test]
    fn anchors_are_checked_against_the_target_page() {
        let page = |ids: &[&str], out: Vec<LinkRef>| PageLinks {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            out,
            ids_complete: true,
        };
        let link = |dest: &str, target: &str, fragment: &str| LinkRef {
            file: "a.md".into(),
            line: 1,
            col: 1,
            dest: dest.into(),
            to: LinkTo::Anchor { page: target.into(), fragment: fragment.into() },
        };
        let a = page(
            &["intro"],
            vec![
                link("#intro", "", "intro"),
                link("#top", "", "top"),
                link("#", "", ""),
                link("b.md#caf%C3%A9", "/b/", "caf%C3%A9"),
                link("b.md#Setup", "/b/", "Setup"),
                link("gone.md#x", "/gone/", "x"),
            ],
        );
        let b = page(&["café", "setup"], vec![]);
        let pages = [
            PageEntry { route: "/a/", source: Some("a.md"), links: &a },
            PageEntry { route: "/b/", source: Some("b.md"), links: &b },
        ];
        let diags = Diagnostics::default();
        check_anchors(&diags, Path::new("content"), &pages);
        let errors: Vec<String> = diags.take().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            ["content/a.md:1:1: link to `b.md#Setup`: b.md has no heading or anchor with id `Setup` (did you mean `setup`?)"]
        );
    }
}
