//! Request path normalisation: anything that could reach outside the manifest's routes,
//! or means something else once decoded, is refused before lookup.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Longest request path accepted.
pub const MAX_PATH: usize = 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    #[error("path too long")]
    TooLong,
    #[error("encoded separator or dot in path")]
    EncodedSeparator,
    #[error("path is not valid UTF-8 once decoded")]
    NotUtf8,
    #[error("path has a NUL, backslash or control character")]
    Control,
    #[error("path has a `.` or `..` segment")]
    DotSegment,
    #[error("path is not absolute")]
    NotAbsolute,
    #[error("path still holds a percent-escape once decoded (double encoding)")]
    DoubleEncoded,
}

/// Decodes and checks the path of a request URI. Borrows when there is nothing to decode
/// (the usual case: no allocation per request).
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, BadPath> {
    if raw.len() > MAX_PATH {
        return Err(BadPath::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(BadPath::NotAbsolute);
    }
    // Encoded `.`, `/`, `\` and `%` itself (double encoding) never appear in our routes.
    let encoded =
        |enc: &[u8; 2]| raw.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1..].eq_ignore_ascii_case(enc));
    if raw.contains('%') && [b"2e", b"2f", b"5c", b"25", b"00"].iter().any(|enc| encoded(enc)) {
        return Err(BadPath::EncodedSeparator);
    }
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| BadPath::NotUtf8)?;
    // A `%` that was no escape can precede one that decodes to hex digits (`%2%65` -> `%2e`):
    // the result must not read differently to a second decoder. (Nothing was decoded when
    // it borrows, so then it holds no escape.)
    if matches!(decoded, Cow::Owned(_)) && has_escape(&decoded) {
        return Err(BadPath::DoubleEncoded);
    }
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return Err(BadPath::Control);
    }
    if decoded.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(BadPath::DotSegment);
    }
    Ok(decoded)
}

/// Whether `text` holds a `%` followed by two hex digits.
fn has_escape(text: &str) -> bool {
    text.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_paths() {
        assert_eq!(normalize("/courses/py/").as_deref(), Ok("/courses/py/"));
        assert_eq!(normalize("/a%20b").as_deref(), Ok("/a b"));
    }

    #[test]
    fn rejects_traversal_and_tricks() {
        assert_eq!(normalize("/../etc/passwd"), Err(BadPath::DotSegment));
        assert_eq!(normalize("/a/./b"), Err(BadPath::DotSegment));
        assert_eq!(normalize("/%2e%2e/x"), Err(BadPath::EncodedSeparator));
        assert_eq!(normalize("/%2E%2E/x"), Err(BadPath::EncodedSeparator));
        assert_eq!(normalize("/a%2fb"), Err(BadPath::EncodedSeparator));
        assert_eq!(normalize("/%252e%252e/"), Err(BadPath::EncodedSeparator));
        assert_eq!(normalize("/a%00"), Err(BadPath::EncodedSeparator));
        assert_eq!(normalize("/a\\..\\b"), Err(BadPath::Control));
        assert_eq!(normalize("/%ff"), Err(BadPath::NotUtf8));
        assert_eq!(normalize(&format!("/{}", "a".repeat(MAX_PATH))), Err(BadPath::TooLong));
    }

    /// Found by `fuzz/fuzz_targets/path.rs`: a `%` that is not itself an escape can sit
    /// before an escape that decodes to two hex digits, so the decoded path held a new
    /// escape (`/%2%65` decoded to `/%2e`) that a second decoder would read as `.`.
    #[test]
    fn decoded_path_holds_no_escape_of_its_own() {
        assert_eq!(normalize("/%2%65%2%65/x"), Err(BadPath::DoubleEncoded));
        assert_eq!(normalize("/c(%%c(f%A%%%%1%%359/"), Err(BadPath::DoubleEncoded));
        assert_eq!(normalize("/a%%32%66b"), Err(BadPath::DoubleEncoded));
        // A lone `%` that decodes to nothing new stays accepted, and so does its decoding.
        assert_eq!(normalize("/100%").as_deref(), Ok("/100%"));
        assert_eq!(normalize("/50%20off%").as_deref(), Ok("/50 off%"));
        assert_eq!(normalize("/%zz%41").as_deref(), Ok("/%zzA"));
        for raw in ["/100%", "/50%20off%", "/%zz%41", "/caf%C3%A9/"] {
            let once = normalize(raw).expect("accepted");
            assert_eq!(normalize(&once).as_deref(), Ok(&*once), "{raw}");
        }
    }
}
