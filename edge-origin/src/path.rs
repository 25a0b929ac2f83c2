//! Request path normalisation: anything that could reach outside the manifest's routes,
//! or means something else once decoded, is refused before lookup.

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
}

/// Decodes and checks the path of a request URI.
pub fn normalize(raw: &str) -> Result<String, BadPath> {
    if raw.len() > MAX_PATH {
        return Err(BadPath::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(BadPath::NotAbsolute);
    }
    let lower = raw.to_ascii_lowercase();
    // Encoded `.`, `/`, `\` and `%` itself (double encoding) never appear in our routes.
    if ["%2e", "%2f", "%5c", "%25", "%00"].iter().any(|enc| lower.contains(enc)) {
        return Err(BadPath::EncodedSeparator);
    }
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| BadPath::NotUtf8)?;
    if decoded.chars().any(|c| c.is_control() || c == '\\') {
        return Err(BadPath::Control);
    }
    if decoded.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(BadPath::DotSegment);
    }
    Ok(decoded.into_owned())
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
}
