//! Lesson front matter: `builder::frontmatter::split`, then `parse_toml_checked` (every
//! problem reported) and `parse_toml` into the lesson's front-matter shape. The split's
//! offsets cut the text where it says; every content error names a line and a column (both
//! at least 1) inside the file; no byte offset (inside a multi-byte character or past the
//! end) makes the position lookup panic.
#![no_main]

use std::path::Path;

use builder::diagnostics::Diagnostics;
use builder::frontmatter::{parse_toml, parse_toml_checked, split};
use course_fuzz::positions::{assert_every_offset_maps_inside, assert_positions_inside};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use toml::Spanned;

/// A copy of `builder::catalogue::FrontMatter` (private there).
#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct FrontMatter {
    title: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    duration: Option<u32>,
    #[serde(default)]
    slug: Option<Spanned<String>>,
    #[serde(default)]
    preview: bool,
}

const KEYS: [&str; 5] = ["title", "summary", "duration", "slug", "preview"];

/// The same shape, strict (as config files and fenced blocks are read).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StrictFrontMatter {
    title: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    duration: Option<u32>,
    #[serde(default)]
    slug: Option<Spanned<String>>,
    #[serde(default)]
    preview: bool,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert_every_offset_maps_inside(text);
    let file = Path::new("content/courses/fuzz/lesson.md");
    let diags = Diagnostics::default();
    let parts = match split(text) {
        Ok(parts) => parts,
        Err((offset, message)) => {
            diags.at_offset(file, text, offset, message);
            assert_positions_inside(&diags.take(), text);
            return;
        }
    };
    assert_eq!(&text[parts.front_offset..parts.front_offset + parts.front.len()], parts.front);
    assert_eq!(&text[parts.body_offset..], parts.body);
    assert!(parts.front_offset + parts.front.len() <= parts.body_offset);

    let front: Option<FrontMatter> =
        parse_toml_checked(&diags, file, text, parts.front, parts.front_offset, "front matter", &KEYS);
    let errors = diags.take();
    assert_positions_inside(&errors, text);
    match &front {
        Some(front) => {
            assert!(errors.is_empty(), "parsed, yet reported {errors:?}");
            if let Some(slug) = &front.slug {
                // The catalogue reports a bad slug at this span.
                assert!(
                    parts.front.get(slug.span()).is_some(),
                    "slug span {:?} cuts a character",
                    slug.span()
                );
            }
        }
        None => assert!(!errors.is_empty(), "refused without an error"),
    }

    let strict: Option<StrictFrontMatter> =
        parse_toml(&diags, file, text, parts.front, parts.front_offset, "front matter");
    let strict_errors = diags.take();
    assert_positions_inside(&strict_errors, text);
    assert_eq!(strict.is_some(), strict_errors.is_empty());
});
