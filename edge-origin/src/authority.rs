//! Which public origin (`scheme://host[:port]`) a request is for: the URL a grant is
//! checked against is built only from configuration or from a strictly validated
//! `host[:port]`, never from request text that could carry `/ ? # @`, whitespace or a
//! second authority.
//!
//! Without `--public-url`, the authority comes from the request target when it is in
//! absolute form (`GET http://host/path`: RFC 9112 §3.2.2 says the Host header is then
//! ignored), otherwise from the single Host header. A request with an invalid Host, more
//! than one, or none at all in HTTP/1.1 is a 400 (RFC 9112 §3.2), as nginx answers.

use http::{header, Request, Version};

pub use bundle::authority::normalise;

/// Why a request's authority is refused (the 400's text).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadAuthority {
    #[error("the request has no Host header")]
    Missing,
    #[error("the request has more than one Host header")]
    Repeated,
    #[error("the Host (or the request target's authority) is not a valid host[:port]")]
    Invalid,
}

/// The request's authority as `host[:port]`, host lowercased; `Ok(None)` for an HTTP/1.0
/// request that names none.
pub fn of_request<B>(req: &Request<B>) -> Result<Option<String>, BadAuthority> {
    if let Some(authority) = req.uri().authority() {
        return normalise(authority.as_str()).map(Some).ok_or(BadAuthority::Invalid);
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err(BadAuthority::Repeated),
        (Some(host), None) => {
            let host = host.to_str().map_err(|_| BadAuthority::Invalid)?;
            normalise(host).map(Some).ok_or(BadAuthority::Invalid)
        }
        (None, _) if req.version() == Version::HTTP_10 || req.version() == Version::HTTP_09 => Ok(None),
        (None, _) => Err(BadAuthority::Missing),
    }
}

/// A configured public URL (`--public-url`): `http(s)://host[:port]` with at most a trailing
/// `/`; returned without it, scheme and host lowercased.
pub fn parse_public_url(url: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "--public-url {url:?} must be http(s)://host[:port] with no path, query or user, e.g. \
             https://learn.example.org"
        )
    };
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(bad());
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let authority = normalise(authority).ok_or_else(bad)?;
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, hosts: &[&str], version: Version) -> Request<()> {
        let mut builder = Request::get(target).version(version);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn absolute_form_wins_over_host() {
        let req = request("http://Other.test/courses/a/", &["learn.test"], Version::HTTP_11);
        assert_eq!(of_request(&req), Ok(Some("other.test".to_owned())));
        let req = request("http://user@other.test/x", &["learn.test"], Version::HTTP_11);
        assert_eq!(of_request(&req), Err(BadAuthority::Invalid));
    }

    #[test]
    fn host_header_rules() {
        let one = request("/x", &["learn.test:8080"], Version::HTTP_11);
        assert_eq!(of_request(&one), Ok(Some("learn.test:8080".to_owned())));
        let two = request("/x", &["a.test", "b.test"], Version::HTTP_11);
        assert_eq!(of_request(&two), Err(BadAuthority::Repeated));
        let trick = request("/x", &["learn.test/courses/a/x"], Version::HTTP_11);
        assert_eq!(of_request(&trick), Err(BadAuthority::Invalid));
        let none = request("/x", &[], Version::HTTP_11);
        assert_eq!(of_request(&none), Err(BadAuthority::Missing));
        let old = request("/x", &[], Version::HTTP_10);
        assert_eq!(of_request(&old), Ok(None));
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            parse_public_url("https://Learn.Example.org/").as_deref(),
            Ok("https://learn.example.org")
        );
        assert_eq!(parse_public_url("http://127.0.0.1:8080").as_deref(), Ok("http://127.0.0.1:8080"));
        for bad in ["learn.test", "ftp://h", "https://h/path", "https://u@h", "https://h?x", "https://"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
