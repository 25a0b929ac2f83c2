//! The HTTP behaviour a CDN expects of an origin: GET/HEAD, strong ETags and 304,
//! single ranges, precompressed variants with `Vary`, cache headers by route kind.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bundle::{Access, CacheClass};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::access::{same_secret, url_grant_as_cookies, AccessControl, Admission};
use crate::access_log::AccessLog;
use crate::authority;
use crate::cache::{FetchError, ObjectCache};
use crate::grants::{GrantRequest, IssueError, Issuer};
use crate::metrics::Metrics;
use crate::negotiate::{choose_encoding, if_none_match, parse_range, RangeRequest};
use crate::path::normalize;
use crate::prepared::Served;
use crate::release::{Current, Release};

pub type Body = Full<Bytes>;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const STABLE: &str = "public, max-age=60, s-maxage=3600, stale-while-revalidate=60, stale-if-error=86400";
const NOT_FOUND: &str = "public, max-age=10, s-maxage=60";
/// Enrolled-only content must never be kept by a shared cache.
const PRIVATE: &str = "private, max-age=60";
/// An enrolled course's fingerprinted media: still never in a shared cache, but the
/// student's browser keeps it as long as any immutable file.
const PRIVATE_IMMUTABLE: &str = "private, max-age=31536000, immutable";
const NO_STORE: &str = "no-store";
/// An SVG opened on its own is a document: no scripts (a sandbox), only its own styles and
/// images. Inside `<img>`, where pages show it, scripts never run anyway.
const SVG_CSP: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";
/// The theme keeps to this: no inline scripts or styles, nothing from elsewhere.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   media-src 'self'; frame-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

pub struct State {
    pub current: Arc<Current>,
    pub objects: ObjectCache,
    pub metrics: Arc<Metrics>,
    /// Bearer token of the admin endpoints; `None` turns them off.
    pub admin_token: Option<String>,
    pub access: AccessControl,
    /// `false` only in local previews: enrolled courses open without grants.
    pub enforce_grants: bool,
    pub issuer: Option<Issuer>,
    pub access_log: AccessLog,
}

/// Largest request body read (only the grants endpoint reads one).
const MAX_BODY: usize = 16 * 1024;

/// Answers one request; never panics on any input, never answers 500 for a bad request.
pub async fn handle<B>(state: &State, req: Request<B>, client_ip: IpAddr) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    // Only the grants endpoint consumes the request; everything else borrows its path.
    let (response, req) = if req.uri().path() == "/_origin/grants" {
        (issue_grant(state, req).await, None)
    } else {
        (respond(state, &req, client_ip).await, Some(req))
    };
    let response = if method == Method::HEAD { strip_body(response) } else { response };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.count_request(status);
    state.metrics.latency.observe(elapsed.as_secs_f64());
    let path = req.as_ref().map_or("/_origin/grants", |r| r.uri().path());
    state.access_log.record(&method, path, status, elapsed.as_micros() as u64);
    response
}

fn strip_body(response: Response<Body>) -> Response<Body> {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = plain(status, &body.to_string());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `POST /_origin/grants` `{student, course, ttl}`: a signed URL and cookies for a student
/// on the course's roster (caller authenticated with the API key).
async fn issue_grant<B>(state: &State, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    let Some(issuer) = &state.issuer else {
        return plain(
            StatusCode::FORBIDDEN,
            "issuing grants is disabled: configure api_key, signing_key and rosters",
        );
    };
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    if !given.is_some_and(|g| same_secret(g.trim().as_bytes(), issuer.api_key.as_bytes())) {
        let mut response = plain(StatusCode::UNAUTHORIZED, "a valid API key is required");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let authority = match authority::of_request(&req) {
        Ok(authority) => authority,
        Err(why) => return plain(StatusCode::BAD_REQUEST, &why.to_string()),
    };
    let Some(base) = state.access.public_base(authority.as_deref()) else {
        return plain(StatusCode::BAD_REQUEST, "the request names no host and no --public-url is configured");
    };
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<crate::conn_guard::BodyTimeout>() => {
            return plain(StatusCode::REQUEST_TIMEOUT, "request body not received in time")
        }
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large or unreadable"),
    };
    let request: GrantRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return plain(StatusCode::BAD_REQUEST, &format!("expected {{student, course, ttl}}: {err}"))
        }
    };
    // A course is enrolled when any of its routes needs a grant (its syllabus may be public).
    let course_exists =
        state.current.get().is_some_and(|release| release.enrolled_courses.contains(&request.course));
    match issuer.issue(&request, &base, course_exists) {
        Ok(issued) => {
            tracing::info!(
                student = request.student,
                course = request.course,
                expires = issued.expires,
                "grant issued"
            );
            let cookies: Vec<&str> =
                issued.cookies.iter().map(|c| c.split(';').next().unwrap_or_default()).collect();
            let mut response = json_response(
                StatusCode::OK,
                &serde_json::json!({ "url": issued.url, "query": issued.query, "cookies": cookies, "expires": issued.expires }),
            );
            for cookie in &issued.cookies {
                if let Ok(value) = HeaderValue::from_str(cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(IssueError::NotEnrolled) => {
            plain(StatusCode::FORBIDDEN, "the student is not enrolled in this course")
        }
        Err(IssueError::UnknownCourse) => {
            plain(StatusCode::NOT_FOUND, "no enrolled-only course of that name")
        }
        Err(IssueError::BadRequest(why)) => plain(StatusCode::BAD_REQUEST, &why),
        Err(IssueError::Unavailable(why)) => {
            tracing::error!(error = why, "rosters unavailable");
            plain(StatusCode::SERVICE_UNAVAILABLE, "enrollment rosters are unavailable")
        }
    }
}

/// `POST /_origin/invalidate`: re-reads the channel now (bearer admin token required).
async fn invalidate<B>(state: &State, req: &Request<B>) -> Response<Body> {
    let Some(expected) = &state.admin_token else {
        return plain(StatusCode::FORBIDDEN, "admin endpoints are disabled: configure admin_token");
    };
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    if !given.is_some_and(|g| same_secret(g.trim().as_bytes(), expected.as_bytes())) {
        let mut response = plain(StatusCode::UNAUTHORIZED, "a valid admin bearer token is required");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    match state.current.refresh(true).await {
        Ok(changed) => {
            let release = state.current.get().map(|r| r.id.to_string()).unwrap_or_default();
            let body = format!("{{\"release\":\"{release}\",\"changed\":{}}}", changed.is_some());
            let mut response = plain(StatusCode::OK, &body);
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => {
            tracing::warn!(error = %err, "invalidate: could not load the channel");
            plain(StatusCode::BAD_GATEWAY, &format!("could not load the channel: {err}"))
        }
    }
}

async fn respond<B>(state: &State, req: &Request<B>, client_ip: IpAddr) -> Response<Body> {
    let authority = match authority::of_request(req) {
        Ok(authority) => authority,
        Err(why) => return plain(StatusCode::BAD_REQUEST, &why.to_string()),
    };
    let raw_path = req.uri().path();
    if raw_path == "/_origin/invalidate" {
        return if req.method() == Method::POST {
            invalidate(state, req).await
        } else {
            method_not_allowed("POST")
        };
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    match raw_path {
        "/metrics" => {
            let mut response = plain(StatusCode::OK, state.metrics.encode().trim_end());
            let value = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
            response.headers_mut().insert(header::CONTENT_TYPE, value);
            return response;
        }
        "/_origin/health" => return plain(StatusCode::OK, "ok"),
        "/_origin/ready" => {
            return match state.current.get() {
                Some(release) => plain(StatusCode::OK, &format!("ready {}", release.id)),
                None => plain(StatusCode::SERVICE_UNAVAILABLE, "no release loaded yet"),
            }
        }
        _ => {}
    }
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
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "no release loaded yet");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };

    let routes = &release.served;
    // `/dir/index.html` is the same page as `/dir/`.
    let found = routes.get(&*path).map(|r| (&*path, r)).or_else(|| {
        let dir = path.strip_suffix("index.html").filter(|d| d.ends_with('/'))?;
        routes.get(dir).map(|r| (dir, r))
    });
    if let Some((route_path, route)) = found {
        // Enrolled-only content: the grant is checked before the cache is even consulted.
        let shared = match &route.access {
            // A public page of an enrolled course (its syllabus, a preview lesson) opened with a
            // signed URL still hands the grant over as cookies, for the rest of the course.
            Access::Public if route.is_page && req.uri().query().is_some_and(has_grant_params) => {
                if let Some(slug) = release.enrolled_course_of(route_path) {
                    if let Ok(Admission::ByGrant) =
                        state.access.admit(req, route_path, client_ip, authority.as_deref())
                    {
                        if let Some(redirect) =
                            url_grant_redirect(state, req, route, slug, authority.as_deref())
                        {
                            return redirect;
                        }
                    }
                }
                true
            }
            Access::Public => true,
            Access::Course(_) if !state.enforce_grants => false,
            Access::Course(slug) => {
                match state.access.admit(req, route_path, client_ip, authority.as_deref()) {
                    Ok(Admission::ByCdn) => true,
                    Ok(Admission::ByGrant) => {
                        if let Some(redirect) =
                            url_grant_redirect(state, req, route, slug, authority.as_deref())
                        {
                            return redirect;
                        }
                        false
                    }
                    Err(refusal) => {
                        tracing::info!(path = route_path, reason = %refusal, "grant refused");
                        return forbidden(state, release, req).await;
                    }
                }
            }
        };
        return serve_route(state, release, req, route, StatusCode::OK, shared).await;
    }
    // `/dir` redirects to `/dir/` so relative links in the page resolve.
    if !path.ends_with('/') && routes.contains_key(&format!("{path}/")) {
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("{raw_path}/{query}");
        let mut response = plain(StatusCode::MOVED_PERMANENTLY, "moved");
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(STABLE));
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
    let secure = state.access.public_base(authority).is_some_and(|base| base.starts_with("https://"));
    let cookies = url_grant_as_cookies(query, &bundle::paths::course_prefix(slug), secure)?;
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

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive,
/// RFC 9110 section 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
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

/// `shared`: whether shared caches (CDN, Varnish) may keep the response.
fn cache_control(route: &Served, status: StatusCode, shared: bool) -> &'static str {
    if status == StatusCode::NOT_FOUND {
        NOT_FOUND
    } else if status == StatusCode::FORBIDDEN {
        NO_STORE
    } else if !shared {
        match route.cache {
            CacheClass::Immutable => PRIVATE_IMMUTABLE,
            CacheClass::Stable => PRIVATE,
        }
    } else {
        match route.cache {
            CacheClass::Immutable => IMMUTABLE,
            CacheClass::Stable => STABLE,
        }
    }
}

/// Security headers' names, built once (`from_static` hashes nothing at compile time).
const X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");
const CONTENT_SECURITY_POLICY: HeaderName = HeaderName::from_static("content-security-policy");
const X_RELEASE: HeaderName = HeaderName::from_static("x-release");

async fn serve_route<B>(
    state: &State,
    release: &Release,
    req: &Request<B>,
    route: &Served,
    status: StatusCode,
    shared: bool,
) -> Response<Body> {
    let header_str = |name: header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let range_header = if status == StatusCode::OK { header_str(header::RANGE) } else { None };
    // Ranges address the identity bytes, so a range request is answered uncompressed.
    let encoding = if range_header.is_some() {
        None
    } else {
        choose_encoding(header_str(header::ACCEPT_ENCODING), &route.available)
    };
    let representation = route.representation(encoding);
    let etag = representation.etag.to_str().unwrap_or_default();

    // Sized for every header below, so the map never grows.
    let mut headers = HeaderMap::with_capacity(16);
    headers.insert(header::CONTENT_TYPE, route.content_type.clone());
    headers.insert(header::ETAG, representation.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(route, status, shared)));
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

fn response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
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
