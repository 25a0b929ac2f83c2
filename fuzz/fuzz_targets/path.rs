//! Request path normalisation (`edge_origin::path::normalize`): an accepted path is
//! absolute, has no `.`/`..` segment, backslash, NUL or control character once decoded, and
//! is a fixed point (decoding it again changes nothing, so no second decoder is fooled).
#![no_main]

use edge_origin::path::{normalize, MAX_PATH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(path) = normalize(raw) else { return };
    assert!(raw.len() <= MAX_PATH);
    assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
    assert!(!path.chars().any(|c| c.is_control() || c == '\\'), "{raw:?} -> {path:?}");
    assert!(!path.split('/').any(|seg| seg == "." || seg == ".."), "{raw:?} -> {path:?}");
    assert_eq!(normalize(&path).as_deref(), Ok(&*path), "decoding {raw:?} twice differs");
});
