//! `Accept-Encoding` negotiation (`edge_origin::negotiate::choose_encoding`) with any set of
//! available variants: the answer is one of them, or identity.
#![no_main]

use bundle::Encoding;
use edge_origin::negotiate::choose_encoding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the variants (bits: br, gzip, and a duplicate of each), the rest
    // is the header.
    let Some((&bits, header)) = data.split_first() else { return };
    let Ok(header) = std::str::from_utf8(header) else { return };
    let available: Vec<Encoding> =
        [(1, Encoding::Br), (2, Encoding::Gzip), (4, Encoding::Br), (8, Encoding::Gzip)]
            .into_iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, e)| e)
            .collect();
    let chosen = choose_encoding(Some(header), &available);
    if let Some(encoding) = chosen {
        assert!(available.contains(&encoding), "{header:?} with {available:?} -> {encoding:?}");
    }
    assert_eq!(choose_encoding(Some(header), &[]), None);
    assert_eq!(choose_encoding(None, &available), None);
});
