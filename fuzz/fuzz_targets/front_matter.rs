//! Lesson front matter through `builder::fuzzing::front_matter` (the split at the `+++`
//! fences, then `parse_toml_checked` into the lesson's fields, every problem reported, as
//! the catalogue reads lessons). The split's offsets cut the text where it says; a refusal
//! always comes with an error and a success with none; every content error names a line
//! and a column (both at least 1) inside the file; no byte offset (inside a multi-byte
//! character or past the end) makes the position lookup panic.
#![no_main]

use std::path::Path;

use builder::fuzzing::front_matter;
use course_fuzz::positions::{assert_every_offset_maps_inside, assert_positions_inside};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert_every_offset_maps_inside(text);
    let run = front_matter(Path::new("content/courses/fuzz/lesson.md"), text);
    assert_positions_inside(&run.errors, text);
    let Some((front, front_offset, body_offset)) = run.split else {
        assert!(!run.errors.is_empty(), "no split, yet no error");
        return;
    };
    assert_eq!(&text[front_offset..front_offset + front.len()], front);
    assert!(front_offset + front.len() <= body_offset && body_offset <= text.len());
    if run.parsed {
        assert!(run.errors.is_empty(), "parsed, yet reported {:?}", run.errors);
    } else {
        assert!(!run.errors.is_empty(), "refused without an error");
    }
    if let Some(span) = run.slug_span {
        // The catalogue reports a bad slug at this span.
        assert!(front.get(span.clone()).is_some(), "slug span {span:?} cuts a character");
    }
});
