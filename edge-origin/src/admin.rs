//! The operator's and the LMS's endpoints: issuing grants (`POST /_origin/grants`),
//! reloading the channel (`POST /_origin/invalidate`), `/metrics`, `/_origin/health` and
//! `/_origin/ready`. The two POSTs need a bearer token, checked by [`check_bearer`] alone.
//! Which request reaches which endpoint is decided in `dispatch.rs`.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

use crate::authority;
use crate::grants::issue::{GrantRequest, IssueError};
use crate::response::{json_response, method_not_allowed, plain, Body};
use crate::secret::same_secret;
use crate::state::State;

/// Largest request body read (only the grants endpoint reads one).
const MAX_BODY: usize = 16 * 1024;

/// `None` when the request carries `Authorization: Bearer <expected>`; otherwise the 401 to
/// answer, saying `refusal`.
fn check_bearer<B>(req: &Request<B>, expected: &str, refusal: &str) -> Option<Response<Body>> {
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    if given.is_some_and(|g| same_secret(g.trim().as_bytes(), expected.as_bytes())) {
        return None;
    }
    let mut response = plain(StatusCode::UNAUTHORIZED, refusal);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive,
/// RFC 9110 section 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// `POST /_origin/grants` `{student, course, ttl}`: a signed URL and cookies for a student
/// on the course's roster (caller authenticated with the API key).
pub(crate) async fn issue_grant<B>(state: &State, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != http::Method::POST {
        return method_not_allowed("POST");
    }
    let Some(issuer) = &state.issuer else {
        return plain(
            StatusCode::FORBIDDEN,
            "issuing grants is disabled: configure api_key, signing_key and rosters",
        );
    };
    if let Some(refused) = check_bearer(&req, &issuer.api_key, "a valid API key is required") {
        return refused;
    }
    let authority = match authority::of_request(&req) {
        Ok(authority) => authority,
        Err(why) => return plain(StatusCode::BAD_REQUEST, &why.to_string()),
    };
    let Some(base) = state.verifier.public_base(authority.as_deref()) else {
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
pub(crate) async fn invalidate<B>(state: &State, req: &Request<B>) -> Response<Body> {
    let Some(expected) = &state.admin_token else {
        return plain(StatusCode::FORBIDDEN, "admin endpoints are disabled: configure admin_token");
    };
    if let Some(refused) = check_bearer(req, expected, "a valid admin bearer token is required") {
        return refused;
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

/// `GET /metrics`: Prometheus text format.
pub(crate) fn metrics(state: &State) -> Response<Body> {
    let mut response = plain(StatusCode::OK, state.metrics.encode().trim_end());
    let value = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    response.headers_mut().insert(header::CONTENT_TYPE, value);
    response
}

/// `GET /_origin/health`: the process answers.
pub(crate) fn health() -> Response<Body> {
    plain(StatusCode::OK, "ok")
}

/// `GET /_origin/ready`: a release is loaded (503 until one is).
pub(crate) fn ready(state: &State) -> Response<Body> {
    match state.current.get() {
        Some(release) => plain(StatusCode::OK, &format!("ready {}", release.id)),
        None => plain(StatusCode::SERVICE_UNAVAILABLE, "no release loaded yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bearer_check_for_every_admin_endpoint() {
        let with =
            |value: &str| Request::builder().header(header::AUTHORIZATION, value).body(()).expect("request");
        for ok in ["Bearer tok", "bearer tok", "BEARER  tok", "Bearer tok "] {
            assert!(check_bearer(&with(ok), "tok", "no").is_none(), "{ok:?}");
        }
        for bad in ["Bearer to", "Bearer tokk", "Basic tok", "tok", "Bearer", "Bearer "] {
            let refused = check_bearer(&with(bad), "tok", "no").expect(bad);
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(refused.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
        let none = Request::builder().body(()).expect("request");
        assert!(check_bearer(&none, "tok", "no").is_some());
    }
}
