//! `If-None-Match` (`edge_origin::negotiate::if_none_match`): a match means the header has
//! `*` or names the ETag (strong or weak); a header that is the ETag always matches.
#![no_main]

use course_fuzz::two_texts;
use edge_origin::negotiate::if_none_match;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, etag) = two_texts(data);
    if if_none_match(&header, &etag) {
        assert!(header.contains('*') || header.contains(etag.as_str()), "{header:?} matched {etag:?}");
    }
    // What the origin sends is an entity tag: `"`, etagc characters, `"` (RFC 9110 §8.8.3).
    let etagc = |c: char| c == '\x21' || ('\x23'..='\x7e').contains(&c) || !c.is_ascii();
    let inner = etag.strip_prefix('"').and_then(|e| e.strip_suffix('"'));
    if inner.is_some_and(|inner| inner.chars().all(etagc) && !inner.contains(',')) {
        assert!(if_none_match(&etag, &etag), "{etag:?} does not match itself");
        assert!(if_none_match(&format!("W/{etag}"), &etag), "weak {etag:?} does not match");
        assert!(if_none_match(&format!("\"other\", {etag}"), &etag), "{etag:?} second in a list");
    }
});
