//! Prometheus metrics, served as text at `/metrics`.

use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::latency_histogram::LatencyHistogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReleaseLabel {
    pub release: String,
}

/// What kind of endpoint answered a request (see `dispatch.rs`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndpointLabel {
    pub endpoint: &'static str,
}

/// The endpoint kinds counted apart, so an operator (and the fleet benchmark) can tell
/// cache fills from grants, edge verdicts and the edges' health probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndpointKind {
    /// A route of the release, or its 404.
    Content,
    /// `POST /_origin/grants`.
    Grant,
    /// `/_origin/grant-check`: an edge's verdict on a grant.
    GrantCheck,
    /// `/_origin/health` and `/_origin/ready` (load balancers' and edges' probes).
    Probe,
    /// `/metrics`, `/_origin/invalidate` and the live-reload endpoints.
    Admin,
}

impl EndpointKind {
    const ALL: [EndpointKind; 5] = [
        EndpointKind::Content,
        EndpointKind::Grant,
        EndpointKind::GrantCheck,
        EndpointKind::Probe,
        EndpointKind::Admin,
    ];

    fn label(self) -> &'static str {
        match self {
            EndpointKind::Content => "content",
            EndpointKind::Grant => "grant",
            EndpointKind::GrantCheck => "grant_check",
            EndpointKind::Probe => "probe",
            EndpointKind::Admin => "admin",
        }
    }
}

/// Why a connection was refused or closed by a limit (see `limits.rs`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub reason: &'static str,
}

/// Connections refused or closed by a limit, one counter per reason (each shown from the
/// start, at 0, so dashboards and tests see the series before the first event).
pub(crate) struct LimitCounters {
    /// More connections from one address than `max_connections_per_ip` (answered 503).
    pub refused_per_ip: Counter,
    /// A request head (or a new connection's first one) not complete in `header_timeout`.
    pub header_timeout: Counter,
    /// A kept-alive connection with no new request in `idle_timeout`.
    pub idle_timeout: Counter,
    /// A response write with no progress in `send_timeout`.
    pub send_timeout: Counter,
    /// A read that would take unfinished heads past `header_budget`.
    pub header_budget: Counter,
    /// Closed to make room at the connection cap: idle, silent or slow to send its head.
    pub pressure: Counter,
}

pub(crate) struct Metrics {
    registry: Registry,
    pub requests: Family<StatusLabel, Counter>,
    /// Requests by [`EndpointKind`], indexed as `EndpointKind::ALL` (no lock per request).
    by_endpoint: [Counter; EndpointKind::ALL.len()],
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub store_fetches: Counter,
    pub store_errors: Counter,
    pub integrity_failures: Counter,
    pub latency: LatencyHistogram,
    pub release: Family<ReleaseLabel, Gauge>,
    pub releases_loaded: Counter,
    /// Channel checks or release loads that failed.
    pub release_load_failures: Counter,
    /// Unix time of the last channel check or load that succeeded.
    pub release_last_success: Gauge<f64, AtomicU64>,
    pub connections_open: Gauge,
    pub connections_accepted: Counter,
    pub accept_errors: Counter,
    pub limits: LimitCounters,
    /// Bytes of unfinished request heads charged to the header budget right now.
    pub header_bytes_in_flight: Gauge,
    /// Counters of the usual statuses, resolved on first use so a request skips the
    /// family's lock and label hashing.
    common: [OnceLock<Counter>; COMMON.len()],
}

const COMMON: [u16; 6] = [200, 206, 304, 400, 403, 404];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("edge_origin");
        let requests = Family::<StatusLabel, Counter>::default();
        registry.register("requests", "Requests answered, by status", requests.clone());
        let endpoints = Family::<EndpointLabel, Counter>::default();
        registry.register(
            "endpoint_requests",
            "Requests answered, by endpoint (content, grant, grant_check, probe, admin)",
            endpoints.clone(),
        );
        let by_endpoint = EndpointKind::ALL
            .map(|kind| endpoints.get_or_create(&EndpointLabel { endpoint: kind.label() }).clone());
        let cache_hits = Counter::default();
        registry.register("cache_hits", "Object reads served from memory", cache_hits.clone());
        let cache_misses = Counter::default();
        registry.register("cache_misses", "Object reads not in memory", cache_misses.clone());
        let store_fetches = Counter::default();
        registry.register("store_fetches", "Object reads sent to the store", store_fetches.clone());
        let store_errors = Counter::default();
        registry.register("store_errors", "Store reads that failed or timed out", store_errors.clone());
        let integrity_failures = Counter::default();
        registry.register(
            "integrity_failures",
            "Objects whose bytes did not match their hash (never served)",
            integrity_failures.clone(),
        );
        // 50 µs .. ~1.6 s
        let latency = LatencyHistogram::default();
        registry.register("request_duration_seconds", "Time to answer a request", latency.clone());
        let release = Family::<ReleaseLabel, Gauge>::default();
        registry.register("release", "The release being served (value 1)", release.clone());
        let releases_loaded = Counter::default();
        registry.register("releases_loaded", "Releases loaded since start", releases_loaded.clone());
        let release_load_failures = Counter::default();
        registry.register(
            "release_load_failures",
            "Channel checks or release loads that failed",
            release_load_failures.clone(),
        );
        let release_last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "release_last_success_timestamp_seconds",
            "Unix time of the last successful channel check or release load",
            release_last_success.clone(),
        );
        let connections_open = Gauge::default();
        registry.register("connections_open", "Client connections open now", connections_open.clone());
        let connections_accepted = Counter::default();
        registry.register(
            "connections_accepted",
            "Client connections accepted",
            connections_accepted.clone(),
        );
        let accept_errors = Counter::default();
        registry.register(
            "accept_errors",
            "Failed accepts (e.g. out of file descriptors), retried with backoff",
            accept_errors.clone(),
        );
        let refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections refused by a limit, by reason",
            refused.clone(),
        );
        let closed = Family::<ReasonLabel, Counter>::default();
        registry.register("connections_closed", "Connections closed by a limit, by reason", closed.clone());
        let reason = |family: &Family<ReasonLabel, Counter>, reason| {
            family.get_or_create(&ReasonLabel { reason }).clone()
        };
        let limits = LimitCounters {
            refused_per_ip: reason(&refused, "per_ip"),
            header_timeout: reason(&closed, "header_timeout"),
            idle_timeout: reason(&closed, "idle_timeout"),
            send_timeout: reason(&closed, "send_timeout"),
            header_budget: reason(&closed, "header_budget"),
            pressure: reason(&closed, "pressure"),
        };
        let header_bytes_in_flight = Gauge::default();
        registry.register(
            "header_bytes_in_flight",
            "Bytes of unfinished request heads charged to the header budget",
            header_bytes_in_flight.clone(),
        );
        Metrics {
            registry,
            release_load_failures,
            release_last_success,
            connections_open,
            connections_accepted,
            accept_errors,
            limits,
            header_bytes_in_flight,
            requests,
            by_endpoint,
            cache_hits,
            cache_misses,
            store_fetches,
            store_errors,
            integrity_failures,
            latency,
            release,
            releases_loaded,
            common: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn count_request(&self, endpoint: EndpointKind, status: u16) {
        self.by_endpoint[endpoint as usize].inc();
        match COMMON.iter().position(|&s| s == status) {
            Some(i) => self.common[i]
                .get_or_init(|| self.requests.get_or_create(&StatusLabel { status }).clone())
                .inc(),
            None => self.requests.get_or_create(&StatusLabel { status }).inc(),
        };
    }

    pub(crate) fn set_release(&self, id: &str) {
        self.release.clear();
        self.release.get_or_create(&ReleaseLabel { release: id.to_owned() }).set(1);
        self.releases_loaded.inc();
    }

    /// Stamps a successful channel check or load with the current time.
    pub(crate) fn release_check_succeeded(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.release_last_success.set(now);
    }

    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::default();
        m.count_request(EndpointKind::Content, 200);
        m.count_request(EndpointKind::Grant, 200);
        m.count_request(EndpointKind::Content, 500);
        m.set_release("abc");
        m.set_release("def");
        let text = m.encode();
        assert!(text.contains("edge_origin_requests_total{status=\"200\"} 2"), "{text}");
        assert!(text.contains("edge_origin_requests_total{status=\"500\"} 1"), "{text}");
        assert!(!text.contains("status=\"404\""), "only statuses seen: {text}");
        for line in [
            "edge_origin_endpoint_requests_total{endpoint=\"content\"} 2",
            "edge_origin_endpoint_requests_total{endpoint=\"grant\"} 1",
            "edge_origin_endpoint_requests_total{endpoint=\"probe\"} 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(text.contains("edge_origin_release{release=\"def\"} 1"), "{text}");
        assert!(!text.contains("release=\"abc\""), "{text}");
        for name in
            ["cache_hits_total", "cache_misses_total", "store_fetches_total", "integrity_failures_total"]
        {
            assert!(text.contains(&format!("edge_origin_{name}")), "{name}");
        }
        assert!(text.contains("edge_origin_request_duration_seconds_bucket"));
        for line in [
            "edge_origin_connections_closed_total{reason=\"header_timeout\"} 0",
            "edge_origin_connections_refused_total{reason=\"per_ip\"} 0",
            "edge_origin_release_load_failures_total 0",
            "edge_origin_release_last_success_timestamp_seconds 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
