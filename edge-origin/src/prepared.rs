//! Per-release, per-route response parts computed once when a release is loaded, so a
//! cache hit copies no strings: header values are shared `Bytes`, cloned by refcount.

use std::collections::HashMap;
use std::sync::Arc;

use bundle::{Access, CacheClass, Encoding, Manifest, ObjectKey, Route};
use http::HeaderValue;

/// One representation of a route (identity or a precompressed variant).
#[derive(Debug)]
pub struct Representation {
    pub object: ObjectKey,
    pub size: u64,
    /// `"<object key>"`, the strong ETag.
    pub etag: HeaderValue,
    pub length: HeaderValue,
}

/// How one route is served, ready to copy into a response.
#[derive(Debug)]
pub struct Served {
    pub content_type: HeaderValue,
    pub cache: CacheClass,
    pub access: Access,
    /// A page students open (stable HTML), as opposed to a file a page uses.
    pub is_page: bool,
    /// SVG: shown in `<img>` by pages, but a document that could run scripts when opened
    /// on its own, so it is sent with a sandboxing CSP.
    pub is_svg: bool,
    pub identity: Representation,
    /// The precompressed variants the route has, for content negotiation.
    pub available: Vec<Encoding>,
    pub br: Option<Representation>,
    pub gzip: Option<Representation>,
}

impl Served {
    pub fn representation(&self, encoding: Option<Encoding>) -> &Representation {
        let variant = match encoding {
            Some(Encoding::Br) => self.br.as_ref(),
            Some(Encoding::Gzip) => self.gzip.as_ref(),
            None => None,
        };
        variant.unwrap_or(&self.identity)
    }
}

fn representation(object: &ObjectKey, size: u64) -> Representation {
    let etag = HeaderValue::from_maybe_shared(bytes::Bytes::from(format!("\"{}\"", object.as_str())))
        .expect("object keys are hex digits");
    Representation { object: object.clone(), size, etag, length: HeaderValue::from(size) }
}

fn served(route: &Route) -> Served {
    let variant = |e: Encoding| route.encodings.get(&e).map(|v| representation(&v.object, v.size));
    Served {
        // A content type that is not a valid header value is sent as octets.
        content_type: HeaderValue::from_str(&route.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
        cache: route.cache,
        access: route.access.clone(),
        is_page: route.cache == CacheClass::Stable && route.content_type.starts_with("text/html"),
        is_svg: route.content_type.starts_with("image/svg+xml"),
        identity: representation(&route.object, route.size),
        available: route.encodings.keys().copied().collect(),
        br: variant(Encoding::Br),
        gzip: variant(Encoding::Gzip),
    }
}

/// What a release prepared: its routes' parts, by route path (looked up per request), and
/// the same parts in the manifest's route order (what the next release's `prepare` walks).
#[derive(Debug, Default)]
pub struct Prepared {
    by_path: HashMap<String, Arc<Served>, foldhash::fast::RandomState>,
    in_order: Vec<Arc<Served>>,
}

impl Prepared {
    pub(crate) fn get(&self, path: &str) -> Option<&Arc<Served>> {
        self.by_path.get(path)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.in_order.len()
    }
}

impl std::ops::Index<&str> for Prepared {
    type Output = Arc<Served>;

    fn index(&self, path: &str) -> &Arc<Served> {
        &self.by_path[path]
    }
}

/// Every route of a manifest, prepared. A route the release served before (`previous`:
/// its manifest and what it prepared) has unchanged keeps its prepared parts: a one-lesson
/// edit in `course serve` swaps in a release of 14,000 routes, and preparing each again
/// was most of the swap. Both manifests' routes are sorted, so the old route of a path is
/// found by walking them side by side, not by a search per route.
pub(crate) fn prepare(manifest: &Manifest, previous: Option<(&Manifest, &Prepared)>) -> Prepared {
    let mut old = previous.map(|(manifest, served)| {
        debug_assert_eq!(manifest.routes.len(), served.in_order.len());
        manifest.routes.iter().zip(&served.in_order).peekable()
    });
    let mut by_path = HashMap::with_capacity_and_hasher(manifest.routes.len(), Default::default());
    let mut in_order = Vec::with_capacity(manifest.routes.len());
    for (path, route) in &manifest.routes {
        let kept = old.as_mut().and_then(|old| {
            while old.next_if(|((old_path, _), _)| old_path.as_str() < path.as_str()).is_some() {}
            old.next_if(|((old_path, old_route), _)| *old_path == path && *old_route == route)
                .map(|(_, served)| Arc::clone(served))
        });
        let prepared = kept.unwrap_or_else(|| Arc::new(served(route)));
        by_path.insert(path.clone(), Arc::clone(&prepared));
        in_order.push(prepared);
    }
    Prepared { by_path, in_order }
}
