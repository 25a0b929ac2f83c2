//! Names in the store and shapes of routes.

pub use crate::hash::FINGERPRINT_LEN;
use crate::hash::{ObjectKey, ReleaseId};

pub fn object_path(key: &ObjectKey) -> String {
    format!("objects/{key}")
}

pub fn release_path(id: &ReleaseId) -> String {
    format!("releases/{id}.json")
}

/// `channels/<name>.json`, or `None` when the name is not a slug.
pub fn channel_path(name: &str) -> Option<String> {
    is_slug(name).then(|| format!("channels/{name}.json"))
}

/// `a-z`, `0-9` and inner `-`, 1 to 64 characters.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A route is an absolute, normalised URL path: no empty, `.` or `..` segments, no
/// backslashes, query, fragment, percent signs or control characters.
pub fn is_route(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/') else { return false };
    if s.len() > 1024 || s.bytes().any(|b| b.is_ascii_control() || b"\\?#% ".contains(&b)) {
        return false;
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(i, seg)| match *seg {
        "" => i == last, // only the trailing slash of a directory route
        "." | ".." => false,
        _ => true,
    })
}

/// The page a release answers a path it has no route for with (status 404).
pub const NOT_FOUND_ROUTE: &str = "/404.html";
/// The page an enrolled route answers without a valid grant with (status 403).
pub const FORBIDDEN_ROUTE: &str = "/403.html";

/// `/courses/<slug>/`: a course's page, and the prefix of everything only it uses (its
/// lessons and, under `/courses/<slug>/_/`, its media), which one grant cookie path covers.
pub fn course_prefix(slug: &str) -> String {
    format!("/courses/{slug}/")
}

/// Cookies named this and a course's slug tell the site's scripts that the browser holds
/// a grant for that course. Not a secret and never trusted (the grant's own cookies,
/// `HttpOnly` and scoped to the course, are what open it): a search merges the indexes of
/// the courses hinted at instead of asking for every enrolled course's and getting 403s.
pub const GRANT_HINT_PREFIX: &str = "course-grant.";

/// The `Set-Cookie` value of the hint of a grant for course `slug` lasting `max_age`
/// seconds, readable on every page of the site.
pub fn grant_hint_cookie(slug: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{GRANT_HINT_PREFIX}{slug}=1; Path=/; Max-Age={max_age}; SameSite=Lax{secure}")
}

/// `site.css` + key -> `site.<fingerprint>.css`; `LICENSE` -> `LICENSE.<fingerprint>`.
pub fn fingerprinted_name(file_name: &str, key: &ObjectKey) -> String {
    match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{}.{ext}", key.short()),
        _ => format!("{file_name}.{}", key.short()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        for ok in ["/", "/404.html", "/courses/py/", "/assets/site.0123456789.css"] {
            assert!(is_route(ok), "{ok}");
        }
        for bad in ["", "courses/", "//", "/a//b", "/../x", "/a/./b", "/a\\b", "/a%2e", "/a?b", "/a\0"] {
            assert!(!is_route(bad), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        let key = ObjectKey::of(b"abc");
        assert_eq!(fingerprinted_name("site.css", &key), "site.ba7816bf8f.css");
        assert_eq!(fingerprinted_name("lottie.min.js", &key), "lottie.min.ba7816bf8f.js");
        assert_eq!(fingerprinted_name("LICENSE", &key), "LICENSE.ba7816bf8f");
        assert_eq!(channel_path("live").as_deref(), Some("channels/live.json"));
        assert_eq!(channel_path("../x"), None);
        assert!(is_slug("python-3"));
        assert!(!is_slug("Python") && !is_slug("-a") && !is_slug("a_b"));
    }
}
