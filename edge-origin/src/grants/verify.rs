//! Checking grants for enrolled-only courses: CloudFront signed URLs and signed cookies,
//! verified here before the cache is consulted (or trusted when the CDN already enforced
//! them and proves it with the origin-verify secret).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bundle::grant::{self, Grant, TrustedKeys};
use http::header;

use crate::authority;
use crate::secret::same_secret;

/// Name of the header a CDN adds to prove a request came through it.
pub(crate) const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

pub(crate) struct VerifierConfig {
    pub trusted: TrustedKeys,
    /// Scheme and host grants are scoped to (the CDN's), e.g. `https://learn.example.org`;
    /// `None`: `http://<the request's validated host[:port]>` (see [`crate::authority`]).
    pub public_url: Option<String>,
    pub skew: Duration,
    /// The CDN checks grants itself (CloudFront trusted key groups) and sends this secret.
    pub origin_verify_secret: Option<String>,
}

/// Why a request for an enrolled page is refused (logged, never shown in detail).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("no grant")]
    Missing,
    #[error("malformed grant: {0}")]
    Malformed(String),
    #[error("grant denied: {0}")]
    Denied(String),
    #[error("no trusted keys are configured")]
    NoKeys,
    #[error("the request names no host and no --public-url is configured")]
    NoHost,
}

/// How a request was let in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The CDN vouched for it (origin-verify secret): it may be cached there for grant holders.
    ByCdn,
    /// A grant was checked here: the response must stay private.
    ByGrant,
}

pub(crate) struct Verifier {
    config: VerifierConfig,
    /// Verdicts of recent checks, keyed by the request's raw grant (query or cookie
    /// headers, as sent), URL and client IP, so a student's repeated hits skip decoding
    /// and the public-key operation. The key is the raw bytes, compared whole: no hash
    /// collision can let a forged grant borrow another's verdict. The value is the grant's
    /// expiry (`DateLessThan`), judged at each hit by `grant::is_expired`.
    verified: moka::sync::Cache<Box<[u8]>, u64>,
}

/// Bytes the verdict cache may hold (keys are a few hundred bytes each).
const VERIFIED_CACHE_BYTES: u64 = 32 << 20;

// moka's weigher gets a reference to the key type, which is a box here.
#[allow(clippy::borrowed_box)]
fn key_weight(key: &Box<[u8]>, _expires: &u64) -> u32 {
    u32::try_from(key.len()).unwrap_or(u32::MAX)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Verifier {
    /// Fails when the configured public URL is not `http(s)://host[:port]`.
    pub(crate) fn new(mut config: VerifierConfig) -> Result<Self, String> {
        config.public_url = config.public_url.as_deref().map(authority::parse_public_url).transpose()?;
        let verified = moka::sync::Cache::builder()
            .weigher(key_weight)
            .max_capacity(VERIFIED_CACHE_BYTES)
            .time_to_live(Duration::from_secs(30))
            .build();
        Ok(Verifier { config, verified })
    }

    /// The `scheme://host[:port]` grants of this request are scoped to: the configured public
    /// URL, else `http://` and the request's `authority` (already validated by
    /// [`authority::of_request`]); `None` when there is neither.
    pub(crate) fn public_base(&self, authority: Option<&str>) -> Option<String> {
        match &self.config.public_url {
            Some(url) => Some(url.clone()),
            None => authority.map(|host| format!("http://{host}")),
        }
    }

    /// Checks a request for an enrolled-only `path` (already normalised); `authority` is
    /// the request's validated `host[:port]`.
    pub(crate) fn admit<B>(
        &self,
        req: &http::Request<B>,
        path: &str,
        client_ip: IpAddr,
        authority: Option<&str>,
    ) -> Result<Admission, Refusal> {
        self.admit_at(req, path, client_ip, authority, now_secs())
    }

    /// [`Verifier::admit`] at `now` (epoch seconds).
    fn admit_at<B>(
        &self,
        req: &http::Request<B>,
        path: &str,
        client_ip: IpAddr,
        authority: Option<&str>,
        now: u64,
    ) -> Result<Admission, Refusal> {
        if let Some(secret) = &self.config.origin_verify_secret {
            let given = req.headers().get(ORIGIN_VERIFY_HEADER).map(|v| v.as_bytes());
            if given.is_some_and(|g| same_secret(g, secret.as_bytes())) {
                return Ok(Admission::ByCdn);
            }
        }
        self.check_grant_at(req, path, client_ip, authority, now).map(|_| Admission::ByGrant)
    }

    /// Whether the grant `req` carries opens every path of course `slug` (the edge's verdict,
    /// `GET /_origin/grant-check`, which Varnish caches for all of the course's URLs). The
    /// grant is checked exactly as [`Verifier::admit`] checks one for the course's own
    /// `/courses/<slug>/` (key, signature, expiry, host, client address: the origin-verify
    /// secret opens nothing here), and its resource must be one trailing `*` after a prefix
    /// of that URL, so it matches every URL under it. Ok: when the grant expires
    /// (`DateLessThan`).
    pub(crate) fn course_verdict<B>(
        &self,
        req: &http::Request<B>,
        slug: &str,
        client_ip: IpAddr,
        authority: Option<&str>,
    ) -> Result<u64, Refusal> {
        self.course_verdict_at(req, slug, client_ip, authority, now_secs())
    }

    fn course_verdict_at<B>(
        &self,
        req: &http::Request<B>,
        slug: &str,
        client_ip: IpAddr,
        authority: Option<&str>,
        now: u64,
    ) -> Result<u64, Refusal> {
        if !bundle::paths::is_slug(slug) {
            return Err(Refusal::Denied(format!("{slug:?} is not a course slug")));
        }
        let course_root = bundle::paths::course_prefix(slug);
        self.check_grant_at(req, &course_root, client_ip, authority, now)?;
        // Verified for the course's root: now the policy is authenticated, read it again.
        let base = self.public_base(authority).ok_or(Refusal::NoHost)?;
        let root_url = format!("{base}{course_root}");
        let grant = grant_of(req)?;
        let grant::GrantPolicy::Custom(json) = &grant.policy else {
            return Err(Refusal::Denied("a canned grant opens one URL, not a course".into()));
        };
        let policy = grant::Policy::from_json(json).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if !covers_everything_under(&policy.resource, &root_url) {
            return Err(Refusal::Denied(format!(
                "grant resource {} does not cover all of {root_url}",
                policy.resource
            )));
        }
        Ok(policy.date_less_than)
    }

    /// Everything [`Verifier::admit_at`] checks after the origin-verify secret.
    fn check_grant_at<B>(
        &self,
        req: &http::Request<B>,
        path: &str,
        client_ip: IpAddr,
        authority: Option<&str>,
        now: u64,
    ) -> Result<(), Refusal> {
        if self.config.trusted.is_empty() {
            return Err(Refusal::NoKeys);
        }
        let base = self.public_base(authority).ok_or(Refusal::NoHost)?;
        let url = format!("{base}{path}");
        // The verdict cache is consulted on the grant as sent, before any decoding.
        let cookies: Vec<&http::HeaderValue> = req.headers().get_all(header::COOKIE).iter().collect();
        let raw_key = {
            let ip = client_ip.to_string();
            let query = req.uri().query().unwrap_or_default().as_bytes();
            let mut key = Vec::with_capacity(query.len() + url.len() + ip.len() + 600);
            for part in [query, url.as_bytes(), ip.as_bytes()] {
                key.extend_from_slice(part);
                key.push(0);
            }
            for cookie in &cookies {
                key.extend_from_slice(cookie.as_bytes());
                key.push(0);
            }
            key.into_boxed_slice()
        };
        let skew = self.config.skew.as_secs();
        // A cached verdict holds until the grant expires, by the same rule `verify` applies
        // (`grant::is_expired`); everything else is re-checked.
        if self.verified.get(&raw_key).is_some_and(|expires| !grant::is_expired(expires, now, skew)) {
            return Ok(());
        }
        let grant = grant_of(req)?;
        let request = grant::Request { url: &url, now, client_ip };
        grant::verify(&grant, &self.config.trusted, &request, skew).map_err(|denied| match denied {
            grant::Denied::WrongResource => Refusal::Denied(wrong_resource(&grant, &base, path)),
            other => Refusal::Denied(other.to_string()),
        })?;
        if let Some(expires) = grant_expiry(&grant) {
            self.verified.insert(raw_key, expires);
        }
        Ok(())
    }
}

/// The grant a request carries: in its query if there is one there, else in its cookies
/// (every `Cookie` header, joined).
fn grant_of<B>(req: &http::Request<B>) -> Result<Grant, Refusal> {
    let from_query = match req.uri().query() {
        Some(query) => Grant::from_query(query).map_err(|e| Refusal::Malformed(e.to_string()))?,
        None => None,
    };
    match from_query {
        Some(grant) => Ok(grant),
        None => {
            let cookies: Vec<&str> =
                req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
            Grant::from_cookie_header(&cookies.join("; "))
                .map_err(|e| Refusal::Malformed(e.to_string()))?
                .ok_or(Refusal::Missing)
        }
    }
}

/// Whether `resource` (a policy's, `*` and `?` wildcards) matches every URL that starts
/// with `root`: it is one prefix of `root` (scheme and host compared ignoring case, as
/// [`grant::resource_matches`] does) followed by a single `*`, with no other wildcard.
fn covers_everything_under(resource: &str, root: &str) -> bool {
    let Some(prefix) = resource.strip_suffix('*') else { return false };
    !prefix.contains(['*', '?'])
        && prefix.len() <= root.len()
        && root.is_char_boundary(prefix.len())
        && grant::resource_matches(prefix, &root[..prefix.len()])
}

/// When a grant stops being valid (for the verdict cache); `None` when unknown.
fn grant_expiry(grant: &Grant) -> Option<u64> {
    match &grant.policy {
        grant::GrantPolicy::Canned { expires } => Some(*expires),
        grant::GrantPolicy::Custom(json) => grant::Policy::from_json(json).ok().map(|p| p.date_less_than),
    }
}

/// Why a verified grant does not cover `base` + `path`, for the operator's log: when only
/// the host differs (`localhost` vs `127.0.0.1`, or a CDN host), it says so.
fn wrong_resource(grant: &Grant, base: &str, path: &str) -> String {
    let grant::GrantPolicy::Custom(json) = &grant.policy else {
        return "grant is for another resource".into();
    };
    let Ok(policy) = grant::Policy::from_json(json) else { return "grant is for another resource".into() };
    let granted_base = policy.resource.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let granted_path = &policy.resource[granted_base.len().min(policy.resource.len())..];
    if !granted_base.eq_ignore_ascii_case(base) && grant::resource_matches(granted_path, path) {
        format!(
            "grant is for host {granted_base} but this request was checked as {base}{path} \
             (host mismatch: open the site as {granted_base}, or set --public-url)"
        )
    } else {
        format!("grant is for another resource ({} does not cover {base}{path})", policy.resource)
    }
}

/// A custom-policy grant that arrived in a URL's query, re-issued as the `Set-Cookie`
/// values of the same grant (CloudFront's cookie names), scoped to `cookie_path` and lasting
/// as long as the grant does, and the hint that the browser holds a grant for course `slug`
/// ([`bundle::paths::grant_hint_cookie`]). `None` when the query carries no custom-policy
/// grant (a canned one signs one exact URL, so as a cookie it would open nothing else) or
/// it has expired. Only call it for a request the grant was admitted for, under the course.
pub(crate) fn url_grant_as_cookies(query: &str, slug: &str, secure: bool) -> Option<Vec<String>> {
    let cookie_path = bundle::paths::course_prefix(slug);
    let grant = Grant::from_query(query).ok()??;
    let grant::GrantPolicy::Custom(json) = &grant.policy else { return None };
    let expires = grant::Policy::from_json(json).ok()?.date_less_than;
    let max_age = expires.checked_sub(now_secs()).filter(|age| *age > 0)?;
    let mut pairs = vec![
        ("CloudFront-Policy", grant::encode_cf_base64(json)),
        ("CloudFront-Signature", grant::encode_cf_base64(&grant.signature)),
        ("CloudFront-Key-Pair-Id", grant.key_pair_id.clone()),
    ];
    if grant.hash == grant::HashAlgorithm::Sha256 {
        pairs.push(("CloudFront-Hash-Algorithm", "SHA256".to_owned()));
    }
    let hint = bundle::paths::grant_hint_cookie(slug, max_age, secure);
    let secure = if secure { "; Secure" } else { "" };
    let mut cookies: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| {
            format!("{name}={value}; Path={cookie_path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
        })
        .collect();
    cookies.push(hint);
    Some(cookies)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use bundle::grant::{sign_canned, sign_custom, HashAlgorithm, Policy, SigningKey};

    use super::*;

    /// Two P-256 keys (openssl-generated): the trusted one and a stranger's.
    const TRUSTED_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg+YWAeOUjUldf1Hd7
qWwHev6WNTUilOl6kUPHOJaXx3ehRANCAAROsACsjKdwHa2ZDCqDx5Zz8ZrHNA+X
mjH+BmvfkUz7AV5M4o1JZW/3AD6GY+MhfbdPRQ7idFIzU9Q/kEX6gTD8
-----END PRIVATE KEY-----
";
    const STRANGER_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEkaw4dR6rI3AxnK3
eWee6uHp8CPo2xIkuzaZ1n4A8POhRANCAARdwNgRi0fQ0hCVxO+X8QZCREDQGLjo
ZiyK2uRqIWPz0EGYRmX2e5SPA0YrH0hPGmYxtr0ehdgDNj5AVsCsSK9h
-----END PRIVATE KEY-----
";
    const KEY_ID: &str = "K2JCJMDEHXQW5F";
    const BASE: &str = "https://learn.example.org";
    const EXPIRES: u64 = 1_700_000_000;
    const SKEW: u64 = 30;
    const STUDENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    fn key(pem: &str) -> SigningKey {
        SigningKey::from_pem(pem).expect("test key")
    }

    fn verifier() -> Verifier {
        let mut trusted = TrustedKeys::new();
        trusted.insert(KEY_ID, key(TRUSTED_PEM).verifying_key());
        Verifier::new(VerifierConfig {
            trusted,
            public_url: Some(BASE.to_owned()),
            skew: Duration::from_secs(SKEW),
            origin_verify_secret: None,
        })
        .expect("verifier")
    }

    /// The query of a course-wide grant valid until `expires`.
    fn course_grant(course: &str, expires: u64, signer: &SigningKey, key_id: &str) -> String {
        let policy = Policy::new(format!("{BASE}/courses/{course}/*"), expires);
        sign_custom(&policy, signer, key_id, HashAlgorithm::Sha256).query
    }

    fn with_query(path: &str, query: &str) -> http::Request<()> {
        http::Request::builder().uri(format!("{path}?{query}")).body(()).expect("request")
    }

    fn admitted(verifier: &Verifier, req: &http::Request<()>, ip: IpAddr, now: u64) -> bool {
        verifier.admit_at(req, req.uri().path(), ip, None, now).is_ok()
    }

    /// What `grant::verify` alone says, with no verdict cache: a fresh verifier each time.
    fn verify_says(req: &http::Request<()>, ip: IpAddr, now: u64) -> bool {
        admitted(&verifier(), req, ip, now)
    }

    #[test]
    fn a_cached_verdict_ends_the_second_verify_refuses() {
        for query in [
            course_grant("py1", EXPIRES, &key(TRUSTED_PEM), KEY_ID),
            sign_canned(
                &format!("{BASE}/courses/py1/"),
                EXPIRES,
                &key(TRUSTED_PEM),
                KEY_ID,
                HashAlgorithm::Sha256,
            ),
        ] {
            let req = with_query("/courses/py1/", &query);
            let cached = verifier();
            // Admitted (and cached) well before expiry, then asked every second across it.
            assert!(admitted(&cached, &req, STUDENT, EXPIRES - 100));
            for now in EXPIRES + SKEW - 3..=EXPIRES + SKEW + 3 {
                assert_eq!(
                    admitted(&cached, &req, STUDENT, now),
                    verify_says(&req, STUDENT, now),
                    "at expiry + skew {:+}",
                    now as i64 - (EXPIRES + SKEW) as i64
                );
            }
            // The boundary itself: valid strictly before `DateLessThan` + skew.
            assert!(verify_says(&req, STUDENT, EXPIRES + SKEW - 1));
            assert!(!verify_says(&req, STUDENT, EXPIRES + SKEW));
        }
    }

    #[test]
    fn a_cached_verdict_never_admits_what_verify_refuses() {
        let trusted = key(TRUSTED_PEM);
        let now = EXPIRES - 100;
        let cached = verifier();
        let good = course_grant("py1", EXPIRES, &trusted, KEY_ID);
        assert!(admitted(&cached, &with_query("/courses/py1/intro/", &good), STUDENT, now));

        let refused = [
            // The same grant for another course (a prefix of it, and one it is a prefix of).
            with_query("/courses/py10/intro/", &good),
            with_query("/courses/py/intro/", &good),
            with_query("/courses/py2/", &good),
            // Signed by a key that is not trusted, under the trusted key's id.
            with_query("/courses/py1/intro/", &course_grant("py1", EXPIRES, &key(STRANGER_PEM), KEY_ID)),
            // Under an id nobody trusts.
            with_query("/courses/py1/intro/", &course_grant("py1", EXPIRES, &trusted, "APKAUNKNOWN0000")),
            // Expired already (by more than the skew).
            with_query("/courses/py1/intro/", &course_grant("py1", now - SKEW - 1, &trusted, KEY_ID)),
            // The good grant with one character of its signature changed.
            with_query("/courses/py1/intro/", &good.replacen("Signature=", "Signature=A", 1)),
        ];
        for req in &refused {
            assert!(!verify_says(req, STUDENT, now), "the oracle refuses {}", req.uri());
            // Asked twice: a refusal is never cached as an admission either.
            for _ in 0..2 {
                assert!(!admitted(&cached, req, STUDENT, now), "cache admitted {}", req.uri());
            }
        }
        // The good grant is still admitted, from the cache, on the path it was checked for.
        assert!(admitted(&cached, &with_query("/courses/py1/intro/", &good), STUDENT, now));
    }

    #[test]
    fn a_cached_verdict_is_for_one_client_address() {
        let policy = Policy {
            ip_address: Some("127.0.0.2/32".parse().expect("net")),
            ..Policy::new(format!("{BASE}/courses/py1/*"), EXPIRES)
        };
        let query = sign_custom(&policy, &key(TRUSTED_PEM), KEY_ID, HashAlgorithm::Sha256).query;
        let req = with_query("/courses/py1/", &query);
        let cached = verifier();
        let now = EXPIRES - 100;
        assert!(admitted(&cached, &req, STUDENT, now));
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
        assert!(!verify_says(&req, other, now));
        assert!(!admitted(&cached, &req, other, now));
    }

    #[test]
    fn a_resource_covers_a_course_only_as_one_prefix_and_a_trailing_star() {
        let root = format!("{BASE}/courses/py1/");
        for covers in [
            format!("{BASE}/courses/py1/*"),
            format!("{BASE}/*"),
            format!("{BASE}/courses/*"),
            "HTTPS://Learn.Example.org/courses/py1/*".to_owned(),
            // Every URL anywhere (as CloudFront reads it), so this course's too.
            "*".to_owned(),
        ] {
            assert!(covers_everything_under(&covers, &root), "{covers}");
        }
        for narrower in [
            format!("{BASE}/courses/py1/intro/*"),
            format!("{BASE}/courses/py1/*.html"),
            format!("{BASE}/courses/py?/*"),
            format!("{BASE}/courses/py10/*"),
            format!("{BASE}/courses/py1/"),
            format!("{BASE}/Courses/py1/*"),
            "https://other.example.org/courses/py1/*".to_owned(),
        ] {
            assert!(!covers_everything_under(&narrower, &root), "{narrower}");
        }
    }

    fn with_cookies(cookies: &str) -> http::Request<()> {
        http::Request::builder()
            .uri("/_origin/grant-check")
            .header(header::COOKIE, cookies)
            .header(ORIGIN_VERIFY_HEADER, "cdn-secret")
            .body(())
            .expect("request")
    }

    fn cookies_of(policy: &Policy, signer: &SigningKey) -> String {
        let issued = sign_custom(policy, signer, KEY_ID, HashAlgorithm::Sha256);
        issued.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn the_course_verdict_is_yes_only_for_a_grant_for_the_whole_course() {
        let verifier = Verifier::new(VerifierConfig {
            origin_verify_secret: Some("cdn-secret".into()),
            ..verifier().config
        })
        .expect("verifier");
        let now = EXPIRES - 100;
        let verdict = |policy: &Policy, slug: &str| {
            verifier.course_verdict_at(
                &with_cookies(&cookies_of(policy, &key(TRUSTED_PEM))),
                slug,
                STUDENT,
                None,
                now,
            )
        };
        let course = Policy::new(format!("{BASE}/courses/py1/*"), EXPIRES);
        assert_eq!(verdict(&course, "py1").ok(), Some(EXPIRES));
        // Another course, one lesson only, expired, from another address, a bad slug.
        assert!(verdict(&course, "py10").is_err());
        assert!(verdict(&Policy::new(format!("{BASE}/courses/py1/intro/*"), EXPIRES), "py1").is_err());
        assert!(verdict(&Policy::new(format!("{BASE}/courses/py1/*"), now - SKEW - 1), "py1").is_err());
        let elsewhere = Policy { ip_address: Some("10.0.0.0/8".parse().expect("net")), ..course.clone() };
        assert!(verdict(&elsewhere, "py1").is_err());
        assert!(verdict(&course, "../py1").is_err());
        // The CDN's secret (the request carries it) opens nothing here; nor a stranger's key.
        assert!(verifier.course_verdict_at(&with_cookies("a=b"), "py1", STUDENT, None, now).is_err());
        let forged = cookies_of(&course, &key(STRANGER_PEM));
        assert!(verifier.course_verdict_at(&with_cookies(&forged), "py1", STUDENT, None, now).is_err());
    }
}
