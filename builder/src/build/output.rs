//! The hand-off between rendering and storing: one file of the release, its bytes (in
//! memory or still on disk), its type and how it is cached and who may read it.

use std::borrow::Cow;
use std::path::PathBuf;

use bundle::{Access, CacheClass, ObjectKey};

/// Where the bytes of an output are: in memory, or in a file read only if the store
/// lacks the object (source media, or a page rendered by an earlier build).
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// One file of the release, before it is stored.
#[derive(Debug, Clone)]
pub struct Output {
    pub route: String,
    pub key: ObjectKey,
    pub size: u64,
    pub body: Body,
    pub content_type: String,
    pub cache: CacheClass,
    pub access: Access,
}

impl Output {
    pub fn new(
        route: String,
        bytes: Vec<u8>,
        content_type: String,
        cache: CacheClass,
        access: Access,
    ) -> Self {
        Output {
            route,
            key: ObjectKey::of(&bytes),
            size: bytes.len() as u64,
            body: Body::Bytes(bytes),
            content_type,
            cache,
            access,
        }
    }

    /// The bytes, read from disk if they are not in memory.
    pub fn bytes(&self) -> std::io::Result<Cow<'_, [u8]>> {
        match &self.body {
            Body::Bytes(bytes) => Ok(Cow::Borrowed(bytes)),
            Body::File(path) => {
                let bytes = std::fs::read(path)?;
                if !self.key.matches(&bytes) {
                    let msg = format!("{} changed while the build was running", path.display());
                    return Err(std::io::Error::other(msg));
                }
                Ok(Cow::Owned(bytes))
            }
        }
    }
}

pub(crate) fn content_type_for(path: &str) -> String {
    // The table's own text, not a parsed `Mime`: parsing one allocated for each of the
    // 12,600 asset outputs a rebuild makes.
    let essence = mime_guess::from_path(path).first_raw().unwrap_or("application/octet-stream");
    if is_text(essence) {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_owned()
    }
}

/// Types worth precompressing (and that carry a charset).
pub(crate) fn is_text(essence: &str) -> bool {
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript"
                | "application/json"
                | "image/svg+xml"
                | "application/xml"
                | "application/manifest+json"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_those_of_the_parsed_mime_type() {
        let names = [
            "a.svg",
            "b.SVG",
            "c.json",
            "d.mp4",
            "e.webm",
            "f.css",
            "g.js",
            "h.mjs",
            "i.html",
            "j.png",
            "k.jpg",
            "l.woff2",
            "m.wasm",
            "n.zip",
            "o.txt",
            "p.md",
            "q.py",
            "r.webmanifest",
            "s.xml",
            "t.unknown-ext",
            "no-extension",
        ];
        for name in names {
            let mime = mime_guess::from_path(name).first_or_octet_stream();
            let essence = mime.essence_str();
            let parsed =
                if is_text(essence) { format!("{essence}; charset=utf-8") } else { essence.to_owned() };
            assert_eq!(content_type_for(name), parsed, "{name}");
        }
        assert_eq!(content_type_for("x.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type_for("x.unknown-ext"), "application/octet-stream");
    }
}
