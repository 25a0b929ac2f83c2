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
    /// collision can let a forged grant borrow another's verdict.
    verified: moka::sync::Cache<Box<[u8]>, u64>,
}

/// Bytes the verdict cache may hold (keys are a few hundred bytes each).
const VERIFIED_CACHE_BYTES: u64 = 32 << 20;

// moka's weigher gets a reference to the key type, which is a box here.
#[allow(clippy::borrowed_box)]
fn key_weight(key: &Box<[u8]>, _valid_until: &u64) -> u32 {
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
        // A cached verdict holds until the grant expires; everything else is re-checked.
        if self.verified.get(&raw_key).is_some_and(|valid_until| now <= valid_until) {
            return Ok(Admission::ByGrant);
        }
        let from_query = match req.uri().query() {
            Some(query) => Grant::from_query(query).map_err(|e| Refusal::Malformed(e.to_string()))?,
            None => None,
        };
        let grant = match from_query {
            Some(grant) => grant,
            None => {
                let cookies: Vec<&str> = cookies.iter().filter_map(|v| v.to_str().ok()).collect();
                Grant::from_cookie_header(&cookies.join("; "))
                    .map_err(|e| Refusal::Malformed(e.to_string()))?
                    .ok_or(Refusal::Missing)?
            }
        };
        let request = grant::Request { url: &url, now, client_ip };
        let skew = self.config.skew.as_secs();
        grant::verify(&grant, &self.config.trusted, &request, skew).map_err(|denied| match denied {
            grant::Denied::WrongResource => Refusal::Denied(wrong_resource(&grant, &base, path)),
            other => Refusal::Denied(other.to_string()),
        })?;
        if let Some(expires) = grant_expiry(&grant) {
            self.verified.insert(raw_key, expires.saturating_add(skew));
        }
        Ok(Admission::ByGrant)
    }
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
/// as long as the grant does. `None` when the query carries no custom-policy grant (a canned
/// one signs one exact URL, so as a cookie it would open nothing else) or it has expired.
/// Only call it for a request the grant was admitted for.
pub(crate) fn url_grant_as_cookies(query: &str, cookie_path: &str, secure: bool) -> Option<Vec<String>> {
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
    let secure = if secure { "; Secure" } else { "" };
    Some(
        pairs
            .into_iter()
            .map(|(name, value)| {
                format!(
                    "{name}={value}; Path={cookie_path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
                )
            })
            .collect(),
    )
}
