//! `Range` parsing (`edge_origin::negotiate::parse_range`) against any body size: a partial
//! range is inclusive and inside the body (start <= end < size), and reading it back as
//! `bytes=start-end` gives the same range.
#![no_main]

use edge_origin::negotiate::{parse_range, RangeRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes are the body size (little-endian), the rest the header.
    let mut size = [0u8; 8];
    let cut = data.len().min(8);
    size[..cut].copy_from_slice(&data[..cut]);
    let size = u64::from_le_bytes(size);
    let Ok(header) = std::str::from_utf8(&data[cut..]) else { return };
    match parse_range(Some(header), size) {
        RangeRequest::Partial(start, end) => {
            assert!(start <= end && end < size, "{header:?} of {size} -> {start}-{end}");
            let again = format!("bytes={start}-{end}");
            assert_eq!(parse_range(Some(&again), size), RangeRequest::Partial(start, end));
        }
        RangeRequest::Unsatisfiable => assert!(header.trim().starts_with("bytes=")),
        RangeRequest::Full => {}
    }
    assert_eq!(parse_range(None, size), RangeRequest::Full);
});
