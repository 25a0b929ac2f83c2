//! The TOML of a lesson's rich blocks (` ```quiz `, ` ```animation `, ` ```lab `) through
//! `builder::fuzzing::Site::render_block` (`parse_toml_checked` into the block, then the
//! theme's partial), as a lesson renders them: every content error points inside the file,
//! and the HTML of a block never carries a script element, an event handler or a
//! `javascript:`-like URL.
#![no_main]

use course_fuzz::html::danger;
use course_fuzz::positions::assert_positions_inside;
use course_fuzz::site::site;
use libfuzzer_sys::fuzz_target;

const KINDS: [&str; 3] = ["quiz", "animation", "lab"];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the block and its scope, the rest is its TOML.
    let Some((&pick, code)) = data.split_first() else { return };
    let Ok(code) = std::str::from_utf8(code) else { return };
    let kind = KINDS[usize::from(pick) % KINDS.len()];
    let render = site().render_block(kind, code, pick & 0x80 != 0);
    assert_positions_inside(&render.errors, &render.source);
    if let Some(html) = render.html {
        if let Some(found) = danger(&html, true) {
            panic!("{found} in a ```{kind} block ({} content errors): {html}", render.errors.len());
        }
    }
});
