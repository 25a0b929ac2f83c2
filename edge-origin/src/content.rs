//! Serving releases: the HTTP behaviour a CDN expects of an origin. GET/HEAD of the
//! current release's routes, strong ETags and 304, single ranges, precompressed variants
//! with `Vary`, cache headers by route kind, grants checked for enrolled-only routes, the
//! theme's 404 and 403 pages.

use std::net::IpAddr;

use bundle::{Access, CacheClass};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;
use http::{Request, Response, StatusCode};

use crate::cache::FetchError;
use crate::grants::verify::{url_grant_as_cookies, Admission};
use crate::negotiate::{choose_encoding, if_none_match, parse_range, RangeRequest};
use crate::path::normalize;
use crate::prepared::Served;
use crate::release::Release;
use crate::response::{full, plain, security_headers, Body, CONTENT_SECURITY_POLICY, NO_STORE};
use crate::state::State;

const NOT_FOUND: &str = "public, max-age=10, s-maxage=60";
/// An SVG opened on its own is a document: no scripts (a sandbox), only its own styles and
/// images. Inside `<img>`, where pages show it, scripts never run anyway.
const SVG_CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

/// Answers a GET or HEAD for a path of the release (every path that is not an admin
/// endpoint); `authority` is the request's validated `host[:port]`.
pub(crate) async fn serve<B>(
    state: &State,
    req: &Request<B>,
    client_ip: IpAddr,
    authority: Option<&str>,
) -> Response<Body> {
    let raw_path = req.uri().path();
    let path = match normalize(raw_path) {
        // Every route is plain ASCII, so a path that needed decoding names none of them
        // as written; serving `/%6coops/` as `/loops/` would let a client make an edge
        // cache one more copy of a page per spelling (and purges reach only one).
        Ok(std::borrow::Cow::Owned(_)) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "bad request path: percent-encoding is not used by this site",
            )
        }
        Ok(path) => path,
        Err(why) => return plain(StatusCode::BAD_REQUEST, &format!("bad request path: {why}")),
    };
    // A guard, not a clone: no shared reference count is touched per request.
    let guard = state.current.load();
    let Some(release) = guard.as_deref() else {
        if state.live.is_some() {
            return crate::live::waiting_page();
        }
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "no release loaded yet");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };

    let routes = &release.served;
    // `/dir/index.html` is the same page as `/dir/`.
    let found = routes.get(&path).map(|r| (&*path, r)).or_else(|| {
        let dir = path.strip_suffix("index.html").filter(|d| d.ends_with('/'))?;
        routes.get(dir).map(|r| (dir, r))
    });
    if let Some((route_path, route)) = found {
        // Enrolled-only content: the grant is checked before the cache is even consulted.
        let (shared, course) = match &route.access {
            // A public page of an enrolled course (its syllabus, a preview lesson) opened with a
            // signed URL still hands the grant over as cookies, for the rest of the course.
            Access::Public if route.is_page && req.uri().query().is_some_and(has_grant_params) => {
                if let Some(slug) = release.enrolled_course_of(route_path) {
                    if let Ok(Admission::ByGrant) =
                        state.verifier.admit(req, route_path, client_ip, authority)
                    {
                        if let Some(redirect) = url_grant_redirect(state, req, route, slug, authority) {
                            return redirect;
                        }
                    }
                }
                (true, None)
            }
            Access::Public => (true, None),
            Access::Course(slug) if !state.enforce_grants => (false, Some(slug)),
            Access::Course(slug) => match state.verifier.admit(req, route_path, client_ip, authority) {
                Ok(Admission::ByCdn) => (true, Some(slug)),
                Ok(Admission::ByGrant) => {
                    if let Some(redirect) = url_grant_redirect(state, req, route, slug, authority) {
                        return redirect;
                    }
                    (false, Some(slug))
                }
                Err(refusal) => {
                    tracing::info!(path = route_path, reason = %refusal, "grant refused");
                    return forbidden(state, release, req).await;
                }
            },
        };
        let mut response = serve_route(state, release, req, route, StatusCode::OK, shared).await;
        if let Some(slug) = course {
            mark_enrolled(response.headers_mut(), slug, route, shared);
        }
        return response;
    }
    // Under an enrolled course, a path that names nothing answers as one that names a
    // lesson (403 without the course's grant): a 404 (or a redirect) told anyone which
    // lesson slugs and search files the course has.
    if state.enforce_grants && release.enrolled_course_of(&path).is_some() {
        if let Err(refusal) = state.verifier.admit(req, &path, client_ip, authority) {
            tracing::info!(path = &*path, reason = %refusal, "grant refused");
            return forbidden(state, release, req).await;
        }
    }
    // `/dir` redirects to `/dir/` so relative links in the page resolve.
    if !path.ends_with('/') && routes.get(&format!("{path}/")).is_some() {
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("{raw_path}/{query}");
        let mut response = plain(StatusCode::MOVED_PERMANENTLY, "moved");
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(CacheClass::Stable.cache_control()));
        return response;
    }
    match routes.get(&release.manifest.not_found) {
        Some(route) => serve_route(state, release, req, route, StatusCode::NOT_FOUND, true).await,
        None => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

/// A page opened by a signed URL answers with the grant as cookies for the whole course and
/// a redirect to the URL without it, so the page's own links (which drop the query) keep
/// working in a browser. Never cached (`no-store`; edges pass grant-bearing requests).
/// Media and other files opened by a signed URL are served as they are.
fn url_grant_redirect<B>(
    state: &State,
    req: &Request<B>,
    route: &Served,
    slug: &str,
    authority: Option<&str>,
) -> Option<Response<Body>> {
    let query = req.uri().query()?;
    if !route.is_page {
        return None;
    }
    let secure = state.verifier.public_base(authority).is_some_and(|base| base.starts_with("https://"));
    let cookies = url_grant_as_cookies(query, slug, secure)?;
    let location = match bundle::grant::strip_grant_params(query) {
        Some(rest) => format!("{}?{rest}", req.uri().path()),
        None => req.uri().path().to_owned(),
    };
    let mut response =
        plain(StatusCode::FOUND, "signed in: continue to the page without the grant in the URL");
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_str(&location).ok()?);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, HeaderValue::from_str(&cookie).ok()?);
    }
    Some(response)
}

/// Names the course an enrolled-only answer belongs to (`X-Course-Scope`), so an edge that
/// caches it for the course's students can check, at every delivery, that the request was
/// let in for that course. A shared answer (the CDN vouched) also says what the student's
/// browser must be told instead of its `Cache-Control` (`X-Viewer-Cache-Control`: private,
/// as when the origin checks the grant itself); `deploy/varnish.vcl` applies both.
fn mark_enrolled(headers: &mut HeaderMap, slug: &str, route: &Served, shared: bool) {
    if let Ok(value) = HeaderValue::from_str(slug) {
        headers.insert(X_COURSE_SCOPE, value);
    }
    if shared {
        headers.insert(X_VIEWER_CACHE_CONTROL, HeaderValue::from_static(route.cache.private_cache_control()));
    }
}

/// Whether a query string carries signed-URL parameters.
fn has_grant_params(query: &str) -> bool {
    query.split('&').any(|pair| pair.starts_with("Signature=") || pair.starts_with("Key-Pair-Id="))
}

/// The theme's 403 page (never cached anywhere).
async fn forbidden<B>(state: &State, release: &Release, req: &Request<B>) -> Response<Body> {
    match release.manifest.forbidden.as_ref().and_then(|f| release.served.get(f)) {
        Some(route) => serve_route(state, release, req, route, StatusCode::FORBIDDEN, false).await,
        None => plain(StatusCode::FORBIDDEN, "enrolled students only"),
    }
}

/// `shared`: whether shared caches (CDN, Varnish) may keep the response (enrolled-only
/// content never may; its immutable media still stays in the student's own browser).
fn cache_control(route: &Served, status: StatusCode, shared: bool) -> &'static str {
    if status == StatusCode::NOT_FOUND {
        NOT_FOUND
    } else if status == StatusCode::FORBIDDEN {
        NO_STORE
    } else if !shared {
        route.cache.private_cache_control()
    } else {
        route.cache.cache_control()
    }
}

/// Built once (`from_static` hashes nothing at compile time).
const X_RELEASE: HeaderName = HeaderName::from_static("x-release");
const X_COURSE_SCOPE: HeaderName = HeaderName::from_static("x-course-scope");
const X_VIEWER_CACHE_CONTROL: HeaderName = HeaderName::from_static("x-viewer-cache-control");

async fn serve_route<B>(
    state: &State,
    release: &Release,
    req: &Request<B>,
    route: &Served,
    status: StatusCode,
    shared: bool,
) -> Response<Body> {
    let header_str = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    // `course serve` adds its reload client to every page as it is sent (`live.rs`).
    let live_page = state.live.is_some() && route.is_page;
    let range_header = if status == StatusCode::OK && !live_page { header_str(header::RANGE) } else { None };
    // Ranges address the identity bytes, so a range request is answered uncompressed.
    let encoding = if range_header.is_some() || live_page {
        None
    } else {
        choose_encoding(header_str(header::ACCEPT_ENCODING), &route.available)
    };
    let representation = route.representation(encoding);
    let live_etag = live_page.then(|| live_etag(&representation.etag, &release.id));
    let etag_value = live_etag.as_ref().unwrap_or(&representation.etag);
    let etag = etag_value.to_str().unwrap_or_default();

    // Sized for every header below, so the map never grows.
    let mut headers = HeaderMap::with_capacity(16);
    headers.insert(header::CONTENT_TYPE, route.content_type.clone());
    headers.insert(header::ETAG, etag_value.clone());
    let cache = if live_page { "no-cache" } else { cache_control(route, status, shared) };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(X_RELEASE, release.id_header.clone());
    if !route.available.is_empty() {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    }
    security_headers(&mut headers);
    if route.is_svg {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(SVG_CSP));
    }

    if status == StatusCode::OK && header_str(header::IF_NONE_MATCH).is_some_and(|h| if_none_match(h, etag)) {
        return response(StatusCode::NOT_MODIFIED, headers, Bytes::new());
    }

    let bytes = match state.objects.get(&representation.object).await {
        Ok(bytes) => bytes,
        Err(err) => return fetch_failed(&err),
    };
    debug_assert_eq!(bytes.len() as u64, representation.size);
    let bytes = if live_page { crate::live::inject(&bytes, &release.id) } else { bytes };

    // If-Range with another validator means: send the whole current body.
    let range_applies = header_str(header::IF_RANGE).is_none_or(|v| v == etag);
    let range =
        if range_applies { parse_range(range_header, bytes.len() as u64) } else { RangeRequest::Full };
    match range {
        RangeRequest::Full => {
            // Explicit, so a HEAD answer (whose body is dropped later) still tells the size.
            let length = if bytes.len() as u64 == representation.size {
                representation.length.clone()
            } else {
                HeaderValue::from(bytes.len())
            };
            headers.insert(header::CONTENT_LENGTH, length);
            response(status, headers, bytes)
        }
        RangeRequest::Partial(start, end) => {
            let total = bytes.len();
            let part = bytes.slice(start as usize..=end as usize);
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(part.len()));
            response(StatusCode::PARTIAL_CONTENT, headers, part)
        }
        RangeRequest::Unsatisfiable => {
            // An error about this request's Range: no cache may keep it as the route's answer.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", bytes.len())) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            response(StatusCode::RANGE_NOT_SATISFIABLE, headers, Bytes::new())
        }
    }
}

/// A live page's validator: its bytes are the object's plus the client, which names the
/// release the page is of; so the release is part of it (a 304 across releases would keep a
/// page whose client asks for a release the origin has forgotten: a reload loop).
fn live_etag(etag: &HeaderValue, release: &bundle::ReleaseId) -> HeaderValue {
    let text = etag.to_str().unwrap_or_default().trim_end_matches('"');
    HeaderValue::from_str(&format!("{text}-live-{release}\"")).unwrap_or_else(|_| etag.clone())
}

fn response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn fetch_failed(err: &FetchError) -> Response<Body> {
    match err {
        FetchError::Integrity(_) | FetchError::Missing(_) => {
            tracing::error!(error = %err, "object unavailable");
            plain(StatusCode::BAD_GATEWAY, "object failed its integrity check or is missing")
        }
        FetchError::Store(_) | FetchError::Timeout => {
            tracing::warn!(error = %err, "store unavailable");
            let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "store unavailable, try again shortly");
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}
