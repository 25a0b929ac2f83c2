//! Grants read from the query string of a signed URL (`bundle::grant::Grant::from_query`), then verified
//! against a fixed trusted P-256 key: only what that key signed ever verifies, and then only
//! for the resources and times its policy allows. Parsing never panics on any text.
#![no_main]

use bundle::grant::Grant;
use course_fuzz::grants::assert_only_signed_grants_verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Some(grant)) = Grant::from_query(text) {
        assert_only_signed_grants_verify(&grant);
    }
});
