//! Raw HTML in authors' Markdown is sanitised with ammonia (html5ever underneath) against an
//! allowlist: formatting, tables, figures, details/summary and the like stay; scripts, event
//! handler attributes, `style`, iframes, forms, objects and non-web URL schemes
//! (`javascript:`, `vbscript:`, `data:` links) go. (Table column alignment is a class, not
//! a `style`: see `markdown::TableAlign`.) Authors are told what goes, at its place in the
//! lesson (`markdown::lint`, which asks [`keeps_tag`] and [`keeps_attribute`]). This is Hugo's
//! stance (raw HTML is not passed through by default), made less blunt: what is safe stays.
//!
//! Only lessons that contain raw HTML pay for it. HTML the build generates itself
//! (highlighted code, quizzes, animations, labs) is kept out of the sanitiser as numbered
//! placeholder elements and put back afterwards, so the theme's partials are not
//! second-guessed. A placeholder is an element, not text, so it survives only where an
//! element stands (never inside an attribute an author left open), and it carries a number
//! chosen per process, so an author cannot write one.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// Unguessable by authors, and never in the output (every placeholder is replaced or dropped).
fn nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish())
}

/// The stand-in for the `n`th piece of generated HTML.
pub(crate) fn placeholder(n: usize) -> String {
    format!("<span data-generated=\"{}-{n}\"></span>", nonce())
}

/// Sanitises `html`, then puts the `generated` pieces back where their placeholders are.
pub(crate) fn clean(html: &str, generated: &[String]) -> String {
    let mut cleaned = sanitizer().clean(html).to_string();
    for (n, piece) in generated.iter().enumerate() {
        cleaned = cleaned.replacen(&placeholder(n), piece, 1);
    }
    cleaned
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
            // What pulldown-cmark itself writes: task-list checkboxes.
            .add_tag_attributes("span", ["data-generated"])
            .add_tags(["input"])
            .add_tag_attributes("input", ["type", "checked", "disabled"])
            .attribute_filter(|element, attribute, value| match (element, attribute) {
                ("input", "type") => (value == "checkbox").then_some(value.into()),
                // Only the build's own placeholders (see `placeholder`) keep this attribute.
                ("span", "data-generated") => {
                    value.starts_with(&format!("{}-", nonce())).then_some(value.into())
                }
                _ => Some(value.into()),
            });
        builder
    })
}

/// The sanitiser's allowlist, by name.
struct Allowlist {
    tags: HashSet<&'static str>,
    generic: HashSet<&'static str>,
    by_tag: HashMap<&'static str, HashSet<&'static str>>,
}

fn allowlist() -> &'static Allowlist {
    static ALLOWED: OnceLock<Allowlist> = OnceLock::new();
    ALLOWED.get_or_init(|| {
        let s = sanitizer();
        Allowlist {
            tags: s.clone_tags(),
            generic: s.clone_generic_attributes(),
            by_tag: s.clone_tag_attributes(),
        }
    })
}

/// Whether the sanitiser keeps an element (`tag` in lowercase).
pub(crate) fn keeps_tag(tag: &str) -> bool {
    allowlist().tags.contains(tag)
}

/// Whether the sanitiser keeps an attribute of a kept element (names in lowercase).
pub(crate) fn keeps_attribute(tag: &str, attribute: &str) -> bool {
    let allowed = allowlist();
    allowed.generic.contains(attribute) || allowed.by_tag.get(tag).is_some_and(|a| a.contains(attribute))
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
        for gone in [
            "<script",
            "onerror",
            "javascript:",
            "<iframe",
            "color:red",
            "<form",
            "type=\"text\"",
            "url(x)",
            "style=",
        ] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        for kept in
            ["<kbd>Ctrl</kbd>", "<img src=\"x.png\">", "<details><summary>More</summary>", "<td>c</td>"]
        {
            assert!(out.contains(kept), "{kept} not in {out}");
        }
    }

    #[test]
    fn the_allowlist_is_the_sanitisers() {
        assert!(keeps_tag("kbd") && keeps_tag("details") && !keeps_tag("script") && !keeps_tag("iframe"));
        assert!(keeps_attribute("a", "href") && keeps_attribute("p", "id") && keeps_attribute("p", "class"));
        assert!(!keeps_attribute("p", "style") && !keeps_attribute("td", "style"));
        assert!(!keeps_attribute("img", "onerror"));
    }

    #[test]
    fn generated_html_is_put_back_untouched() {
        let generated =
            vec!["<div class=\"quiz\" data-answer=\"2\"><button onclick=\"x\">A</button></div>".to_owned()];
        let html = format!("<p>before</p>{}<script>x</script>", placeholder(0));
        let out = clean(&html, &generated);
        assert_eq!(out, format!("<p>before</p>{}", generated[0]));
        // An author's imitation is not a placeholder, and keeps no such attribute.
        let forged = clean("<span data-generated=\"1-0\"></span>", &generated);
        assert!(!forged.contains("quiz") && !forged.contains("data-generated"), "{forged}");
    }

    #[test]
    fn a_placeholder_inside_an_open_attribute_is_dropped_not_expanded() {
        let generated = vec!["<b title=\"x\" onclick=\"evil()\">code</b>".to_owned()];
        let html = format!("<div title=\"\n{}\n\">text</div>", placeholder(0));
        let out = clean(&html, &generated);
        assert!(!out.contains("onclick"), "{out}");
    }
}
