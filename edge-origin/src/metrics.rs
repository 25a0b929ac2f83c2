//! Prometheus metrics, served as text at `/metrics`.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReleaseLabel {
    pub release: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<StatusLabel, Counter>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub store_fetches: Counter,
    pub store_errors: Counter,
    pub integrity_failures: Counter,
    pub latency: Histogram,
    pub release: Family<ReleaseLabel, Gauge>,
    pub releases_loaded: Counter,
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
        let latency = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        registry.register("request_duration_seconds", "Time to answer a request", latency.clone());
        let release = Family::<ReleaseLabel, Gauge>::default();
        registry.register("release", "The release being served (value 1)", release.clone());
        let releases_loaded = Counter::default();
        registry.register("releases_loaded", "Releases loaded since start", releases_loaded.clone());
        Metrics {
            registry,
            requests,
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
    pub fn count_request(&self, status: u16) {
        match COMMON.iter().position(|&s| s == status) {
            Some(i) => self.common[i]
                .get_or_init(|| self.requests.get_or_create(&StatusLabel { status }).clone())
                .inc(),
            None => self.requests.get_or_create(&StatusLabel { status }).inc(),
        };
    }

    pub fn set_release(&self, id: &str) {
        self.release.clear();
        self.release.get_or_create(&ReleaseLabel { release: id.to_owned() }).set(1);
        self.releases_loaded.inc();
    }

    pub fn encode(&self) -> String {
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
        m.count_request(200);
        m.count_request(200);
        m.count_request(500);
        m.set_release("abc");
        m.set_release("def");
        let text = m.encode();
        assert!(text.contains("edge_origin_requests_total{status=\"200\"} 2"), "{text}");
        assert!(text.contains("edge_origin_requests_total{status=\"500\"} 1"), "{text}");
        assert!(!text.contains("status=\"404\""), "only statuses seen: {text}");
        assert!(text.contains("edge_origin_release{release=\"def\"} 1"), "{text}");
        assert!(!text.contains("release=\"abc\""), "{text}");
        for name in
            ["cache_hits_total", "cache_misses_total", "store_fetches_total", "integrity_failures_total"]
        {
            assert!(text.contains(&format!("edge_origin_{name}")), "{name}");
        }
        assert!(text.contains("edge_origin_request_duration_seconds_bucket"));
    }
}
