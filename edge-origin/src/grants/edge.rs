//! The edge's verdict on a grant (`GET /_origin/grant-check`): whether the grant a request
//! carries opens a whole course, asked by Varnish before it serves the course's objects from
//! one cache entry shared by every enrolled student (`deploy/varnish.vcl`). Varnish caches
//! the verdict, per grant, course and client address, for the seconds this answer names.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::response::{plain, Body};
use crate::state::State;

/// The request header naming the course (its slug) the verdict is about.
pub(crate) const COURSE_HEADER: HeaderName = HeaderName::from_static("x-grant-course");
/// How long, in seconds, the verdict may be reused (`Cache-Control` stays `no-store`, so no
/// cache that does not know this endpoint keeps it).
pub(crate) const TTL_HEADER: HeaderName = HeaderName::from_static("x-grant-verdict-ttl");
/// The longest a yes is reused: the origin's own verdict cache keeps one for 30 s too, so
/// rotating a key away revokes grants within the same half minute at the edge.
pub(crate) const MAX_GRANTED_TTL: u64 = 30;
/// A no is reused this long (a forged grant retried in a loop costs the origins one check
/// per this many seconds); the edge then passes the request to an origin, which decides.
pub(crate) const REFUSED_TTL: u64 = 5;

/// `GET /_origin/grant-check` with `X-Grant-Course: <slug>` and the student's grant (its
/// cookies, as the page request carried them): 200 when the grant opens every path of
/// `/courses/<slug>/`, else 403; `X-Grant-Verdict-TTL` says for how long, never past the
/// grant's expiry.
pub(crate) fn grant_check<B>(
    state: &State,
    req: &Request<B>,
    client_ip: IpAddr,
    authority: Option<&str>,
) -> Response<Body> {
    let slug = req.headers().get(COURSE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let verdict = if state.enforce_grants {
        state.verifier.course_verdict(req, slug, client_ip, authority)
    } else {
        Err(crate::grants::verify::Refusal::Denied("grants are not enforced".into()))
    };
    let (mut response, ttl) = match verdict {
        Ok(expires) => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            (plain(StatusCode::OK, "granted"), expires.saturating_sub(now).min(MAX_GRANTED_TTL))
        }
        Err(refusal) => {
            tracing::info!(course = slug, reason = %refusal, "edge grant check refused");
            (plain(StatusCode::FORBIDDEN, "refused"), REFUSED_TTL)
        }
    };
    response.headers_mut().insert(TTL_HEADER, HeaderValue::from(ttl));
    response
}
