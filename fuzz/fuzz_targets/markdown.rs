//! A lesson body through the builder's Markdown pipeline (`builder::fuzzing::Site`, set up
//! with the sample content's theme, assets and labs, as `course build` renders lessons),
//! and raw HTML through the sanitiser. Published HTML never carries a script element, an
//! event handler or a `javascript:`-like URL; every content error points inside the file.
#![no_main]

use builder::fuzzing::sanitize;
use course_fuzz::html::danger;
use course_fuzz::positions::assert_positions_inside;
use course_fuzz::site::site;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    // A public lesson or an enrolled one (their media URLs differ).
    let render = site().render_lesson(body, body.len() % 2 == 1);
    assert_positions_inside(&render.errors, body);
    let html = render.html.unwrap_or_default();
    if let Some(found) = danger(&html, true) {
        panic!("{found} in the rendered lesson ({} content errors): {html}", render.errors.len());
    }
    assert!(render.heading_ids.iter().all(|id| !id.is_empty()));

    let cleaned = sanitize(body);
    if let Some(found) = danger(&cleaned, false) {
        panic!("{found} in sanitised HTML: {cleaned}");
    }
});
