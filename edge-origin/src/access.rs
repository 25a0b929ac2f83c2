//! Access to enrolled-only courses: CloudFront signed URLs and signed cookies, checked
//! here before the cache is consulted (or trusted when the CDN already enforced them and
//! proves it with the origin-verify secret).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bundle::grant::{self, Grant, TrustedKeys};
use http::header;
use sha2::{Digest, Sha256};

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
    /// Grants whose signatures were checked recently, keyed by a hash of grant and URL,
    /// so a student's repeated hits skip the public-key operation.
    verified: moka::sync::Cache<[u8; 32], u64>,
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
        let verified =
            moka::sync::Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(30)).build();
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
        let from_query = match req.uri().query() {
            Some(query) => Grant::from_query(query).map_err(|e| Refusal::Malformed(e.to_string()))?,
            None => None,
        };
        let grant = match from_query {
            Some(grant) => grant,
            None => {
                let cookies: Vec<&str> =
                    req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
                Grant::from_cookie_header(&cookies.join("; "))
                    .map_err(|e| Refusal::Malformed(e.to_string()))?
                    .ok_or(Refusal::Missing)?
            }
        };
        let url = format!("{}{path}", self.public_base(req));
        let now = now_secs();
        let key = {
            let mut h = Sha256::new();
            h.update(&grant.signature);
            h.update(grant.key_pair_id.as_bytes());
            h.update(url.as_bytes());
            h.update(client_ip.to_string().as_bytes());
            <[u8; 32]>::from(h.finalize())
        };
        // A cached verdict holds until the grant expires; everything else is re-checked.
        if self.verified.get(&key).is_some_and(|valid_until| now <= valid_until) {
            return Ok(Admission::ByGrant);
        }
        let request = grant::Request { url: &url, now, client_ip };
        let skew = self.config.skew.as_secs();
        grant::verify(&grant, &self.config.trusted, &request, skew)
            .map_err(|d| Refusal::Denied(d.to_string()))?;
        if let Some(expires) = grant_expiry(&grant) {
            self.verified.insert(key, expires.saturating_add(skew));
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
