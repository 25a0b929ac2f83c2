//! Signed grants: signed URLs and signed cookies in Amazon CloudFront's format.
//!
//! A grant is a policy statement (JSON) signed with RSA PKCS#1 v1.5 or ECDSA P-256 over
//! SHA-256 (or SHA-1, which CloudFront still accepts), carried either in the query string
//! (`Policy`/`Expires`, `Signature`, `Key-Pair-Id`, `Hash-Algorithm`) or in cookies
//! (`CloudFront-Policy`/`CloudFront-Expires`, `CloudFront-Signature`, `CloudFront-Key-Pair-Id`,
//! `CloudFront-Hash-Algorithm`), all base64-encoded in CloudFront's variant (`+` -> `-`,
//! `=` -> `_`, `/` -> `~`). The same grant is therefore accepted by CloudFront and by the
//! origin.
//!
//! Like the rest of this crate the module is pure: no I/O, no clock (the caller passes `now`),
//! no randomness (signatures are deterministic).
//!
//! Checking a request: [`Grant::from_query`] or [`Grant::from_cookie_header`], then
//! [`verify`] against the [`TrustedKeys`]. Issuing: [`sign_custom`] (or [`sign_canned`]).

mod keys;
mod policy;
mod wire;

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;

pub use keys::{SigningKey, VerifyingKey};
pub use policy::Policy;
pub use wire::{
    is_valid_key_pair_id, strip_grant_params, Grant, GrantPolicy, MAX_KEY_PAIR_ID_LEN, MAX_POLICY_LEN,
    MAX_SIGNATURE_LEN, QUERY_PARAMS,
};

/// The digest signed. Grants that name none are SHA-1 (CloudFront's default); grants issued
/// here are SHA-256 unless asked otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
}

impl HashAlgorithm {
    /// The value of `Hash-Algorithm` / `CloudFront-Hash-Algorithm`: `SHA1` or `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "SHA1",
            HashAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Reads `SHA1` or `SHA256` (exactly, as CloudFront writes them).
    pub fn from_wire(value: &str) -> Option<Self> {
        match value {
            "SHA1" => Some(HashAlgorithm::Sha1),
            "SHA256" => Some(HashAlgorithm::Sha256),
            _ => None,
        }
    }
}

impl FromStr for HashAlgorithm {
    type Err = GrantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashAlgorithm::from_wire(s).ok_or(GrantError::InvalidValue("Hash-Algorithm"))
    }
}

/// Why grant parameters, a policy or a key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("{0}: invalid or truncated CloudFront base64")]
    InvalidBase64(&'static str),
    #[error("{param} is {len} bytes, over the {limit}-byte limit")]
    TooLarge { param: &'static str, len: usize, limit: usize },
    #[error("{0} appears more than once")]
    Duplicate(&'static str),
    #[error("incomplete grant: {0} is missing")]
    Missing(&'static str),
    #[error("grant carries both {policy} and {expires}")]
    Conflicting { policy: &'static str, expires: &'static str },
    #[error("invalid {0} value")]
    InvalidValue(&'static str),
    #[error("malformed policy: {0}")]
    MalformedPolicy(String),
    #[error("unusable key: {0}")]
    Key(String),
}

/// Why a well-formed grant does not allow a request. `Display` is meant for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Denied {
    #[error("unknown key pair id")]
    UnknownKeyPair,
    /// Also what a canned grant used on another URL gives: its resource is part of the
    /// signed bytes and never travels, so the two cannot be told apart.
    #[error("bad signature")]
    BadSignature,
    #[error("grant expired")]
    Expired,
    #[error("grant not yet valid")]
    NotYetValid,
    #[error("grant is for another resource")]
    WrongResource,
    #[error("client address not allowed by the grant")]
    WrongIp,
    #[error("malformed policy")]
    MalformedPolicy,
}

/// CloudFront's base64: standard base64 (padded), then `+` -> `-`, `=` -> `_`, `/` -> `~`.
pub fn encode_cf_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

/// The reverse of [`encode_cf_base64`]. Strict: only CloudFront's alphabet, canonical padding
/// and trailing bits, so a truncated value is an error.
pub fn decode_cf_base64(text: &str) -> Result<Vec<u8>, GrantError> {
    let mut standard = String::with_capacity(text.len());
    for c in text.chars() {
        standard.push(match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            c if c.is_ascii_alphanumeric() => c,
            _ => return Err(GrantError::InvalidBase64("value")),
        });
    }
    base64::engine::general_purpose::STANDARD.decode(standard).map_err(|_| GrantError::InvalidBase64("value"))
}

/// The public keys grants may be signed with, by key pair id (CloudFront's public key id).
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: HashMap<String, VerifyingKey>,
}

impl TrustedKeys {
    pub fn new() -> Self {
        TrustedKeys::default()
    }

    /// Trusts `key` under `key_pair_id`, replacing any key trusted under that id.
    pub fn insert(&mut self, key_pair_id: &str, key: VerifyingKey) {
        self.keys.insert(key_pair_id.to_owned(), key);
    }

    pub fn remove(&mut self, key_pair_id: &str) -> Option<VerifyingKey> {
        self.keys.remove(key_pair_id)
    }

    pub fn get(&self, key_pair_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_pair_id)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// What [`verify`] checks a grant against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `scheme://host/path` of the request, no query, already normalised (no `..`, no
    /// percent-encoded dots or slashes).
    pub url: &'a str,
    /// Epoch seconds.
    pub now: u64,
    pub client_ip: IpAddr,
}

/// Checks, in this order: the key pair id is trusted ([`Denied::UnknownKeyPair`]); the
/// signature ([`Denied::BadSignature`]; for a canned grant it signs the request URL, so another
/// URL fails here); the policy shape ([`Denied::MalformedPolicy`]); expiry, with `skew_secs`
/// allowance (`DateLessThan`/`Expires` + skew must be > now: [`Denied::Expired`];
/// `DateGreaterThan` - skew must be <= now: [`Denied::NotYetValid`]); the resource
/// ([`Denied::WrongResource`]); the client address ([`Denied::WrongIp`]).
///
/// Resource matching: `*` matches any run of characters (none included, `/` included) and `?`
/// exactly one; everything else is literal; the scheme and host are compared ignoring ASCII
/// case, the path exactly. The resource is matched against `request.url` alone, so a policy
/// resource carrying a query string matches no request.
pub fn verify(
    grant: &Grant,
    keys: &TrustedKeys,
    request: &Request<'_>,
    skew_secs: u64,
) -> Result<(), Denied> {
    let key = keys.get(&grant.key_pair_id).ok_or(Denied::UnknownKeyPair)?;
    match &grant.policy {
        GrantPolicy::Canned { expires } => {
            let json = Policy::canned_json(request.url, *expires);
            if !key.verify(json.as_bytes(), &grant.signature, grant.hash) {
                return Err(Denied::BadSignature);
            }
            check_times(*expires, None, request.now, skew_secs)
        }
        GrantPolicy::Custom(json) => {
            // The signature first: nothing unauthenticated is parsed or matched.
            if !key.verify(json, &grant.signature, grant.hash) {
                return Err(Denied::BadSignature);
            }
            let policy = Policy::from_json(json).map_err(|_| Denied::MalformedPolicy)?;
            check_times(policy.date_less_than, policy.date_greater_than, request.now, skew_secs)?;
            if !resource_matches(&policy.resource, request.url) {
                return Err(Denied::WrongResource);
            }
            if let Some(net) = policy.ip_address {
                if !net.contains(&canonical_ip(request.client_ip)) {
                    return Err(Denied::WrongIp);
                }
            }
            Ok(())
        }
    }
}

/// Whether a grant valid until `date_less_than` (its `DateLessThan` or `Expires`, epoch
/// seconds) has expired at `now`, allowing `skew_secs` for clocks: it is valid strictly
/// before `date_less_than + skew_secs`. The one definition of "expired": [`verify`] and the
/// origin's cache of verdicts both ask it.
pub fn is_expired(date_less_than: u64, now: u64, skew_secs: u64) -> bool {
    date_less_than.saturating_add(skew_secs) <= now
}

fn check_times(less_than: u64, greater_than: Option<u64>, now: u64, skew: u64) -> Result<(), Denied> {
    if is_expired(less_than, now, skew) {
        return Err(Denied::Expired);
    }
    if let Some(start) = greater_than {
        if start.saturating_sub(skew) > now {
            return Err(Denied::NotYetValid);
        }
    }
    Ok(())
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as dual-stack sockets report IPv4 peers) is
/// the IPv4 address.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether the policy `pattern` (with `*` and `?` wildcards) matches `url`; see [`verify`].
pub fn resource_matches(pattern: &str, url: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let url_chars: Vec<char> = url.chars().collect();
    // Characters of the URL before this index (scheme://host[:port]) compare case-insensitively.
    let fold_end = match url.find("://") {
        Some(i) => {
            let host_start = i + 3;
            let path_start = url[host_start..].find('/').map_or(url.len(), |j| host_start + j);
            url[..path_start].chars().count()
        }
        None => 0,
    };
    let same = |p: char, u: char, at: usize| if at < fold_end { p.eq_ignore_ascii_case(&u) } else { p == u };

    // Iterative wildcard matching with one backtrack point: O(len(pattern) * len(url)) at worst.
    let (mut p, mut u) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while u < url_chars.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, u));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == '?' || same(pattern[p], url_chars[u], u)) {
            p += 1;
            u += 1;
        } else if let Some((star_p, star_u)) = star {
            p = star_p + 1;
            u = star_u + 1;
            star = Some((star_p, star_u + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// A grant as issued: the query string of a signed URL and the cookies of the same grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// `Policy=..&Signature=..&Key-Pair-Id=..` (`&Hash-Algorithm=SHA256` when SHA-256).
    pub query: String,
    /// `CloudFront-Policy`, `CloudFront-Signature`, `CloudFront-Key-Pair-Id` (and
    /// `CloudFront-Hash-Algorithm` when SHA-256), as (name, value).
    pub cookies: Vec<(String, String)>,
}

/// Issues a custom-policy grant. `key_pair_id` must satisfy [`is_valid_key_pair_id`] (it is
/// written as is).
pub fn sign_custom(policy: &Policy, key: &SigningKey, key_pair_id: &str, hash: HashAlgorithm) -> Issued {
    debug_assert!(is_valid_key_pair_id(key_pair_id), "invalid key pair id {key_pair_id:?}");
    let json = policy.to_json();
    let encoded_policy = encode_cf_base64(json.as_bytes());
    let signature = encode_cf_base64(&key.sign(json.as_bytes(), hash));
    let mut query = format!("Policy={encoded_policy}&Signature={signature}&Key-Pair-Id={key_pair_id}");
    let mut cookies = vec![
        ("CloudFront-Policy".to_owned(), encoded_policy),
        ("CloudFront-Signature".to_owned(), signature),
        ("CloudFront-Key-Pair-Id".to_owned(), key_pair_id.to_owned()),
    ];
    if hash == HashAlgorithm::Sha256 {
        query.push_str("&Hash-Algorithm=SHA256");
        cookies.push(("CloudFront-Hash-Algorithm".to_owned(), "SHA256".to_owned()));
    }
    Issued { query, cookies }
}

/// Issues a canned-policy signed URL's query string for exactly `resource` (the URL without
/// its grant parameters): `Expires=..&Signature=..&Key-Pair-Id=..` (`&Hash-Algorithm=SHA256`
/// when SHA-256).
pub fn sign_canned(
    resource: &str,
    expires: u64,
    key: &SigningKey,
    key_pair_id: &str,
    hash: HashAlgorithm,
) -> String {
    debug_assert!(is_valid_key_pair_id(key_pair_id), "invalid key pair id {key_pair_id:?}");
    let json = Policy::canned_json(resource, expires);
    let signature = encode_cf_base64(&key.sign(json.as_bytes(), hash));
    let mut query = format!("Expires={expires}&Signature={signature}&Key-Pair-Id={key_pair_id}");
    if hash == HashAlgorithm::Sha256 {
        query.push_str("&Hash-Algorithm=SHA256");
    }
    query
}

#[cfg(test)]
mod tests;
