//! Grants on the wire: query parameters and cookies.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::{decode_cf_base64, GrantError, HashAlgorithm};

/// Largest accepted `Policy` / `CloudFront-Policy` value, as it arrives (encoded).
pub const MAX_POLICY_LEN: usize = 4096;
/// Largest accepted `Signature` / `CloudFront-Signature` value, as it arrives (encoded).
pub const MAX_SIGNATURE_LEN: usize = 1024;
/// Largest accepted key pair id (CloudFront's are about 14 to 20 characters).
pub const MAX_KEY_PAIR_ID_LEN: usize = 128;
/// `u64::MAX` has 20 digits.
const MAX_EXPIRES_LEN: usize = 20;

/// The query parameters a signed URL adds, in the order CloudFront writes them.
pub const QUERY_PARAMS: [&str; 5] = ["Policy", "Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"];

/// A grant as it arrives: from the query string or the cookies of a request.
///
/// Parsing only checks the shape (sizes, encodings, completeness); [`super::verify`] checks
/// the signature and the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub policy: GrantPolicy,
    pub signature: Vec<u8>,
    pub key_pair_id: String,
    /// `SHA1` when the grant names no hash algorithm, as CloudFront assumes.
    pub hash: HashAlgorithm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantPolicy {
    /// A custom policy: the policy JSON bytes as decoded (signed as they are).
    Custom(Vec<u8>),
    /// A canned policy: only the expiry travels; the resource is the request URL itself.
    Canned { expires: u64 },
}

/// The parameter names of one form (query or cookie).
struct Names {
    policy: &'static str,
    expires: &'static str,
    signature: &'static str,
    key_pair_id: &'static str,
    hash: &'static str,
}

const QUERY: Names = Names {
    policy: "Policy",
    expires: "Expires",
    signature: "Signature",
    key_pair_id: "Key-Pair-Id",
    hash: "Hash-Algorithm",
};

const COOKIE: Names = Names {
    policy: "CloudFront-Policy",
    expires: "CloudFront-Expires",
    signature: "CloudFront-Signature",
    key_pair_id: "CloudFront-Key-Pair-Id",
    hash: "CloudFront-Hash-Algorithm",
};

/// The raw values found, each at most once.
#[derive(Default)]
struct Raw<'a> {
    policy: Option<&'a str>,
    expires: Option<&'a str>,
    signature: Option<&'a str>,
    key_pair_id: Option<&'a str>,
    hash: Option<&'a str>,
}

impl Grant {
    /// Parses grant parameters out of a raw query string (no leading `?`; values may be
    /// percent-encoded); `Ok(None)` when none are present; `Err` on malformed, partial,
    /// repeated or oversized ones.
    pub fn from_query(query: &str) -> Result<Option<Grant>, GrantError> {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")));
        Grant::parse(pairs, &QUERY)
    }

    /// Same from a `Cookie` header value (several cookies, `; `-separated). Other cookies are
    /// ignored; a grant cookie sent twice (say, set for two paths) is an error rather than a
    /// guess.
    pub fn from_cookie_header(cookies: &str) -> Result<Option<Grant>, GrantError> {
        let pairs = cookies.split(';').map(str::trim).filter(|pair| !pair.is_empty()).map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = value.trim();
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            (name.trim(), value)
        });
        Grant::parse(pairs, &COOKIE)
    }

    /// The expiry of the grant as written in it: `Expires` for a canned policy, `None` for a
    /// custom one (whose `DateLessThan` is only known once the policy is verified and read).
    pub fn canned_expires(&self) -> Option<u64> {
        match self.policy {
            GrantPolicy::Canned { expires } => Some(expires),
            GrantPolicy::Custom(_) => None,
        }
    }

    fn parse<'a>(
        pairs: impl Iterator<Item = (&'a str, &'a str)>,
        names: &Names,
    ) -> Result<Option<Grant>, GrantError> {
        let mut raw = Raw::default();
        for (name, value) in pairs {
            let (slot, static_name) = if name == names.policy {
                (&mut raw.policy, names.policy)
            } else if name == names.expires {
                (&mut raw.expires, names.expires)
            } else if name == names.signature {
                (&mut raw.signature, names.signature)
            } else if name == names.key_pair_id {
                (&mut raw.key_pair_id, names.key_pair_id)
            } else if name == names.hash {
                (&mut raw.hash, names.hash)
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(GrantError::Duplicate(static_name));
            }
        }
        if raw.policy.is_none()
            && raw.expires.is_none()
            && raw.signature.is_none()
            && raw.key_pair_id.is_none()
            && raw.hash.is_none()
        {
            return Ok(None);
        }

        let policy = match (raw.policy, raw.expires) {
            (Some(policy), None) => GrantPolicy::Custom(decode_param(policy, names.policy, MAX_POLICY_LEN)?),
            (None, Some(expires)) => GrantPolicy::Canned { expires: parse_expires(expires, names.expires)? },
            (Some(_), Some(_)) => {
                return Err(GrantError::Conflicting { policy: names.policy, expires: names.expires })
            }
            (None, None) => return Err(GrantError::Missing(names.policy)),
        };
        let signature = raw.signature.ok_or(GrantError::Missing(names.signature))?;
        let signature = decode_param(signature, names.signature, MAX_SIGNATURE_LEN)?;
        let key_pair_id = raw.key_pair_id.ok_or(GrantError::Missing(names.key_pair_id))?;
        let key_pair_id = parse_key_pair_id(key_pair_id, names.key_pair_id)?;
        let hash = match raw.hash {
            None => HashAlgorithm::Sha1,
            Some(value) => HashAlgorithm::from_wire(&unescape(value, names.hash)?)
                .ok_or(GrantError::InvalidValue(names.hash))?,
        };
        Ok(Some(Grant { policy, signature, key_pair_id, hash }))
    }
}

/// Removes the signing parameters (`Policy`, `Signature`, `Key-Pair-Id`, `Expires`,
/// `Hash-Algorithm`) from a query string, keeping the others in order (empty pieces dropped);
/// `None` when nothing is left.
pub fn strip_grant_params(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !QUERY_PARAMS.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(kept.join("&"))
    }
}

fn unescape<'a>(raw: &'a str, name: &'static str) -> Result<Cow<'a, str>, GrantError> {
    percent_decode_str(raw).decode_utf8().map_err(|_| GrantError::InvalidValue(name))
}

fn decode_param(raw: &str, name: &'static str, limit: usize) -> Result<Vec<u8>, GrantError> {
    if raw.len() > limit {
        return Err(GrantError::TooLarge { param: name, len: raw.len(), limit });
    }
    let text = unescape(raw, name)?;
    if text.is_empty() {
        return Err(GrantError::InvalidBase64(name));
    }
    decode_cf_base64(&text).map_err(|_| GrantError::InvalidBase64(name))
}

fn parse_expires(raw: &str, name: &'static str) -> Result<u64, GrantError> {
    if raw.is_empty() || raw.len() > MAX_EXPIRES_LEN || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GrantError::InvalidValue(name));
    }
    raw.parse().map_err(|_| GrantError::InvalidValue(name))
}

fn parse_key_pair_id(raw: &str, name: &'static str) -> Result<String, GrantError> {
    // Percent-encoding at most triples the length.
    if raw.len() > 3 * MAX_KEY_PAIR_ID_LEN {
        return Err(GrantError::TooLarge { param: name, len: raw.len(), limit: 3 * MAX_KEY_PAIR_ID_LEN });
    }
    let id = unescape(raw, name)?;
    if is_valid_key_pair_id(&id) {
        Ok(id.into_owned())
    } else {
        Err(GrantError::InvalidValue(name))
    }
}

/// 1 to [`MAX_KEY_PAIR_ID_LEN`] characters out of `A-Z a-z 0-9 - _`.
pub fn is_valid_key_pair_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_PAIR_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
