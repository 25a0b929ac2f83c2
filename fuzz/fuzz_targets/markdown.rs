//! A lesson body through the builder's Markdown pipeline (`MarkdownEnv::render` with the
//! sample content's theme, assets and labs, as `course build` renders lessons), and raw HTML
//! through `builder::sanitize::clean`. Published HTML never carries a script element, an
//! event handler or a `javascript:`-like URL; every content error points inside the file.
#![no_main]

use builder::sanitize;
use bundle::Access;
use course_fuzz::html::danger;
use course_fuzz::positions::assert_positions_inside;
use course_fuzz::site::{site, COURSE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let site = site();
    // A public lesson or an enrolled one (their media URLs differ).
    let scope = if body.len() % 2 == 0 { Access::Public } else { Access::Course(COURSE.to_owned()) };
    let source = site.lesson(body.to_owned());
    let rendered = site.markdown.render(&source, 0, &scope);
    let errors = site.take_errors();
    assert_positions_inside(&errors, body);
    if let Some(found) = danger(&rendered.html, true) {
        panic!("{found} in the rendered lesson ({} content errors): {}", errors.len(), rendered.html);
    }
    for entry in &rendered.toc {
        assert!(!entry.id.is_empty());
    }

    let cleaned = sanitize::clean(body, &["<b>generated</b>".to_owned()]);
    if let Some(found) = danger(&cleaned, false) {
        panic!("{found} in sanitised HTML: {cleaned}");
    }
});
