//! `course serve`'s live authoring, on the origin side (only with `Config::live_reload`).
//! Every page is served with a small reload client (`live/client.js`, added as the page
//! is sent: a `course build` release never contains it) that listens at `/_live/events`
//! (Server-Sent Events) for what each new release means for *its own* page — nothing,
//! new stylesheets to swap in, or a reload — and for the content errors of the latest
//! rebuild, shown as an overlay over the last good release.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bundle::ReleaseId;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{Either, StreamBody};
use hyper::body::Frame;
use serde::Serialize;
use tokio::sync::watch;

use crate::cache::ObjectCache;
use crate::release::{Current, Release};
use crate::response::{plain, security_headers, Body, EventFrames, NO_STORE};

pub(crate) const CLIENT_ROUTE: &str = "/_live/client.js";
pub(crate) const EVENTS_ROUTE: &str = "/_live/events";
const CLIENT_JS: &str = include_str!("live/client.js");
/// A comment line this often keeps proxies and the browser from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Releases remembered to tell a page what changed since it was served; a page served
/// from an older one simply reloads.
const REMEMBERED: usize = 16;
/// Event streams at once; more get a 503 (each holds a connection the server is capped at).
const MAX_STREAMS: usize = 64;

/// One content error of the latest rebuild, as the overlay shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuthorError {
    /// As the author's terminal shows it (relative to where `course serve` runs).
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The source line the error is on, if it could be read.
    pub source_line: Option<String>,
}

/// The live state shared by the origin's event streams and `course serve`'s [`LiveHandle`].
pub(crate) struct Live {
    current: Arc<Current>,
    objects: Arc<ObjectCache>,
    /// Bumped on every swap, report and close; each event stream wakes on it.
    changes: watch::Sender<u64>,
    errors: Mutex<Arc<Vec<AuthorError>>>,
    recent: Mutex<VecDeque<Arc<Remembered>>>,
    closed: std::sync::atomic::AtomicBool,
    /// Event streams open now (each holds a connection: they are capped).
    streams: std::sync::atomic::AtomicUsize,
}

/// Of a recent release, what telling a page what changed needs: the objects of its pages
/// and its stylesheets (a whole release of a 2,000-lesson catalogue is ~30 MB).
struct Remembered {
    id: ReleaseId,
    pages: std::collections::HashMap<String, bundle::ObjectKey>,
    stylesheets: Vec<String>,
    not_found: String,
}

impl Remembered {
    fn of(release: &Release) -> Remembered {
        let manifest = &release.manifest;
        Remembered {
            id: release.id.clone(),
            pages: manifest
                .routes
                .iter()
                .filter(|(_, r)| r.content_type.starts_with("text/html"))
                .map(|(route, r)| (route.clone(), r.object.clone()))
                .collect(),
            stylesheets: manifest.routes.keys().filter(|r| r.ends_with(".css")).cloned().collect(),
            not_found: manifest.not_found.clone(),
        }
    }

    /// The page a path shows: its route's, or the 404 page's.
    fn page(&self, route: &str) -> Option<&bundle::ObjectKey> {
        self.pages.get(route).or_else(|| self.pages.get(&self.not_found))
    }
}

impl Live {
    pub(crate) fn new(current: Arc<Current>, objects: Arc<ObjectCache>) -> Arc<Live> {
        let live = Arc::new(Live {
            current,
            objects,
            changes: watch::Sender::new(0),
            errors: Mutex::default(),
            recent: Mutex::default(),
            closed: false.into(),
            streams: 0.into(),
        });
        live.remember_current();
        live
    }

    fn remember_current(&self) {
        let Some(release) = self.current.get() else { return };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.iter().any(|r| r.id == release.id) {
            return;
        }
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(Arc::new(Remembered::of(&release)));
    }

    fn remembered(&self, id: &str) -> Option<Arc<Remembered>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().find(|r| r.id.as_str() == id).cloned()
    }

    fn errors(&self) -> Arc<Vec<AuthorError>> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Ends every event stream (the server is shutting down: nothing may hold its drain).
    pub(crate) fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.bump();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Refused for a Host other than an IP address or `localhost`: a page of another site
/// whose name was re-pointed at this address (DNS rebinding) must not read the preview.
pub(crate) const NOT_LOCAL: &str =
    "the preview answers only to an IP address or localhost in Host (a guard against DNS rebinding)";

/// `host[:port]` (already normalised) naming this machine by address or as `localhost`.
pub(crate) fn is_local_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    host == "localhost" || host.ends_with(".localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

/// What `course serve` drives the live origin with.
#[derive(Clone)]
pub struct LiveHandle {
    pub(crate) live: Arc<Live>,
}

impl LiveHandle {
    /// Loads the channel's release now (not at the next poll) and tells the open pages.
    /// Returns the id of the release served afterwards.
    pub async fn swap(&self) -> anyhow::Result<Option<String>> {
        self.swap_built(None).await
    }

    /// `swap`, handed the manifest of the release just built (not read back from the store
    /// when the channel names it).
    pub async fn swap_built(
        &self,
        built: Option<(ReleaseId, bundle::Manifest)>,
    ) -> anyhow::Result<Option<String>> {
        self.live
            .current
            .refresh_offered(true, built)
            .await
            .map_err(|e| anyhow::anyhow!("loading the new release: {e}"))?;
        self.live.remember_current();
        self.live.bump();
        Ok(self.live.current.get().map(|r| r.id.to_string()))
    }

    /// The id of the release served now, if any.
    pub fn release(&self) -> Option<String> {
        self.live.current.get().map(|r| r.id.to_string())
    }

    /// The slugs of the enrolled courses of the release served now, sorted.
    pub fn enrolled_courses(&self) -> Vec<String> {
        let mut slugs: Vec<String> =
            self.live.current.get().map(|r| r.enrolled_courses.iter().cloned().collect()).unwrap_or_default();
        slugs.sort();
        slugs
    }

    /// The content errors of the latest rebuild (empty: it built); every open page shows
    /// them over the release it is showing.
    pub fn report(&self, errors: Vec<AuthorError>) {
        *self.live.errors.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(errors);
        self.live.bump();
    }
}

/// The script tag added to every page served: the client, told which release the page is of.
fn client_tag(release: &ReleaseId) -> String {
    format!("<script src=\"{CLIENT_ROUTE}\" data-release=\"{release}\" defer></script>")
}

/// `page` with the reload client added before `</body>` (or at the end).
pub(crate) fn inject(page: &[u8], release: &ReleaseId) -> Bytes {
    let tag = client_tag(release);
    let at = page.windows(7).rposition(|w| w.eq_ignore_ascii_case(b"</body>")).unwrap_or(page.len());
    let mut out = Vec::with_capacity(page.len() + tag.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&page[at..]);
    Bytes::from(out)
}

/// What is shown before the first release exists (the first build failed): a page with
/// the client, so the overlay lists the errors and the page reloads once it builds.
pub(crate) fn waiting_page() -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Waiting for a build</title></head>\
         <body><h1>Waiting for the first good build</h1><p>Fix the errors shown; this page reloads by itself.</p>\
         <script src=\"{CLIENT_ROUTE}\" data-release=\"\" defer></script></body></html>"
    );
    let mut response = Response::new(Either::Left(http_body_util::Full::new(Bytes::from(html))));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    security_headers(headers);
    response
}

pub(crate) fn client() -> Response<Body> {
    let mut response =
        Response::new(Either::Left(http_body_util::Full::new(Bytes::from_static(CLIENT_JS.as_bytes()))));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    security_headers(headers);
    response
}

/// What a new release means for one open page.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// The page is the same: it only learns the new release's id.
    Keep,
    /// Only the stylesheets it links changed: swap these URLs (old, new) in place.
    Styles(Vec<(String, String)>),
    Reload,
}

/// Stylesheet routes of `old` that `new` replaced, paired by name without the
/// fingerprint (`/assets/site.99a19d0bba.css` -> `/assets/site.3c4d5e6f70.css`).
fn replaced_stylesheets(old: &[String], new: &[String]) -> Vec<(String, String)> {
    let unfingerprinted = |route: &str| -> String {
        let mut parts: Vec<&str> = route.split('.').collect();
        if parts.len() >= 3 {
            let fingerprint = parts[parts.len() - 2];
            if fingerprint.len() == bundle::hash::FINGERPRINT_LEN
                && fingerprint.bytes().all(|b| b.is_ascii_hexdigit())
            {
                parts.remove(parts.len() - 2);
            }
        }
        parts.join(".")
    };
    let gone: Vec<&String> = old.iter().filter(|r| !new.contains(r)).collect();
    let mut pairs = Vec::new();
    for added in new.iter().filter(|r| !old.contains(r)) {
        let name = unfingerprinted(added);
        if let Some(old_route) = gone.iter().find(|g| unfingerprinted(g) == name) {
            pairs.push(((*old_route).clone(), added.clone()));
        }
    }
    pairs
}

impl Live {
    /// What the release `to` means for the page at `route` served from `from`.
    async fn action(&self, route: &str, from: &Remembered, to: &Remembered) -> Action {
        let (Some(old), Some(new)) = (from.page(route), to.page(route)) else {
            return Action::Reload;
        };
        if old == new {
            return Action::Keep;
        }
        let swaps = replaced_stylesheets(&from.stylesheets, &to.stylesheets);
        if swaps.is_empty() {
            return Action::Reload;
        }
        let (Ok(old_page), Ok(new_page)) = (self.objects.get(old).await, self.objects.get(new).await) else {
            return Action::Reload;
        };
        let mut restyled = String::from_utf8_lossy(&old_page).into_owned();
        // As written in attributes: plain, or with `/` escaped (minijinja's HTML escaping).
        let spellings: [fn(&str) -> String; 2] = [|url| url.to_owned(), |url| url.replace('/', "&#x2f;")];
        for (before, after) in &swaps {
            for spell in spellings {
                restyled =
                    restyled.replace(&format!("\"{}\"", spell(before)), &format!("\"{}\"", spell(after)));
            }
        }
        if restyled.as_bytes() == &new_page[..] {
            Action::Styles(swaps)
        } else {
            Action::Reload
        }
    }
}

fn sse(event: &str, data: &serde_json::Value) -> Frame<Bytes> {
    Frame::data(Bytes::from(format!("event: {event}\ndata: {data}\n\n")))
}

/// The route a page's `location.pathname` names (`/dir/index.html` is `/dir/`).
fn page_route(path: &str) -> String {
    match path.strip_suffix("index.html").filter(|d| d.ends_with('/')) {
        Some(dir) => dir.to_owned(),
        None => path.to_owned(),
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned())
    })
}

/// `GET /_live/events?route=<page path>&release=<its release>`: the page's event stream.
pub(crate) fn events(live: &Arc<Live>, query: Option<&str>) -> Response<Body> {
    let query = query.unwrap_or_default();
    let Some(route) = query_param(query, "route").filter(|r| r.starts_with('/')) else {
        return plain(StatusCode::BAD_REQUEST, "events: ?route=<the page's path> is required");
    };
    let route = page_route(&route);
    let release = query_param(query, "release").unwrap_or_default();
    let Some(slot) = StreamSlot::take(live) else {
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "too many live reload streams open");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    let stream = PageStream {
        live: live.clone(),
        route,
        release,
        changes: live.changes.subscribe(),
        first: true,
        shown_errors: None,
        _slot: slot,
    };
    let frames: EventFrames = Box::pin(
        futures::stream::unfold(stream, |mut stream| async move {
            let frames = stream.next().await?;
            Some((futures::stream::iter(frames.into_iter().map(Ok)), stream))
        })
        .flatten(),
    );
    let mut response = Response::new(Either::Right(StreamBody::new(frames)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    security_headers(headers);
    response
}

/// One open page's view of the live state.
struct PageStream {
    live: Arc<Live>,
    route: String,
    /// The release the page shows now ("" for the waiting page).
    release: String,
    changes: watch::Receiver<u64>,
    first: bool,
    /// The errors the page was last told of.
    shown_errors: Option<Arc<Vec<AuthorError>>>,
    _slot: StreamSlot,
}

/// One of the [`MAX_STREAMS`] event streams, given back when the stream ends.
struct StreamSlot(Arc<Live>);

impl StreamSlot {
    fn take(live: &Arc<Live>) -> Option<StreamSlot> {
        use std::sync::atomic::Ordering::SeqCst;
        live.streams.fetch_update(SeqCst, SeqCst, |n| (n < MAX_STREAMS).then_some(n + 1)).ok()?;
        Some(StreamSlot(live.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl PageStream {
    /// The next events for the page; `None` ends the stream.
    async fn next(&mut self) -> Option<Vec<Frame<Bytes>>> {
        if self.first {
            self.first = false;
            self.changes.mark_unchanged();
        } else {
            match tokio::time::timeout(KEEP_ALIVE, self.changes.changed()).await {
                Err(_) => return Some(vec![Frame::data(Bytes::from_static(b": keep-alive\n\n"))]),
                Ok(Err(_)) => return None,
                Ok(Ok(())) => {}
            }
        }
        if self.live.is_closed() {
            return None;
        }
        let mut frames = self.release_frames().await;
        // The errors when they differ from what the page shows (at first: always).
        let errors = self.live.errors();
        if self.shown_errors.as_ref() != Some(&errors) {
            frames.push(sse("errors", &serde_json::json!(*errors)));
            self.shown_errors = Some(errors);
        }
        Some(frames)
    }

    /// The page's action for the current release, if it is not the page's own.
    async fn release_frames(&mut self) -> Vec<Frame<Bytes>> {
        let Some(current) = self.live.current.get() else { return Vec::new() };
        if current.id.as_str() == self.release {
            return Vec::new();
        }
        let action = match (self.live.remembered(&self.release), self.live.remembered(current.id.as_str())) {
            (Some(from), Some(to)) => self.live.action(&self.route, &from, &to).await,
            _ => Action::Reload,
        };
        let id = current.id.to_string();
        self.release.clone_from(&id);
        let frame = match action {
            Action::Keep => sse("release", &serde_json::json!({ "release": id })),
            Action::Styles(swaps) => sse("styles", &serde_json::json!({ "release": id, "swap": swaps })),
            Action::Reload => sse("reload", &serde_json::json!({ "release": id })),
        };
        vec![frame]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_goes_before_the_end_of_the_body() {
        let id = "0123456789abcdef0123".parse::<ReleaseId>().expect("id");
        let page = inject(b"<html><body><p>x</p></BODY></html>", &id);
        let page = String::from_utf8(page.to_vec()).expect("utf-8");
        assert_eq!(
            page,
            "<html><body><p>x</p><script src=\"/_live/client.js\" data-release=\"0123456789abcdef0123\" defer></script></BODY></html>"
        );
        let bare = inject(b"text", &id);
        assert!(bare.starts_with(b"text<script"));
    }

    #[test]
    fn only_addresses_and_localhost_are_local() {
        for local in
            ["127.0.0.1:8080", "localhost:8080", "localhost", "[::1]:8080", "10.0.0.5", "a.localhost:1"]
        {
            assert!(is_local_authority(local), "{local}");
        }
        for remote in ["evil.example:8080", "evil.example", "localhost.evil.example", "127.0.0.1.nip.io"] {
            assert!(!is_local_authority(remote), "{remote}");
        }
    }

    #[test]
    fn stylesheets_pair_by_name_without_fingerprint() {
        let old = vec!["/assets/site.99a19d0bba.css".to_owned(), "/assets/syntax.8aef8d84dd.css".to_owned()];
        let new = vec!["/assets/site.0123456789.css".to_owned(), "/assets/syntax.8aef8d84dd.css".to_owned()];
        assert_eq!(
            replaced_stylesheets(&old, &new),
            [("/assets/site.99a19d0bba.css".to_owned(), "/assets/site.0123456789.css".to_owned())]
        );
    }

    #[test]
    fn pages_are_named_as_routes() {
        assert_eq!(page_route("/courses/py/index.html"), "/courses/py/");
        assert_eq!(page_route("/courses/py/"), "/courses/py/");
        assert_eq!(page_route("/index.html"), "/");
        assert_eq!(query_param("route=%2Fa%2F&release=x", "route").as_deref(), Some("/a/"));
        assert_eq!(query_param("release=x", "route"), None);
    }
}
