//! What a page uses besides theme files: the media, animations and labs the build then
//! publishes in that page's scope (see the assets stage). Its own module so the page cache can
//! remember a page's uses without depending on the asset collection.

use std::collections::BTreeSet;

/// Something a page can use besides theme files: what the assets stage publishes for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssetId {
    /// Course or lab media, by content-relative path.
    File(String),
    /// An animation, by its name in `animations/`.
    Animation(String),
    /// A lab's app bundle and starter zip, by lab slug.
    Lab(String),
}

impl AssetId {
    /// One word for the page cache's line format (names never hold spaces).
    pub fn token(&self) -> String {
        match self {
            AssetId::File(rel) => format!("f:{rel}"),
            AssetId::Animation(name) => format!("a:{name}"),
            AssetId::Lab(slug) => format!("l:{slug}"),
        }
    }

    pub fn from_token(token: &str) -> Option<AssetId> {
        let (kind, name) = token.split_once(':')?;
        match kind {
            "f" => Some(AssetId::File(name.to_owned())),
            "a" => Some(AssetId::Animation(name.to_owned())),
            "l" => Some(AssetId::Lab(name.to_owned())),
            _ => None,
        }
    }
}

/// What one page (or lab instructions) used.
pub(crate) type Uses = BTreeSet<AssetId>;
