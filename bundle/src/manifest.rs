//! The release manifest and the channel pointer.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hash::{sha256_hex, ObjectKey};

/// Version of the manifest format; bumped on incompatible changes.
pub const MANIFEST_FORMAT: u32 = 1;

/// Hex digits of the manifest hash that make a release id.
pub const RELEASE_ID_LEN: usize = 20;

/// Every public URL path of one release, mapped to the object that answers it.
///
/// Serialised deterministically (sorted maps, no timestamps) so identical content gives
/// identical bytes and therefore the same [`ReleaseId`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// Route of the page served with status 404 for unknown paths.
    pub not_found: String,
    /// Route of the page served with status 403 when a grant is missing or invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbidden: Option<String>,
    pub routes: BTreeMap<String, Route>,
}

/// How one route is served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Key of the identity (uncompressed) bytes; also the route's strong ETag.
    pub object: ObjectKey,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: String,
    pub cache: CacheClass,
    pub access: Access,
    /// Precompressed variants, only present where they are smaller than the identity bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encodings: BTreeMap<Encoding, Variant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheClass {
    /// Fingerprinted or under a tree-hash prefix: its bytes never change; never invalidated.
    Immutable,
    /// A page students bookmark: revalidated; the only kind of route a release invalidates.
    Stable,
}

/// Who may read a route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    Public,
    /// Only students holding a grant for this course slug.
    Course(String),
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Access {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Public => f.write_str("public"),
            Access::Course(slug) => write!(f, "course:{slug}"),
        }
    }
}

impl FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("course:") {
            None if s == "public" => Ok(Access::Public),
            Some(slug) if crate::paths::is_slug(slug) => Ok(Access::Course(slug.to_owned())),
            _ => Err(format!("bad access scope {s:?}: expected \"public\" or \"course:<slug>\"")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Br,
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub object: ObjectKey,
    pub size: u64,
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

impl Manifest {
    pub fn new(not_found: String) -> Self {
        Manifest { format: MANIFEST_FORMAT, not_found, forbidden: None, routes: BTreeMap::new() }
    }

    /// The canonical bytes stored as `releases/<id>.json`: compact JSON, because a
    /// catalogue's manifest has tens of thousands of routes (pretty printing made it a
    /// third bigger and slower to write, fetch and parse).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("a manifest always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Parses manifest bytes and checks they are a release the origin can serve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::Format(manifest.format));
        }
        if let Some(bad) = manifest.routes.keys().find(|r| !crate::paths::is_route(r)) {
            return Err(ManifestError::Route(bad.clone()));
        }
        for page in std::iter::once(&manifest.not_found).chain(&manifest.forbidden) {
            if !manifest.routes.contains_key(page) {
                return Err(ManifestError::Route(page.clone()));
            }
        }
        Ok(manifest)
    }

    /// The release id of the canonical bytes.
    pub fn release_id(&self) -> ReleaseId {
        release_id_of(&self.to_bytes())
    }

    /// Every object key the release needs, variants included, each once.
    pub fn objects(&self) -> std::collections::BTreeSet<&ObjectKey> {
        self.routes
            .values()
            .flat_map(|r| std::iter::once(&r.object).chain(r.encodings.values().map(|v| &v.object)))
            .collect()
    }
}

/// The release id of manifest bytes as stored.
pub fn release_id_of(manifest_bytes: &[u8]) -> ReleaseId {
    ReleaseId(sha256_hex(manifest_bytes)[..RELEASE_ID_LEN].to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON of the expected shape: {0}")]
    Json(serde_json::Error),
    #[error("manifest format {0} is not supported (expected {MANIFEST_FORMAT})")]
    Format(u32),
    #[error("manifest names an invalid or missing route {0:?}")]
    Route(String),
}

/// The mutable pointer `channels/<name>.json`: which release a channel serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub release: ReleaseId,
    /// The release this one replaced, for a one-step rollback.
    #[serde(default)]
    pub previous: Option<ReleaseId>,
    /// RFC 3339 UTC time of the flip.
    pub published_at: String,
}

impl Channel {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a channel always serialises");
        bytes.push(b'\n');
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(bytes: &[u8]) -> Route {
        Route {
            object: ObjectKey::of(bytes),
            size: bytes.len() as u64,
            content_type: "text/html; charset=utf-8".into(),
            cache: CacheClass::Stable,
            access: Access::Course("py1".into()),
            encodings: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_and_ids_are_stable() {
        let mut m = Manifest::new("/404.html".into());
        m.routes.insert("/404.html".into(), route(b"missing"));
        m.routes.insert("/courses/py1/".into(), route(b"hello"));
        let bytes = m.to_bytes();
        let back = Manifest::from_bytes(&bytes).expect("parses");
        assert_eq!(back, m);
        assert_eq!(back.release_id(), m.release_id());
        assert_eq!(m.release_id().as_str().len(), RELEASE_ID_LEN);
        assert!(String::from_utf8(bytes).expect("utf8").contains("\"access\":\"course:py1\""));
    }

    #[test]
    fn any_change_changes_the_id() {
        let mut a = Manifest::new("/404.html".into());
        a.routes.insert("/404.html".into(), route(b"missing"));
        let mut b = a.clone();
        b.routes.insert("/x/".into(), route(b"x"));
        assert_ne!(a.release_id(), b.release_id());
    }

    #[test]
    fn rejects_bad_manifests() {
        let mut m = Manifest::new("/404.html".into());
        m.routes.insert("/404.html".into(), route(b"missing"));
        m.routes.insert("/../etc/".into(), route(b"x"));
        assert!(matches!(Manifest::from_bytes(&m.to_bytes()), Err(ManifestError::Route(_))));
        let no_404 = Manifest::new("/404.html".into());
        assert!(Manifest::from_bytes(&no_404.to_bytes()).is_err());
        assert!("course:".parse::<Access>().is_err());
        assert!("course:../x".parse::<Access>().is_err());
    }
}
