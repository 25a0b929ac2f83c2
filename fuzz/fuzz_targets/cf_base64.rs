//! CloudFront's base64 (`bundle::grant::{encode_cf_base64, decode_cf_base64}`): encoding
//! uses only CloudFront's alphabet and decodes back to the bytes; decoding is strict, so
//! whatever decodes is the one canonical encoding of its bytes.
#![no_main]

use bundle::grant::{decode_cf_base64, encode_cf_base64};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let encoded = encode_cf_base64(data);
    assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-~_".contains(&b)), "{encoded}");
    assert_eq!(decode_cf_base64(&encoded).as_deref(), Ok(data));
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = decode_cf_base64(text) {
            assert_eq!(encode_cf_base64(&bytes), text, "non-canonical {text:?} accepted");
        }
    }
});
