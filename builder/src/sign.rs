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

pub fn sign(options: &SignOptions<'_>) -> anyhow::Result<Signed> {
    let pem = std::fs::read_to_string(options.key)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", options.key.display()))?;
    let key = SigningKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", options.key.display()))?;
    let Some(rest) =
        options.url_prefix.strip_prefix("https://").or(options.url_prefix.strip_prefix("http://"))
    else {
        anyhow::bail!("--url-prefix must be an http(s) URL, e.g. https://learn.example.org/courses/py1/");
    };
    if !rest.contains('/') || !options.url_prefix.ends_with('/') {
        anyhow::bail!("--url-prefix must end with `/` so the grant covers whole path segments");
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
