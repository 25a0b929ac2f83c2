//! Content hashing and object keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hex digits of an object key in a fingerprinted file name (`site.<fingerprint>.css`).
pub const FINGERPRINT_LEN: usize = 10;

/// Hex digits of the manifest hash that make a release id.
pub const RELEASE_ID_LEN: usize = 20;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The key of an object in the store: the lowercase hex SHA-256 of its bytes.
///
/// Parsing validates the shape, so a key can be used in a store path without escaping.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an object key (64 lowercase hex digits): {0:?}")]
pub struct ObjectKeyError(pub String);

impl ObjectKey {
    /// The key of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ObjectKey(sha256_hex(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `bytes` hash to this key.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        // Keys are public (they are in the manifest), so a plain comparison is fine here.
        sha256_hex(bytes) == self.0
    }

    /// A short prefix, used in fingerprinted file names (`site.<short>.css`).
    pub fn short(&self) -> &str {
        &self.0[..FINGERPRINT_LEN]
    }
}

impl FromStr for ObjectKey {
    type Err = ObjectKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(ObjectKey(s.to_owned()))
        } else {
            Err(ObjectKeyError(s.to_owned()))
        }
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = ObjectKeyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ObjectKey> for String {
    fn from(k: ObjectKey) -> String {
        k.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_of_known_bytes() {
        let key = ObjectKey::of(b"abc");
        assert_eq!(key.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(key.matches(b"abc"));
        assert!(!key.matches(b"abd"));
        assert_eq!(key.short(), "ba7816bf8f");
    }

    #[test]
    fn rejects_malformed_keys() {
        assert!("../etc/passwd".parse::<ObjectKey>().is_err());
        assert!("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
            .parse::<ObjectKey>()
            .is_err());
        assert!("ba78".parse::<ObjectKey>().is_err());
        let json = "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a/\"";
        assert!(serde_json::from_str::<ObjectKey>(json).is_err());
    }
}

/// A release id: the first [`RELEASE_ID_LEN`] hex digits of the manifest's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReleaseId(String);

impl ReleaseId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReleaseId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok =
            s.len() == RELEASE_ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(ReleaseId(s.to_owned()))
        } else {
            Err(format!("not a release id ({RELEASE_ID_LEN} lowercase hex digits): {s:?}"))
        }
    }
}

impl TryFrom<String> for ReleaseId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ReleaseId> for String {
    fn from(id: ReleaseId) -> String {
        id.0
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The release id of manifest bytes as stored.
pub fn release_id_of(manifest_bytes: &[u8]) -> ReleaseId {
    ReleaseId(sha256_hex(manifest_bytes)[..RELEASE_ID_LEN].to_owned())
}
