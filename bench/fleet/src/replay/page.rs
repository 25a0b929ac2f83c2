//! What a browser fetches for an HTML document: its same-site sub-resources, as the
//! HTML parser (html5ever, through `scraper`) sees them, plus what the theme's scripts
//! fetch from `data-` attributes (Lottie animations).

use scraper::{Html, Selector};
use url::Url;

/// How a sub-resource is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetch {
    /// The whole body.
    Whole,
    /// A video or audio source with `preload="metadata"`: the first bytes, with `Range`.
    Range,
}

/// The same-site URLs a document makes a browser fetch, each once, in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    /// Stylesheets, icons, scripts, images, posters, media sources, `<object data>`,
    /// Lottie data (`data-lottie-src`), and frames that are not labs.
    pub resources: Vec<(Url, Fetch)>,
    /// `<iframe src>` of the same site (a lab is one: opened only on some visits).
    pub frames: Vec<Url>,
    /// `<a download href>`: lab starter zips, fetched when a student downloads one.
    pub downloads: Vec<Url>,
    /// The page holds a quiz (`<form class="quiz">`), scored in the browser by its script.
    pub quiz: bool,
}

/// Parses `html` (served at `base`) and lists what a browser would fetch for it.
pub fn parse(html: &str, base: &Url) -> Document {
    let doc = Html::parse_document(html);
    let mut out = Document::default();
    // (selector, attribute, fetch): static, so `expect` only fails on a typo caught by the tests.
    let rules: [(&str, &str, Fetch); 9] = [
        ("link[rel~=stylesheet][href]", "href", Fetch::Whole),
        ("link[rel~=icon][href]", "href", Fetch::Whole),
        ("script[src]", "src", Fetch::Whole),
        ("img[src]", "src", Fetch::Whole),
        ("video[poster]", "poster", Fetch::Whole),
        ("video[src], audio[src]", "src", Fetch::Range),
        ("video source[src], audio source[src]", "src", Fetch::Range),
        ("object[data]", "data", Fetch::Whole),
        ("[data-lottie-src]", "data-lottie-src", Fetch::Whole),
    ];
    for (selector, attribute, fetch) in rules {
        for url in select(&doc, selector, attribute, base) {
            if !out.resources.iter().any(|(u, _)| *u == url) {
                out.resources.push((url, fetch));
            }
        }
    }
    out.frames = dedup(select(&doc, "iframe[src]", "src", base));
    out.downloads = dedup(select(&doc, "a[download][href]", "href", base));
    out.quiz = doc.select(&selector("form.quiz")).next().is_some();
    out
}

fn selector(css: &str) -> Selector {
    #[allow(clippy::expect_used)]
    Selector::parse(css).expect("a valid built-in selector")
}

fn select(doc: &Html, css: &str, attribute: &str, base: &Url) -> Vec<Url> {
    doc.select(&selector(css))
        .filter_map(|e| e.value().attr(attribute))
        .filter_map(|value| base.join(value.trim()).ok())
        .filter(|url| url.origin() == base.origin())
        .map(|mut url| {
            url.set_fragment(None);
            url
        })
        .collect()
}

fn dedup(urls: Vec<Url>) -> Vec<Url> {
    let mut out: Vec<Url> = Vec::with_capacity(urls.len());
    for url in urls {
        if !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://edge.test:6081/courses/web-animation/video-and-performance/").expect("url")
    }

    #[test]
    fn finds_what_a_browser_fetches_and_only_of_the_same_site() {
        let html = r#"<!doctype html><html><head>
            <link rel="stylesheet" href="&#x2f;assets&#x2f;site.css">
            <link rel="preload stylesheet" href="/assets/site.css">
            <link rel="icon" href="/assets/logo.svg">
            <link rel="prev" href="/courses/x/">
            <script src="/assets/site.js" defer></script>
            <script src="https://cdn.example.org/x.js"></script>
            </head><body>
            <img src="shot.png#frag"><img src="//other.example/x.png">
            <video poster="/assets/poster.png" preload="metadata"><source src="/assets/v.webm" type="video/webm"></video>
            <object data="/assets/diagram.svg"></object>
            <div class="lottie" data-lottie-src="/animations/abc/animation.json"></div>
            <iframe src="/labs/0123/index.html" loading="lazy"></iframe>
            <a download="s.zip" href="/assets/s.zip">starter</a><a href="/assets/not-fetched.zip">x</a>
            <form class="quiz" data-quiz-id="1"></form>
            </body></html>"#;
        let doc = parse(html, &base());
        let paths: Vec<_> = doc.resources.iter().map(|(u, f)| (u.path().to_owned(), *f)).collect();
        let whole = Fetch::Whole;
        assert_eq!(
            paths,
            [
                ("/assets/site.css".to_owned(), whole),
                ("/assets/logo.svg".to_owned(), whole),
                ("/assets/site.js".to_owned(), whole),
                ("/courses/web-animation/video-and-performance/shot.png".to_owned(), whole),
                ("/assets/poster.png".to_owned(), whole),
                ("/assets/v.webm".to_owned(), Fetch::Range),
                ("/assets/diagram.svg".to_owned(), whole),
                ("/animations/abc/animation.json".to_owned(), whole),
            ]
        );
        assert!(doc.resources.iter().all(|(u, _)| u.fragment().is_none()));
        assert_eq!(doc.frames.iter().map(Url::path).collect::<Vec<_>>(), ["/labs/0123/index.html"]);
        assert_eq!(doc.downloads.iter().map(Url::path).collect::<Vec<_>>(), ["/assets/s.zip"]);
        assert!(doc.quiz);
    }

    #[test]
    fn a_lab_page_resolves_relative_links() {
        let base = Url::parse("http://e/labs/28d3ff742b/index.html").expect("url");
        let doc = parse(r#"<link rel="stylesheet" href="style.css"><script src="app.js"></script>"#, &base);
        let paths: Vec<_> = doc.resources.iter().map(|(u, _)| u.path()).collect();
        assert_eq!(paths, ["/labs/28d3ff742b/style.css", "/labs/28d3ff742b/app.js"]);
        assert!(!doc.quiz);
    }
}
