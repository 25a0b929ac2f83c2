//! Content errors must point inside the file: line >= 1, col >= 1, within the text.

use builder::fuzzing::line_col;
use builder::ContentError;

/// Asserts every error names a real line and column of `text` (columns in characters; one
/// past the end of a line is where "missing value" errors point).
pub fn assert_positions_inside(errors: &[ContentError], text: &str) {
    let lines: Vec<&str> = text.split('\n').collect();
    for error in errors {
        assert!(error.line >= 1 && error.col >= 1, "error at {}:{}: {error}", error.line, error.col);
        let line = lines
            .get(error.line - 1)
            .unwrap_or_else(|| panic!("line {} of {}: {error}", error.line, lines.len()));
        assert!(error.col <= line.chars().count() + 1, "col {} past the end of {line:?}: {error}", error.col);
        // Rendering the message must not panic either.
        let _ = error.to_string();
    }
}

/// Every byte offset (also inside a multi-byte character, and past the end) maps to a
/// position inside the text. Offsets are sampled on long texts to keep runs fast.
pub fn assert_every_offset_maps_inside(text: &str) {
    let line_count = text.split('\n').count();
    let step = (text.len() / 256).max(1);
    for offset in (0..=text.len() + 2).step_by(step).chain([text.len(), text.len() + 1]) {
        let (line, col) = line_col(text, offset);
        assert!(line >= 1 && col >= 1 && line <= line_count, "offset {offset} -> {line}:{col}");
    }
}
