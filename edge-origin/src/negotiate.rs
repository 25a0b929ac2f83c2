//! Content negotiation and conditional/range request parsing.

use bundle::Encoding;

/// Picks the representation for an `Accept-Encoding` header among the `available`
/// precompressed variants. `None` means identity. Follows q-values; on a tie, br beats
/// gzip beats identity (smaller first); identity
/// wins only when listed with a higher q.
pub fn choose_encoding(accept: Option<&str>, available: &[Encoding]) -> Option<Encoding> {
    let accept = accept?;
    // One pass, no allocation: the q of the first entry naming each coding.
    let (mut br, mut gzip, mut identity, mut star) = (None, None, None, None);
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let name = pieces.next().unwrap_or("").trim();
        let slot = if name.eq_ignore_ascii_case("br") {
            &mut br
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if name.eq_ignore_ascii_case("identity") {
            &mut identity
        } else if name == "*" {
            &mut star
        } else {
            continue;
        };
        if slot.is_none() {
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            *slot = Some(q);
        }
    }
    let mut best: Option<(f32, Option<Encoding>)> = None;
    for (encoding, q) in [(Encoding::Br, br), (Encoding::Gzip, gzip)] {
        if !available.contains(&encoding) {
            continue;
        }
        let q = q.or(star).unwrap_or(0.0);
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, Some(encoding)));
        }
    }
    // Identity is always acceptable, but only preferred when the client ranks it higher.
    match (best, identity) {
        (Some((q, _)), Some(identity)) if identity > q => None,
        (Some((_, enc)), _) => enc,
        (None, _) => None,
    }
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, as RFC 9110 asks).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole body (no Range, or one we do not honour, such as several ranges).
    Full,
    /// Inclusive byte range.
    Partial(u64, u64),
    Unsatisfiable,
}

/// Parses a single `Range: bytes=...` against a body of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeRequest::Full };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else { return RangeRequest::Full };
    let (start, end) = (start.trim(), end.trim());
    let parsed = match (start.is_empty(), end.is_empty()) {
        (true, true) => return RangeRequest::Full,
        (true, false) => match end.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            Err(_) => return RangeRequest::Full,
        },
        (false, _) => {
            let Ok(s) = start.parse::<u64>() else { return RangeRequest::Full };
            let e = if end.is_empty() { Ok(u64::MAX) } else { end.parse::<u64>() };
            match e {
                Ok(e) if e >= s => (s, e.min(size.saturating_sub(1))),
                _ => return RangeRequest::Full,
            }
        }
    };
    if size == 0 || parsed.0 >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Partial(parsed.0, parsed.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::{Br, Gzip};

    #[test]
    fn encodings() {
        let both = [Br, Gzip];
        assert_eq!(choose_encoding(Some("gzip, deflate, br"), &both), Some(Br));
        assert_eq!(choose_encoding(Some("gzip"), &both), Some(Gzip));
        assert_eq!(choose_encoding(Some("br;q=0.5, gzip;q=0.8"), &both), Some(Gzip));
        assert_eq!(choose_encoding(Some("br;q=0, gzip;q=0"), &both), None);
        assert_eq!(choose_encoding(Some("*"), &both), Some(Br));
        assert_eq!(choose_encoding(Some("identity"), &both), None);
        assert_eq!(choose_encoding(None, &both), None);
        assert_eq!(choose_encoding(Some("br"), &[Gzip]), None);
        assert_eq!(choose_encoding(Some("gzip;q=0.5, identity;q=1"), &both), None);
        assert_eq!(choose_encoding(Some("GZIP, BR;q=0.1"), &both), Some(Gzip));
        assert_eq!(choose_encoding(Some("x-gzip"), &both), Some(Gzip));
        assert_eq!(choose_encoding(Some("br;q=0, *;q=0.5"), &both), Some(Gzip));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), RangeRequest::Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), RangeRequest::Partial(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), RangeRequest::Partial(90, 99));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), RangeRequest::Partial(50, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=9-3"), 100), RangeRequest::Full);
        assert_eq!(parse_range(None, 100), RangeRequest::Full);
    }

    #[test]
    fn etags() {
        assert!(if_none_match("\"a\", \"b\"", "\"b\""));
        assert!(if_none_match("W/\"b\"", "\"b\""));
        assert!(if_none_match("*", "\"b\""));
        assert!(!if_none_match("\"c\"", "\"b\""));
    }
}
