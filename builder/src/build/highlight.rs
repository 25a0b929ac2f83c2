//! Build-time syntax highlighting with class names (`hl-*`), so pages carry no inline
//! styles and the colours live in the generated `syntax.css`.

use std::sync::OnceLock;

use syntect::highlighting::ThemeSet;
use syntect::html::{css_for_theme_with_class_style, ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Loads the grammars on another thread (they take tens of milliseconds), so a rebuild
/// that renders one page does not wait for them after everything else is done.
pub(crate) fn preload() {
    std::thread::spawn(|| {
        syntaxes();
    });
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// Whether [`highlight`] knows `lang` (a file extension or a language's name, in any case).
pub(crate) fn knows(lang: &str) -> bool {
    syntaxes().find_syntax_by_token(lang).is_some()
}

/// Names a code block may give to say it is plain text on purpose (nothing to highlight).
pub(crate) const PLAIN_TEXT: &[&str] = &["text", "plain", "plaintext", "output", "console", "none"];

/// The words that name a language the highlighter knows (file extensions, and names of one
/// word, lowercase), for "did you mean" hints.
pub(crate) fn language_words() -> Vec<String> {
    let mut words: Vec<String> = syntaxes()
        .syntaxes()
        .iter()
        .flat_map(|s| s.file_extensions.iter().cloned().chain([s.name.clone()]))
        .filter(|w| !w.contains(' '))
        .map(|w| w.to_lowercase())
        .collect();
    words.sort();
    words.dedup();
    words
}

/// HTML for a code block; unknown languages are escaped as plain text.
pub(crate) fn highlight(code: &str, lang: &str) -> String {
    let set = syntaxes();
    let lang_attr = escape(lang);
    let syntax = (!lang.is_empty()).then(|| set.find_syntax_by_token(lang)).flatten();
    let body = match syntax {
        Some(syntax) => {
            let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, set, CLASS_STYLE);
            let ok = LinesWithEndings::from(code)
                .all(|line| generator.parse_html_for_line_which_includes_newline(line).is_ok());
            if ok {
                generator.finalize()
            } else {
                escape(code)
            }
        }
        None => escape(code),
    };
    if lang.is_empty() {
        format!("<pre class=\"code\"><code>{body}</code></pre>\n")
    } else {
        format!("<pre class=\"code hl-code\" data-lang=\"{lang_attr}\"><code class=\"language-{lang_attr}\">{body}</code></pre>\n")
    }
}

/// The stylesheet for the classes [`highlight`] emits.
pub(crate) fn stylesheet() -> String {
    let themes = ThemeSet::load_defaults();
    let theme = &themes.themes["InspiredGitHub"];
    css_for_theme_with_class_style(theme, CLASS_STYLE).unwrap_or_default()
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_known_languages_with_classes() {
        let html = highlight("def f(x):\n    return x < 1\n", "python");
        assert!(html.contains("class=\"hl-"), "{html}");
        assert!(html.contains("&lt;"), "{html}");
        assert!(!html.contains("style="), "{html}");
        assert!(stylesheet().contains(".hl-"));
    }

    #[test]
    fn knows_languages_by_extension_and_name() {
        assert!(knows("python") && knows("py") && knows("Python") && knows("rust") && knows("bash"));
        assert!(!knows("quizz") && !knows("pyhton"));
        assert!(language_words().iter().any(|w| w == "python"));
    }

    #[test]
    fn escapes_unknown_languages() {
        let html = highlight("<b>", "nosuchlang");
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
    }
}
