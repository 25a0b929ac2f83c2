//! Access to enrolled-only courses: CloudFront signed URLs and signed cookies, checked
//! here before the cache is consulted (or trusted when the CDN already enforced them and
//! proves it with the origin-verify secret).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bundle::grant::{self, Grant, TrustedKeys};
use http::header;

/// Name of the header a CDN adds to prove a request came through it.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

pub struct AccessConfig {
    pub trusted: TrustedKeys,
    /// Scheme and host grants are scoped to (the CDN's), e.g. `https://learn.example.org`;
    /// `None`: `http://<Host header>`.
    pub public_url: Option<String>,
    pub skew: Duration,
    /// The CDN checks grants itself (CloudFront trusted key groups) and sends this secret.
    pub origin_verify_secret: Option<String>,
}

/// Why a request for an enrolled page is refused (logged, never shown in detail).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no grant")]
    Missing,
    #[error("malformed grant: {0}")]
    Malformed(String),
    #[error("grant denied: {0}")]
    Denied(String),
    #[error("no trusted keys are configured")]
    NoKeys,
}

/// How a request was let in.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// The CDN vouched for it (origin-verify secret): it may be cached there for grant holders.
    ByCdn,
    /// A grant was checked here: the response must stay private.
    ByGrant,
}

pub struct AccessControl {
    config: AccessConfig,
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

/// Compares secrets in time independent of where they differ.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl AccessControl {
    pub fn new(config: AccessConfig) -> Self {
        let verified = moka::sync::Cache::builder()
            .weigher(key_weight)
            .max_capacity(VERIFIED_CACHE_BYTES)
            .time_to_live(Duration::from_secs(30))
            .build();
        AccessControl { config, verified }
    }

    pub fn public_base<B>(&self, req: &http::Request<B>) -> String {
        match &self.config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host =
                    req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
                format!("http://{host}")
            }
        }
    }

    /// Checks a request for an enrolled-only `path` (already normalised).
    pub fn admit<B>(
        &self,
        req: &http::Request<B>,
        path: &str,
        client_ip: IpAddr,
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
        let url = format!("{}{path}", self.public_base(req));
        let now = now_secs();
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
        grant::verify(&grant, &self.config.trusted, &request, skew)
            .map_err(|d| Refusal::Denied(d.to_string()))?;
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
