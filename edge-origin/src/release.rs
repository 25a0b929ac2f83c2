//! Following a channel: the live release sits behind an atomic swap, so every request
//! sees one whole release; a watcher loads each new release fully before swapping it in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bundle::manifest::ManifestError;
use bundle::paths::{channel_path, release_path};
use bundle::{Channel, Manifest, ReleaseId};
use bytes::Bytes;

use crate::metrics::Metrics;
use crate::prepared::{prepare, Prepared};
use store::{Fetched, Store, StoreError};

/// One loaded release.
#[derive(Debug)]
pub struct Release {
    pub id: ReleaseId,
    pub manifest: Manifest,
    /// `id` as a header value, sent as `X-Release`.
    pub id_header: http::HeaderValue,
    /// Every route's response parts, by route path.
    pub served: Prepared,
    /// Slugs of the courses some of whose routes need a grant.
    pub enrolled_courses: std::collections::HashSet<String>,
}

impl Release {
    pub fn new(id: ReleaseId, manifest: Manifest) -> Self {
        Release::after(None, id, manifest)
    }

    /// [`Release::new`], reusing what `previous` prepared for the routes it has unchanged.
    pub fn after(previous: Option<&Release>, id: ReleaseId, manifest: Manifest) -> Self {
        let id_header = http::HeaderValue::from_str(id.as_str()).expect("release ids are hex digits");
        let enrolled_courses = manifest
            .routes
            .values()
            .filter_map(|route| match &route.access {
                bundle::Access::Course(slug) => Some(slug.clone()),
                bundle::Access::Public => None,
            })
            .collect();
        let served = prepare(&manifest, previous.map(|p| (&p.manifest, &p.served)));
        Release { served, id, manifest, id_header, enrolled_courses }
    }

    /// The enrolled course whose prefix `/courses/<slug>/` holds `path`, if any.
    pub fn enrolled_course_of(&self, path: &str) -> Option<&str> {
        let slug = path.strip_prefix("/courses/")?.split('/').next()?;
        self.enrolled_courses.get(slug).map(String::as_str)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("channel name {0:?} is not a slug")]
    ChannelName(String),
    #[error("no channel pointer at {0}")]
    NoChannel(String),
    #[error("channel pointer is malformed: {0}")]
    BadChannel(serde_json::Error),
    #[error("release {0} named by the channel is missing")]
    NoRelease(ReleaseId),
    #[error("release {0} does not hash to its id; refusing it")]
    Integrity(ReleaseId),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store timed out")]
    Timeout,
}

/// What the channel pointer looked like when last read.
#[derive(Default)]
struct Seen {
    validator: Option<String>,
    bytes: Option<Bytes>,
}

/// The release currently served, shared by all requests, and how to follow its channel.
pub(crate) struct Current {
    release: ArcSwapOption<Release>,
    seen: Mutex<Seen>,
    /// The kind of the failure last logged (see `failure_kind`), while checks keep failing: a failure that
    /// repeats every poll is logged once, a different one again, the recovery once.
    failing: Mutex<Option<String>>,
    store: Store,
    channel: String,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Current {
    pub(crate) fn new(store: Store, channel: String, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Current {
            release: ArcSwapOption::empty(),
            seen: Mutex::default(),
            failing: Mutex::default(),
            store,
            channel,
            timeout,
            metrics,
        }
    }

    pub(crate) fn get(&self) -> Option<Arc<Release>> {
        self.release.load_full()
    }

    /// The current release without touching its reference count (the per-request path).
    pub(crate) fn load(&self) -> arc_swap::Guard<Option<Arc<Release>>> {
        self.release.load()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn read(&self, key: &str, validator: Option<&str>) -> Result<Fetched, LoadError> {
        tokio::time::timeout(self.timeout, self.store.get_conditional(key, validator))
            .await
            .map_err(|_| LoadError::Timeout)?
            .map_err(LoadError::from)
    }

    /// Reads the channel (conditionally: an unchanged pointer costs no transfer); when it
    /// moved, loads and verifies the new release, then swaps it in. Returns the new id
    /// when the release changed. `force` re-reads the pointer unconditionally. Every
    /// outcome is counted (`release_load_failures_total`, the last success's time) and a
    /// failure is logged when it first appears.
    pub(crate) async fn refresh(&self, force: bool) -> Result<Option<ReleaseId>, LoadError> {
        self.refresh_offered(force, None).await
    }

    /// `refresh`, with the manifest of a release this process has just built (`course
    /// serve`): if the channel now names that release, it is served without reading its
    /// manifest back from the store (reading and verifying it was a fifth of a preview's
    /// one-lesson rebuild).
    pub(crate) async fn refresh_offered(
        &self,
        force: bool,
        offered: Option<(ReleaseId, Manifest)>,
    ) -> Result<Option<ReleaseId>, LoadError> {
        let result = self.check(force, offered).await;
        self.record(&result);
        result
    }

    fn record(&self, result: &Result<Option<ReleaseId>, LoadError>) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(_) => {
                self.metrics.release_check_succeeded();
                if failing.take().is_some() {
                    tracing::info!(channel = self.channel, "channel check works again");
                }
            }
            Err(err) => {
                self.metrics.release_load_failures.inc();
                let text = err.to_string();
                // The same failure again (a store's message may carry a fresh request id
                // each time) is not logged again; a different kind of failure is.
                let kind = failure_kind(err, &text);
                if failing.as_deref() != Some(kind.as_str()) {
                    let serving = self.get().map(|r| r.id.to_string());
                    tracing::warn!(
                        channel = self.channel,
                        error = text,
                        serving = serving.as_deref().unwrap_or("nothing yet"),
                        "channel check failed; keeping the current release (logged again only if the error changes)"
                    );
                    *failing = Some(kind);
                }
            }
        }
    }

    async fn check(
        &self,
        force: bool,
        offered: Option<(ReleaseId, Manifest)>,
    ) -> Result<Option<ReleaseId>, LoadError> {
        let path = channel_path(&self.channel).ok_or_else(|| LoadError::ChannelName(self.channel.clone()))?;
        let validator = if force || self.get().is_none() { None } else { self.seen().validator.clone() };
        let (pointer_bytes, validator) = match self.read(&path, validator.as_deref()).await? {
            Fetched::NotModified => return Ok(None),
            Fetched::Missing => return Err(LoadError::NoChannel(path)),
            Fetched::Found { bytes, validator } => (bytes, validator),
        };
        let current = self.get();
        if current.is_some() && self.seen().bytes.as_ref() == Some(&pointer_bytes) {
            self.seen().validator = validator;
            return Ok(None);
        }
        let pointer = Channel::from_bytes(&pointer_bytes).map_err(LoadError::BadChannel)?;
        if current.as_ref().is_none_or(|r| r.id != pointer.release) {
            let manifest = match offered.filter(|(id, _)| *id == pointer.release) {
                Some((_, manifest)) => manifest,
                None => self.load_manifest(&pointer.release).await?,
            };
            let release = Release::after(current.as_deref(), pointer.release.clone(), manifest);
            let replaced = self.release.swap(Some(Arc::new(release)));
            // Freeing a release's 14,000 routes is not the swap's business: it happens
            // when the last request that holds the old release ends, or now on a thread of its own.
            drop(current);
            std::thread::spawn(move || drop(replaced));
            self.metrics.set_release(pointer.release.as_str());
            *self.seen() = Seen { validator, bytes: Some(pointer_bytes) };
            return Ok(Some(pointer.release));
        }
        *self.seen() = Seen { validator, bytes: Some(pointer_bytes) };
        Ok(None)
    }

    async fn load_manifest(&self, id: &ReleaseId) -> Result<Manifest, LoadError> {
        let manifest_bytes = match self.read(&release_path(id), None).await? {
            Fetched::Found { bytes, .. } => bytes,
            _ => return Err(LoadError::NoRelease(id.clone())),
        };
        Manifest::verified(&manifest_bytes, id).map_err(|err| match err {
            ManifestError::Id { .. } => LoadError::Integrity(id.clone()),
            other => LoadError::Manifest(other),
        })
    }

    /// Polls the channel every `every` until the task is dropped.
    pub(crate) async fn follow(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            // Failures are counted and logged (once) by `refresh`.
            if let Ok(Some(id)) = self.refresh(false).await {
                tracing::info!(release = %id, channel = self.channel, "now serving release");
            }
        }
    }
}

/// What makes two load failures "the same" for the log: the store's own failures (whose
/// messages carry request ids, times, addresses) by kind alone, the others by their text.
fn failure_kind(err: &LoadError, text: &str) -> String {
    match err {
        LoadError::Store(_) => "store".to_owned(),
        LoadError::Timeout => "timeout".to_owned(),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(bytes: &[u8]) -> bundle::Route {
        bundle::Route {
            object: bundle::ObjectKey::of(bytes),
            size: bytes.len() as u64,
            content_type: "text/html; charset=utf-8".into(),
            cache: bundle::CacheClass::Stable,
            access: bundle::Access::Public,
            encodings: Default::default(),
        }
    }

    #[test]
    fn a_new_release_shares_the_prepared_parts_of_unchanged_routes_only() {
        let mut first = Manifest::new("/404.html".into());
        first.routes.insert("/404.html".into(), route(b"missing"));
        first.routes.insert("/a/".into(), route(b"a"));
        first.routes.insert("/b/".into(), route(b"b"));
        let old = Release::new(first.release_id(), first.clone());
        let mut second = first;
        second.routes.insert("/b/".into(), route(b"b, edited"));
        second.routes.insert("/c/".into(), route(b"c"));
        let new = Release::after(Some(&old), second.release_id(), second);
        assert!(Arc::ptr_eq(&new.served["/a/"], &old.served["/a/"]), "unchanged: shared");
        assert!(!Arc::ptr_eq(&new.served["/b/"], &old.served["/b/"]), "changed: prepared again");
        assert_eq!(new.served["/b/"].identity.object, bundle::ObjectKey::of(b"b, edited"));
        assert_eq!(new.served["/c/"].identity.object, bundle::ObjectKey::of(b"c"));
        assert_eq!(new.served.len(), 4);
    }

    /// Routes removed, added before, between and after the old ones, changed and kept, in
    /// one swap: each path gets its own route's parts (the side-by-side walk never pairs a
    /// path with a neighbour's route).
    #[test]
    fn every_route_gets_its_own_parts_whatever_was_added_or_removed_around_it() {
        let mut first = Manifest::new("/404.html".into());
        for path in ["/404.html", "/a/", "/b/", "/d/", "/e/", "/g/"] {
            first.routes.insert(path.into(), route(path.as_bytes()));
        }
        let old = Release::new(first.release_id(), first.clone());
        let mut second = first;
        second.routes.remove("/a/");
        second.routes.remove("/e/");
        second.routes.insert("/0/".into(), route(b"/0/"));
        second.routes.insert("/c/".into(), route(b"/c/"));
        second.routes.insert("/d/".into(), route(b"/d/, edited"));
        second.routes.insert("/f/".into(), route(b"/f/"));
        second.routes.insert("/h/".into(), route(b"/h/"));
        let new = Release::after(Some(&old), second.release_id(), second.clone());
        assert_eq!(new.served.len(), second.routes.len());
        for (path, route) in &second.routes {
            assert_eq!(new.served[path.as_str()].identity.object, route.object, "{path}");
        }
        for kept in ["/404.html", "/b/", "/g/"] {
            assert!(Arc::ptr_eq(&new.served[kept], &old.served[kept]), "{kept}: shared");
        }
        assert!(!Arc::ptr_eq(&new.served["/d/"], &old.served["/d/"]), "changed: prepared again");
        assert!(new.served.get("/a/").is_none() && new.served.get("/e/").is_none());
    }

    #[test]
    fn store_failures_are_the_same_failure_whatever_their_message() {
        let store = |message: &str| {
            LoadError::Store(StoreError::S3 { op: store::Op::Read, key: "k".into(), message: message.into() })
        };
        let (a, b) = (store("500 RequestId=1"), store("500 RequestId=2"));
        assert_eq!(failure_kind(&a, &a.to_string()), failure_kind(&b, &b.to_string()));
        let missing = LoadError::NoChannel("channels/live.json".into());
        assert_ne!(failure_kind(&a, &a.to_string()), failure_kind(&missing, &missing.to_string()));
    }
}
