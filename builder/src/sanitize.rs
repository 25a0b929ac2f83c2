//! Raw HTML in authors' Markdown is sanitised with ammonia (html5ever underneath) against an
//! allowlist: formatting, tables, figures, details/summary and the like stay; scripts, event
//! handler attributes, `style` (except table alignment), iframes, forms, objects and
//! non-web URL schemes (`javascript:`, `vbscript:`, `data:` links) go. This is Hugo's
//! stance (raw HTML is not passed through by default), made less blunt: what is safe stays.
//!
//! Only lessons that contain raw HTML pay for it. HTML the build generates itself
//! (highlighted code, quizzes, animations, labs) is kept out of the sanitiser as numbered
//! placeholders and put back afterwards, so the theme's partials are not second-guessed.

use std::collections::HashSet;
use std::sync::OnceLock;

/// A private-use character around a number: text no sanitiser touches, and that Markdown
/// authors do not type.
const MARK: char = '\u{E000}';

/// The stand-in for the `n`th piece of generated HTML.
pub fn placeholder(n: usize) -> String {
    format!("{MARK}{n}{MARK}")
}

/// Sanitises `html`, then puts the `generated` pieces back where their placeholders are.
pub fn clean(html: &str, generated: &[String]) -> String {
    let cleaned = sanitizer().clean(html).to_string();
    if generated.is_empty() {
        return cleaned;
    }
    let mut out = String::with_capacity(cleaned.len() + generated.iter().map(String::len).sum::<usize>());
    let mut rest = cleaned.as_str();
    while let Some(start) = rest.find(MARK) {
        let after = &rest[start + MARK.len_utf8()..];
        let piece = after
            .find(MARK)
            .and_then(|end| Some((end, after[..end].parse::<usize>().ok()?)))
            .and_then(|(end, n)| Some((end, generated.get(n)?)));
        match piece {
            Some((end, html)) => {
                out.push_str(&rest[..start]);
                out.push_str(html);
                rest = &after[end + MARK.len_utf8()..];
            }
            None => {
                out.push_str(&rest[..start + MARK.len_utf8()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static SANITIZER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    SANITIZER.get_or_init(|| {
        let mut builder = ammonia::Builder::default();
        builder
            .url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
            .link_rel(None)
            // Heading ids (the table of contents links to them) and footnote/theme classes.
            .add_generic_attributes(["id", "class"])
            // What pulldown-cmark itself writes: table alignment and task-list checkboxes.
            .add_tag_attributes("th", ["style"])
            .add_tag_attributes("td", ["style"])
            .add_tags(["input"])
            .add_tag_attributes("input", ["type", "checked", "disabled"])
            .attribute_filter(|element, attribute, value| match (element, attribute) {
                ("th" | "td", "style") => {
                    let aligned =
                        ["left", "center", "right"].iter().any(|a| value == format!("text-align: {a}"));
                    aligned.then_some(value.into())
                }
                ("input", "type") => (value == "checkbox").then_some(value.into()),
                _ => Some(value.into()),
            });
        builder
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_what_runs_and_keeps_what_reads() {
        let html = r#"<p>Hi <kbd>Ctrl</kbd><script>alert(1)</script></p>
<img src="x.png" onerror="alert(1)"><a href="javascript:alert(1)">x</a><iframe src="https://evil"></iframe>
<details><summary>More</summary><p style="color:red">text</p></details><form action="https://evil"><input type="text"></form>
<table><tr><td style="text-align: center">c</td><td style="background:url(x)">d</td></tr></table>"#;
        let out = clean(html, &[]);
        for gone in
            ["<script", "onerror", "javascript:", "<iframe", "color:red", "<form", "type=\"text\"", "url(x)"]
        {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        for kept in [
            "<kbd>Ctrl</kbd>",
            "<img src=\"x.png\">",
            "<details><summary>More</summary>",
            "text-align: center",
        ] {
            assert!(out.contains(kept), "{kept} not in {out}");
        }
    }

    #[test]
    fn generated_html_is_put_back_untouched() {
        let generated =
            vec!["<div class=\"quiz\" data-answer=\"2\"><button onclick=\"x\">A</button></div>".to_owned()];
        let html = format!("<p>before</p>{}<script>x</script>", placeholder(0));
        let out = clean(&html, &generated);
        assert_eq!(out, format!("<p>before</p>{}", generated[0]));
        // A stray or unknown placeholder is left as text.
        assert_eq!(clean(&format!("a{}b", placeholder(7)), &generated), format!("a{}b", placeholder(7)));
    }
}
