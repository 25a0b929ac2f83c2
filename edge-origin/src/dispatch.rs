//! Which code answers a request: every route of the origin in one table ([`Endpoint::of`]),
//! the checks all of them share (the Host, the method), and the bookkeeping after each
//! answer (HEAD bodies dropped, metrics, the access log).

use std::net::IpAddr;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};

use crate::metrics::EndpointKind;
use crate::response::{method_not_allowed, plain, strip_body, Body};
use crate::state::State;
use crate::{admin, authority, content, grants, live};

const GRANTS: &str = "/_origin/grants";

/// What a request asks for, by its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `POST /_origin/grants`: the one endpoint that reads a request body.
    IssueGrant,
    /// Everything else is answered from the request's head.
    Head(HeadEndpoint),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadEndpoint {
    Invalidate,
    Metrics,
    Health,
    Ready,
    /// `GET /_origin/grant-check`: the edge's verdict on a grant (`grants/edge.rs`).
    GrantCheck,
    /// `course serve`'s live reload client and event stream (other origins: content).
    LiveClient,
    LiveEvents,
    /// Any other path: a route of the release (or its 404).
    Content,
}

impl Endpoint {
    /// How `/metrics` counts it (live-reload paths on an origin without them are content).
    fn kind(self, live: bool) -> EndpointKind {
        match self {
            Endpoint::IssueGrant => EndpointKind::Grant,
            Endpoint::Head(HeadEndpoint::GrantCheck) => EndpointKind::GrantCheck,
            Endpoint::Head(HeadEndpoint::Health | HeadEndpoint::Ready) => EndpointKind::Probe,
            Endpoint::Head(HeadEndpoint::Invalidate | HeadEndpoint::Metrics) => EndpointKind::Admin,
            Endpoint::Head(HeadEndpoint::LiveClient | HeadEndpoint::LiveEvents) if live => {
                EndpointKind::Admin
            }
            Endpoint::Head(_) => EndpointKind::Content,
        }
    }

    fn of(path: &str) -> Endpoint {
        match path {
            GRANTS => Endpoint::IssueGrant,
            "/_origin/invalidate" => Endpoint::Head(HeadEndpoint::Invalidate),
            "/metrics" => Endpoint::Head(HeadEndpoint::Metrics),
            "/_origin/health" => Endpoint::Head(HeadEndpoint::Health),
            "/_origin/ready" => Endpoint::Head(HeadEndpoint::Ready),
            "/_origin/grant-check" => Endpoint::Head(HeadEndpoint::GrantCheck),
            live::CLIENT_ROUTE => Endpoint::Head(HeadEndpoint::LiveClient),
            live::EVENTS_ROUTE => Endpoint::Head(HeadEndpoint::LiveEvents),
            _ => Endpoint::Head(HeadEndpoint::Content),
        }
    }
}

/// Answers one request; never panics on any input, never answers 500 for a bad request.
pub(crate) async fn handle<B>(state: &State, req: Request<B>, client_ip: IpAddr) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    // Only the grants endpoint consumes the request; everything else borrows its path.
    let endpoint = Endpoint::of(req.uri().path());
    let (response, req) = match endpoint {
        Endpoint::IssueGrant => (admin::issue_grant(state, req).await, None),
        Endpoint::Head(endpoint) => (answer_head(state, endpoint, &req, client_ip).await, Some(req)),
    };
    let response = if method == Method::HEAD { strip_body(response) } else { response };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.count_request(endpoint.kind(state.live.is_some()), status);
    state.metrics.latency.observe(elapsed);
    let path = req.as_ref().map_or(GRANTS, |r| r.uri().path());
    state.access_log.record(&method, path, status, elapsed.as_micros() as u64);
    response
}

/// The endpoints answered from the request's head: a bad Host is 400 for all of them, the
/// invalidate endpoint takes POST, every other one GET or HEAD.
async fn answer_head<B>(
    state: &State,
    endpoint: HeadEndpoint,
    req: &Request<B>,
    client_ip: IpAddr,
) -> Response<Body> {
    let authority = match authority::of_request(req) {
        Ok(authority) => authority,
        Err(why) => return plain(StatusCode::BAD_REQUEST, &why.to_string()),
    };
    if state.live.is_some() && !authority.as_deref().is_none_or(live::is_local_authority) {
        return plain(StatusCode::FORBIDDEN, live::NOT_LOCAL);
    }
    let method = req.method();
    let reads = method == Method::GET || method == Method::HEAD;
    match endpoint {
        HeadEndpoint::Invalidate if method == Method::POST => admin::invalidate(state, req).await,
        HeadEndpoint::Invalidate => method_not_allowed("POST"),
        _ if !reads => method_not_allowed("GET, HEAD"),
        HeadEndpoint::Metrics => admin::metrics(state),
        HeadEndpoint::Health => admin::health(),
        HeadEndpoint::Ready => admin::ready(state),
        HeadEndpoint::GrantCheck => grants::edge::grant_check(state, req, client_ip, authority.as_deref()),
        HeadEndpoint::LiveClient if state.live.is_some() => live::client(),
        HeadEndpoint::LiveEvents => match &state.live {
            Some(live) => live::events(live, req.uri().query()),
            None => content::serve(state, req, client_ip, authority.as_deref()).await,
        },
        HeadEndpoint::LiveClient => content::serve(state, req, client_ip, authority.as_deref()).await,
        HeadEndpoint::Content => content::serve(state, req, client_ip, authority.as_deref()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_cache_fills_apart_from_grants_and_probes() {
        let kind = |path: &str, live: bool| Endpoint::of(path).kind(live);
        assert_eq!(kind("/courses/py/loops/", false), EndpointKind::Content);
        assert_eq!(kind("/_origin/grants", false), EndpointKind::Grant);
        assert_eq!(kind("/_origin/grant-check", false), EndpointKind::GrantCheck);
        assert_eq!(kind("/_origin/health", false), EndpointKind::Probe);
        assert_eq!(kind("/_origin/ready", false), EndpointKind::Probe);
        assert_eq!(kind("/metrics", false), EndpointKind::Admin);
        // Without `course serve`'s live reload, its paths are routes like any other.
        assert_eq!(kind(live::EVENTS_ROUTE, false), EndpointKind::Content);
        assert_eq!(kind(live::EVENTS_ROUTE, true), EndpointKind::Admin);
    }

    #[test]
    fn admin_paths_are_matched_exactly() {
        assert_eq!(Endpoint::of("/_origin/grants"), Endpoint::IssueGrant);
        assert_eq!(Endpoint::of("/metrics"), Endpoint::Head(HeadEndpoint::Metrics));
        for content in
            ["/", "/_origin/grants/", "/_origin/Health", "/metrics/", "/_origin/ready/x", "/courses/"]
        {
            assert_eq!(Endpoint::of(content), Endpoint::Head(HeadEndpoint::Content), "{content}");
        }
    }
}
