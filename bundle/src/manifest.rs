//! The release manifest and the channel pointer.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hash::ObjectKey;
pub use crate::hash::{release_id_of, ReleaseId, RELEASE_ID_LEN};

/// Version of the manifest format; bumped on incompatible changes.
pub const MANIFEST_FORMAT: u32 = 1;

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
    /// Routes of the draft pages the release holds (`course build --drafts`, `course
    /// serve`): such a release is a preview and `course publish` refuses it. Absent when
    /// empty, so releases without drafts keep their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drafts: Vec<String>,
    /// Built by `course serve` for the author's machine, without the compressed variants
    /// students are sent: a preview too, which `course publish` refuses. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
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

impl CacheClass {
    /// `Cache-Control` of a route of this class that anyone may read, as the origin sends
    /// it and as publish stores it on S3 objects.
    pub fn cache_control(self) -> &'static str {
        match self {
            CacheClass::Immutable => "public, max-age=31536000, immutable",
            CacheClass::Stable => {
                "public, max-age=60, s-maxage=3600, stale-while-revalidate=60, stale-if-error=86400"
            }
        }
    }

    /// `Cache-Control` of a route of this class that only a grant opens: never kept by a
    /// shared cache; the student's own browser keeps immutable media as long as any, and
    /// asks again for a page each time (a page kept for 60 s stayed readable for a minute
    /// after its grant ended; the origin checks the grant before any 304).
    pub fn private_cache_control(self) -> &'static str {
        match self {
            CacheClass::Immutable => "private, max-age=31536000, immutable",
            CacheClass::Stable => "private, no-cache",
        }
    }
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

impl Manifest {
    pub fn new(not_found: String) -> Self {
        Manifest {
            format: MANIFEST_FORMAT,
            not_found,
            forbidden: None,
            routes: BTreeMap::new(),
            drafts: Vec::new(),
            preview: false,
        }
    }

    /// Whether the release holds draft pages: a preview, never to be published.
    pub fn has_drafts(&self) -> bool {
        !self.drafts.is_empty()
    }

    /// The canonical bytes stored as `releases/<id>.json`: compact JSON, because a
    /// catalogue's manifest has tens of thousands of routes (pretty printing made it a
    /// third bigger and slower to write, fetch and parse).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Sized for the usual ~380 bytes a route (the generated catalogue's, with two
        // variants each): growing a 5 MB buffer by doubling copied and faulted in twice
        // the memory.
        let mut bytes = Vec::with_capacity(256 + self.routes.len() * 400);
        serde_json::to_writer(&mut bytes, self).expect("a manifest always serialises");
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
        // (Draft pages are routes of the release too.)
        for page in std::iter::once(&manifest.not_found).chain(&manifest.forbidden).chain(&manifest.drafts) {
            if !manifest.routes.contains_key(page) {
                return Err(ManifestError::Route(page.clone()));
            }
        }
        Ok(manifest)
    }

    /// Manifest bytes read from a store as `releases/<id>.json`: they must hash to `id`
    /// (a store can hand back anything) and be a release the origin can serve.
    pub fn verified(bytes: &[u8], id: &ReleaseId) -> Result<Self, ManifestError> {
        let actual = release_id_of(bytes);
        if &actual != id {
            return Err(ManifestError::Id { expected: id.clone(), actual });
        }
        Manifest::from_bytes(bytes)
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

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON of the expected shape: {0}")]
    Json(serde_json::Error),
    #[error("manifest format {0} is not supported (expected {MANIFEST_FORMAT})")]
    Format(u32),
    #[error("manifest names an invalid or missing route {0:?}")]
    Route(String),
    #[error("manifest of release {expected} hashes to {actual}: corrupted or not that release")]
    Id { expected: ReleaseId, actual: ReleaseId },
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
    /// Flips of this channel so far: each flip writes the next one (see the builder's
    /// publish protocol); 0 in pointers written before sequences existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sequence: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    fn drafts_are_recorded_only_when_there_are_some() {
        let mut m = Manifest::new("/404.html".into());
        m.routes.insert("/404.html".into(), route(b"missing"));
        let plain = m.to_bytes();
        assert!(
            !String::from_utf8(plain.clone()).expect("utf8").contains("drafts"),
            "ids of old releases stay"
        );
        assert!(!Manifest::from_bytes(&plain).expect("parses").has_drafts());
        m.routes.insert("/courses/py1/wip/".into(), route(b"wip"));
        m.drafts.push("/courses/py1/wip/".into());
        let back = Manifest::from_bytes(&m.to_bytes()).expect("parses");
        assert!(back.has_drafts());
        assert_eq!(back.drafts, ["/courses/py1/wip/"]);
        assert_ne!(back.release_id(), release_id_of(&plain));
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

    #[test]
    fn verified_takes_only_bytes_that_hash_to_the_id() {
        let mut m = Manifest::new("/404.html".into());
        m.routes.insert("/404.html".into(), route(b"missing"));
        let bytes = m.to_bytes();
        let id = release_id_of(&bytes);
        assert_eq!(Manifest::verified(&bytes, &id).expect("its own id"), m);
        let mut other = bytes.clone();
        other.insert(0, b' '); // still the same JSON, not the same release
        assert!(matches!(Manifest::verified(&other, &id), Err(ManifestError::Id { .. })));
        let not_json = b"nope".to_vec();
        assert!(matches!(
            Manifest::verified(&not_json, &release_id_of(&not_json)),
            Err(ManifestError::Json(_))
        ));
    }

    #[test]
    fn channel_sequence_is_optional_on_the_wire() {
        let id: ReleaseId = "0123456789abcdef0123".parse().expect("id");
        let old = format!(r#"{{"release":"{id}","published_at":"2026-01-01T00:00:00Z"}}"#);
        let read = Channel::from_bytes(old.as_bytes()).expect("a pointer without sequence");
        assert_eq!((read.sequence, &read.previous), (0, &None));
        assert!(!String::from_utf8(read.to_bytes()).expect("utf8").contains("sequence"));
        let next = Channel { sequence: 7, ..read };
        assert_eq!(Channel::from_bytes(&next.to_bytes()).expect("round trip").sequence, 7);
    }

    #[test]
    fn shared_caches_keep_only_public_routes() {
        for class in [CacheClass::Immutable, CacheClass::Stable] {
            assert!(class.cache_control().starts_with("public"));
            assert!(class.private_cache_control().starts_with("private"));
        }
        assert!(CacheClass::Immutable.cache_control().contains("immutable"));
        assert!(!CacheClass::Stable.cache_control().contains("immutable"));
    }
}
