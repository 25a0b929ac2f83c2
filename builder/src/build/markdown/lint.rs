//! Mistakes Markdown renders without a word: an unclosed code fence (the rest of the lesson
//! becomes code), a misspelt block name (` ```quizz ` is a code block), a language the
//! highlighter does not know, and raw HTML the sanitiser removes or the site's
//! Content-Security-Policy would block (`<script>`, `style=`, `on*=`). Each is reported at
//! its place in the source: the CSP ones and misspelt blocks as errors (what the author
//! wrote would silently not happen), the others as warnings (the page still says what
//! was meant).

use crate::build::catalogue::SourceFile;
use crate::build::diagnostics::{did_you_mean, nearest, Diagnostics};
use crate::build::highlight;
use crate::build::relpath;
use crate::build::sanitize;

/// Whether a fenced code block (its source, from the opening fence on) has its closing
/// fence. pulldown-cmark ends an unclosed block at the end of its container (the lesson,
/// or the list item or quote it is in) and then the block's source ends with a newline
/// or with a line that is no fence; a closed block's source ends with its closing fence.
pub(crate) fn fence_closed(block: &str) -> bool {
    let opener = block.trim_start();
    let Some(fence) = opener.chars().next().filter(|c| *c == '`' || *c == '~') else { return true };
    let width = opener.chars().take_while(|c| *c == fence).count();
    if block.ends_with('\n') || !block.contains('\n') {
        return false;
    }
    let last = block.rsplit('\n').next().unwrap_or_default();
    // The closing line inside a quote or list item carries the container's `>`/indent.
    let last = last.trim_start_matches([' ', '\t', '>']);
    let run = last.chars().take_while(|c| *c == fence).count();
    run >= width && last[run * fence.len_utf8()..].trim().is_empty()
}

/// The error for a code block opened at `at` (byte offset in `source.text`) and never
/// closed; `to_end` when it runs to the end of the lesson rather than of a list item or quote.
pub(crate) fn unclosed_fence(diags: &Diagnostics, source: &SourceFile, at: usize, fence: &str, to_end: bool) {
    let rest = if to_end { "the rest of the file" } else { "the rest of its list item or quote" };
    let msg = format!(
        "this code block is never closed, so {rest} is shown as code (and its links, images and \
         blocks are not checked): close it with a {fence} line"
    );
    diags.at_offset(&source.shown, &source.text, at, msg);
}

/// The fence a block's source opens with (```` ``` ````, `~~~~`...).
pub(crate) fn opening_fence(block: &str) -> &str {
    let opener = block.trim_start();
    let end = opener.find(|c| c != '`' && c != '~').unwrap_or(opener.len());
    &opener[..end]
}

/// Checks the language a code block names (its first word, at byte `at` of the source): a
/// near miss of one of the `blocks` kinds is an error (` ```quizz ` renders as code, not as
/// a quiz), a language the highlighter does not know a warning (the code is shown
/// unhighlighted). False for a misspelt block (the page lacks what the block would show).
pub(crate) fn code_language(
    diags: &Diagnostics,
    source: &SourceFile,
    at: usize,
    lang: &str,
    blocks: &[&str],
) -> bool {
    let plain = highlight::PLAIN_TEXT.iter().any(|p| p.eq_ignore_ascii_case(lang));
    if lang.is_empty() || blocks.contains(&lang) || plain || highlight::knows(lang) {
        return true;
    }
    if let Some(block) = nearest(lang, blocks.iter().copied()) {
        let msg = format!(
            "```{lang} is no block kind, so this renders as code: did you mean ```{block}? (the blocks \
             are quiz, animation and lab)"
        );
        diags.at_offset(&source.shown, &source.text, at, msg);
        return false;
    }
    let words = highlight::language_words();
    let hint = did_you_mean(&lang.to_lowercase(), words.iter().map(String::as_str));
    let msg = format!(
        "the highlighter knows no language `{lang}`{hint}: the code is shown as plain text \
         (write ```text to say so)"
    );
    diags.warn_at_offset(&source.shown, &source.text, at, msg);
    true
}

/// What the site's Content-Security-Policy (`edge-origin`'s `response.rs`) allows of
/// scripts and styles, in the words of the messages below.
const CSP_SCRIPTS: &str = "the site's Content-Security-Policy (script-src 'self') runs no inline script";
const CSP_STYLES: &str = "the site's Content-Security-Policy (style-src 'self') applies no inline style";

/// Checks the raw HTML `html`, found at byte `start` of `source.text`: every element and
/// attribute the sanitiser removes is reported where it is written. Scripts, event
/// handlers, `<style>`, `style=` and non-web URLs are errors (the browser would block them
/// even if they were published); other removed elements and attributes are warnings.
pub(crate) fn raw_html(diags: &Diagnostics, source: &SourceFile, start: usize, html: &str) {
    raw_html_placed(diags, source, html, "", &|offset| start + offset);
}

/// [`raw_html`] of HTML inside a TOML string (a quiz's text, where escapes make offsets
/// inexact): each finding at byte `at` of the source, its message after `context`.
pub(crate) fn raw_html_in_value(
    diags: &Diagnostics,
    source: &SourceFile,
    at: usize,
    context: &str,
    html: &str,
) {
    raw_html_placed(diags, source, html, context, &|_| at);
}

fn raw_html_placed(
    diags: &Diagnostics,
    source: &SourceFile,
    html: &str,
    context: &str,
    place: &dyn Fn(usize) -> usize,
) {
    let error = |offset: usize, msg: String| {
        diags.at_offset(&source.shown, &source.text, place(offset), format!("{context}{msg}"))
    };
    let warn = |offset: usize, msg: String| {
        diags.warn_at_offset(&source.shown, &source.text, place(offset), format!("{context}{msg}"))
    };
    let mut pos = 0;
    while let Some(lt) = html[pos..].find('<').map(|i| pos + i) {
        pos = lt + 1;
        let rest = &html[pos..];
        if let Some(comment) = rest.strip_prefix("!--") {
            pos += 3 + comment.find("-->").map_or(comment.len(), |end| end + 3);
            continue;
        }
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let tag = Tag::read(rest);
        let name = tag.name.to_ascii_lowercase();
        match name.as_str() {
            "script" => error(lt, format!("`<script>` is removed from lessons: {CSP_SCRIPTS} (interactive code belongs in a lab)")),
            "style" => error(lt, format!("`<style>` is removed from lessons: {CSP_STYLES} (use the classes of the theme)")),
            _ if !sanitize::keeps_tag(&name) => {
                warn(lt, format!("`<{name}>` is not allowed in lessons: the sanitiser removes the element (its text stays)"))
            }
            _ => {
                for (offset, attribute, value) in tag.attributes {
                    let at = pos + offset;
                    let attribute = attribute.to_ascii_lowercase();
                    if attribute == "style" {
                        error(at, format!("`style` attribute (on `<{name}>`) is removed: {CSP_STYLES}; use a class of the theme"));
                    } else if attribute.starts_with("on") {
                        error(at, format!("`{attribute}` attribute (on `<{name}>`) is removed: {CSP_SCRIPTS} or event handler (behaviour comes from the theme, or a lab)"));
                    } else if !sanitize::keeps_attribute(&name, &attribute) {
                        warn(at, format!("`{attribute}` attribute (on `<{name}>`) is not allowed in lessons: the sanitiser removes it"));
                    } else if let Some(scheme) = ["href", "src", "cite"]
                        .contains(&attribute.as_str())
                        .then(|| relpath::scheme(value))
                        .flatten()
                        .filter(|s| !["http", "https", "mailto", "tel"].contains(&s.as_str()))
                    {
                        error(at, format!("`{attribute}` with a `{scheme}:` URL is not allowed (use http:, https:, mailto: or tel:)"));
                    }
                }
            }
        }
        pos += tag.len;
    }
}

/// A start tag: its name, its attributes (offset from after the `<`, name, raw value) and
/// its length (after the `<`, up to and including its `>`).
struct Tag<'h> {
    name: &'h str,
    attributes: Vec<(usize, &'h str, &'h str)>,
    len: usize,
}

impl<'h> Tag<'h> {
    fn read(rest: &'h str) -> Tag<'h> {
        let b = rest.as_bytes();
        let space = |c: u8| c.is_ascii_whitespace();
        let mut i = b.iter().position(|c| space(*c) || *c == b'>' || *c == b'/').unwrap_or(b.len());
        let name = &rest[..i];
        let mut attributes = Vec::new();
        loop {
            while i < b.len() && (space(b[i]) || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                return Tag { name, attributes, len: (i + 1).min(b.len()) };
            }
            let start = i;
            while i < b.len() && !space(b[i]) && !b"/>=".contains(&b[i]) {
                i += 1;
            }
            let attribute = &rest[start..i];
            while i < b.len() && space(b[i]) {
                i += 1;
            }
            let mut value = "";
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && space(b[i]) {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let quote = b[i];
                    let end = b[i + 1..].iter().position(|c| *c == quote).map_or(b.len(), |p| i + 1 + p);
                    value = &rest[i + 1..end];
                    i = (end + 1).min(b.len());
                } else {
                    let from = i;
                    while i < b.len() && !space(b[i]) && b[i] != b'>' {
                        i += 1;
                    }
                    value = &rest[from..i];
                }
            }
            if attribute.is_empty() {
                i += 1; // a stray `=`
            } else {
                attributes.push((start, attribute, value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_and_unclosed_fences() {
        assert!(fence_closed("```python\nx\n```"));
        assert!(fence_closed("````\nx\n````   "));
        assert!(fence_closed("```\n```"));
        assert!(fence_closed("```\n> x\n> ```"), "in a quote");
        assert!(fence_closed("~~~\nx\n~~~~"), "a longer closing fence");
        assert!(!fence_closed("```quiz\nx\ny\n"), "ran to the end");
        assert!(!fence_closed("```quiz"), "only the opener");
        assert!(!fence_closed("```\nx"), "no newline at the end of the file");
        assert!(!fence_closed("~~~~\nx\n~~~\n"), "a shorter fence closes nothing");
        assert!(!fence_closed("```py\n  x\n"), "to the end of a list item");
        assert_eq!(opening_fence("````rust\nx"), "````");
    }

    fn lint(html: &str) -> (Vec<String>, Vec<String>) {
        let diags = Diagnostics::default();
        let source = SourceFile { rel: "l.md".into(), shown: "l.md".into(), text: html.to_owned() };
        raw_html(&diags, &source, 0, html);
        let show =
            |v: Vec<crate::build::diagnostics::ContentError>| v.iter().map(ToString::to_string).collect();
        (show(diags.take()), show(diags.take_warnings()))
    }

    #[test]
    fn raw_html_that_is_removed_is_reported_where_it_is() {
        let (errors, warnings) = lint(
            "<p style=\"color:red\" class=x>a</p>\n<img src=x.png onerror=alert(1)>\n<script>x()</script>\
             <a href='javascript:x'>j</a><!-- <script> --><video src=v.mp4></video><kbd title=t data-x=1>k</kbd>",
        );
        assert_eq!(
            errors,
            [
                "l.md:1:4: `style` attribute (on `<p>`) is removed: the site's Content-Security-Policy (style-src 'self') applies no inline style; use a class of the theme",
                "l.md:2:16: `onerror` attribute (on `<img>`) is removed: the site's Content-Security-Policy (script-src 'self') runs no inline script or event handler (behaviour comes from the theme, or a lab)",
                "l.md:3:1: `<script>` is removed from lessons: the site's Content-Security-Policy (script-src 'self') runs no inline script (interactive code belongs in a lab)",
                "l.md:3:24: `href` with a `javascript:` URL is not allowed (use http:, https:, mailto: or tel:)",
            ]
        );
        assert_eq!(
            warnings,
            [
                "l.md:3:66: `<video>` is not allowed in lessons: the sanitiser removes the element (its text stays)",
                "l.md:3:104: `data-x` attribute (on `<kbd>`) is not allowed in lessons: the sanitiser removes it",
            ]
        );
        assert_eq!(
            lint("<details><summary>More</summary><kbd>Ctrl</kbd> <b id=x>b</b></details>"),
            (vec![], vec![])
        );
    }
}
