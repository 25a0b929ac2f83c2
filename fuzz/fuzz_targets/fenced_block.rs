//! The TOML of a lesson's rich blocks (` ```quiz `, ` ```animation `, ` ```lab `) through
//! `Components::render` (`parse_toml` into the block, then the theme's partial), as a
//! lesson renders them: every content error points inside the file, and the HTML of a
//! block never carries a script element, an event handler or a `javascript:`-like URL.
#![no_main]

use builder::assets::Uses;
use builder::components::Counters;
use builder::markdown::Page;
use bundle::Access;
use course_fuzz::html::danger;
use course_fuzz::positions::assert_positions_inside;
use course_fuzz::site::site;
use libfuzzer_sys::fuzz_target;

const KINDS: [&str; 3] = ["quiz", "animation", "lab"];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the block, the rest is its TOML.
    let Some((&pick, code)) = data.split_first() else { return };
    let Ok(code) = std::str::from_utf8(code) else { return };
    let kind = KINDS[usize::from(pick) % KINDS.len()];
    let site = site();
    let prefix = format!("+++\ntitle = \"Fuzzed\"\n+++\n\nBefore the block.\n\n```{kind}\n");
    let at = prefix.len();
    let source = site.lesson(format!("{prefix}{code}\n```\n"));
    let scope =
        if pick & 0x80 == 0 { Access::Public } else { Access::Course("python-foundations".to_owned()) };
    let mut page = Page { scope: &scope, uses: Uses::new() };
    let html = site.components.render(kind, code, &source, at, &mut Counters::default(), &mut page);
    let errors = site.take_errors();
    assert_positions_inside(&errors, &source.text);
    if let Some(html) = html {
        if let Some(found) = danger(&html, true) {
            panic!("{found} in a ```{kind} block ({} content errors): {html}", errors.len());
        }
    }
});
