//! The pieces every answer is made of: the body type, the security headers every response
//! carries, and the small plain-text, JSON and 405 answers.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

/// A whole body, or the live preview's event stream (`live.rs`).
pub(crate) type Body = http_body_util::Either<Full<Bytes>, EventStream>;

/// Server-Sent Events, frame by frame (`live.rs` writes them).
pub(crate) type EventStream = http_body_util::StreamBody<EventFrames>;
pub(crate) type EventFrames = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> + Send>,
>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Either::Left(Full::new(bytes.into()))
}

pub(crate) const NO_STORE: &str = "no-store";
/// The theme keeps to this: no inline scripts or styles, nothing from elsewhere.
const CSP: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                   media-src 'self'; frame-src 'self'; connect-src 'self'; object-src 'none'; \
                   base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// Security headers' names, built once (`from_static` hashes nothing at compile time).
const X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");
pub(crate) const CONTENT_SECURITY_POLICY: HeaderName = HeaderName::from_static("content-security-policy");

pub(crate) fn security_headers(headers: &mut HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
}

/// A short text answer (a line), never cached.
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(format!("{text}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    security_headers(headers);
    response
}

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = plain(status, &body.to_string());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// The answer to a HEAD: the GET's headers (its `Content-Length` included), no body.
pub(crate) fn strip_body(response: Response<Body>) -> Response<Body> {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, full(Bytes::new()))
}
