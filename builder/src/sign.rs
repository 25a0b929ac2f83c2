//! `course sign`: issues a CloudFront-compatible signed URL and cookies offline, the same
//! grant `POST /_origin/grants` answers.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bundle::grant::{sign_custom, HashAlgorithm, Issued, Policy, SigningKey};

#[derive(Debug)]
pub struct SignOptions<'a> {
    pub key: &'a Path,
    pub key_pair_id: &'a str,
    /// The prefix the grant opens, e.g. `https://learn.example.org/courses/py1/`.
    pub url_prefix: &'a str,
    pub ttl: Duration,
    pub ip: Option<ipnet::IpNet>,
}

pub struct Signed {
    pub url: String,
    pub issued: Issued,
    pub expires: u64,
}

/// What `course sign` prints: the URL, when it expires, and the cookies, one per line.
impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "url: {}", self.url)?;
        writeln!(f, "expires: {}", self.expires)?;
        for (name, value) in &self.issued.cookies {
            writeln!(f, "cookie: {name}={value}")?;
        }
        Ok(())
    }
}

/// A prefix a grant may name: `http(s)://host[:port]/` then whole path segments ending in
/// `/`, with nothing a policy would read as a wildcard (`*`, `?`) and no query, fragment,
/// user, `.`/`..` segment or percent-encoding.
fn check_url_prefix(url_prefix: &str) -> anyhow::Result<()> {
    let example = "e.g. https://learn.example.org/courses/py1/";
    let Some((scheme, rest)) = url_prefix.split_once("://") else {
        anyhow::bail!("--url-prefix must be an http(s) URL, {example}");
    };
    if scheme != "https" && scheme != "http" {
        anyhow::bail!("--url-prefix must be an http(s) URL, {example}");
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if bundle::authority::normalise(authority).is_none() {
        anyhow::bail!("--url-prefix {url_prefix:?}: `{authority}` is not a host[:port], {example}");
    }
    if !path.ends_with('/') {
        anyhow::bail!("--url-prefix must end with `/` so the grant covers whole path segments");
    }
    if !bundle::paths::is_route(path) || path.contains(['*', '?', '#']) {
        anyhow::bail!("--url-prefix {url_prefix:?}: the path must be plain segments (no `*`, `?`, `#`, `%`, `.` or `..`)");
    }
    // A grant opens one course (or part of one), never the whole site.
    let course = path.strip_prefix("/courses/").and_then(|rest| rest.split('/').next()).unwrap_or_default();
    if !bundle::paths::is_slug(course) {
        anyhow::bail!("--url-prefix {url_prefix:?} must be within one course: .../courses/<course>/");
    }
    Ok(())
}

/// Longest grant `course sign` issues: offline grants are for a class or an exam, not a term.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn sign(options: &SignOptions<'_>) -> anyhow::Result<Signed> {
    let pem = std::fs::read_to_string(options.key)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", options.key.display()))?;
    let key = SigningKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", options.key.display()))?;
    check_url_prefix(options.url_prefix)?;
    if !bundle::grant::is_valid_key_pair_id(options.key_pair_id) {
        anyhow::bail!("--key-pair-id {:?}: use 1 to 128 of A-Z a-z 0-9 - _", options.key_pair_id);
    }
    if options.ttl < Duration::from_secs(1) || options.ttl > MAX_TTL {
        anyhow::bail!("--ttl must be between 1s and 7 days");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let expires = now + options.ttl.as_secs();
    let policy = Policy {
        resource: format!("{}*", options.url_prefix),
        date_less_than: expires,
        date_greater_than: None,
        ip_address: options.ip,
    };
    let issued = sign_custom(&policy, &key, options.key_pair_id, HashAlgorithm::Sha256);
    Ok(Signed { url: format!("{}?{}", options.url_prefix, issued.query), issued, expires })
}

#[cfg(test)]
mod tests {
    use super::check_url_prefix;

    #[test]
    fn url_prefixes() {
        for ok in [
            "https://learn.test/courses/py1/",
            "http://127.0.0.1:8080/courses/a/",
            "https://learn.test/courses/a/b/",
        ] {
            assert!(check_url_prefix(ok).is_ok(), "{ok}");
        }
        for bad in [
            "learn.test/courses/a/",
            "ftp://learn.test/a/",
            "https://learn.test/courses/a",
            "https://u@learn.test/courses/a/",
            "https://learn.test/courses/*/",
            "https://learn.test/courses/a?/",
            "https://learn.test/courses/../b/",
            "https://learn.test/courses/%2e/",
            "https://learn.test",
            "https://learn.test/",
            "https://learn.test/labs/",
            "https://learn.test:99999/courses/a/",
        ] {
            assert!(check_url_prefix(bad).is_err(), "{bad}");
        }
    }
}
