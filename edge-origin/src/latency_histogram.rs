//! The request-latency histogram, without a lock: every request observes it, and
//! `prometheus_client`'s `Histogram` takes a write lock per observation (two cores
//! serving hits queued on it). Here an observation is two relaxed atomic adds into fixed
//! buckets (50 µs doubling up to ~1.6 s, then +Inf), found by a shift rather than a search;
//! `/metrics` reads a snapshot. Encoded as the same Prometheus histogram as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// The first bucket's upper bound.
const FIRST_BOUND_NANOS: u64 = 50_000;
/// Bounded buckets (50 µs · 2^i for i in 0..16); one more counts everything above.
const BOUNDED: usize = 16;

#[derive(Clone, Debug, Default)]
pub(crate) struct LatencyHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Observations per bucket (not cumulative); the last is +Inf.
    buckets: [AtomicU64; BOUNDED + 1],
    sum_nanos: AtomicU64,
}

/// The first bucket whose upper bound is at least `nanos`.
fn bucket_of(nanos: u64) -> usize {
    if nanos <= FIRST_BOUND_NANOS {
        return 0;
    }
    // (nanos - 1) / first lies in [2^(i-1), 2^i) exactly when nanos is in (first·2^(i-1), first·2^i].
    let quotient = (nanos - 1) / FIRST_BOUND_NANOS;
    ((u64::BITS - quotient.leading_zeros()) as usize).min(BOUNDED)
}

fn upper_bound_seconds(bucket: usize) -> f64 {
    if bucket == BOUNDED {
        // prometheus_client writes f64::MAX as `le="+Inf"`.
        return f64::MAX;
    }
    (FIRST_BOUND_NANOS << bucket) as f64 / 1e9
}

impl LatencyHistogram {
    pub(crate) fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.inner.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts with their upper bounds).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = (0..=BOUNDED)
            .map(|i| (upper_bound_seconds(i), self.inner.buckets[i].load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' total, so `_count` always equals the +Inf bucket.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, count, buckets)
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
    use prometheus_client::registry::Registry;

    #[test]
    fn a_value_goes_to_the_first_bucket_whose_bound_holds_it() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(50_000), 0, "a bound is inclusive (le)");
        assert_eq!(bucket_of(50_001), 1);
        assert_eq!(bucket_of(100_000), 1);
        assert_eq!(bucket_of(100_001), 2);
        assert_eq!(bucket_of(150_000), 2);
        assert_eq!(bucket_of(200_000), 2);
        assert_eq!(bucket_of(200_001), 3);
        let last_bound = FIRST_BOUND_NANOS << (BOUNDED - 1);
        assert_eq!(bucket_of(last_bound), BOUNDED - 1);
        assert_eq!(bucket_of(last_bound + 1), BOUNDED, "above every bound: +Inf");
        assert_eq!(bucket_of(u64::MAX), BOUNDED);
        for i in 0..BOUNDED {
            let bound = FIRST_BOUND_NANOS << i;
            assert_eq!(bucket_of(bound), i);
            assert_eq!(bucket_of(bound + 1), i + 1);
        }
    }

    fn encode(name: &str, metric: impl EncodeMetric + Send + Sync + std::fmt::Debug + 'static) -> String {
        let mut registry = Registry::default();
        registry.register(name, "Time to answer a request", metric);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        text
    }

    /// The text `/metrics` shows is what the locking histogram it replaced showed (up to
    /// the sum's last float digits, so the samples are chosen to be exact in both).
    #[test]
    fn encodes_as_the_histogram_it_replaced() {
        let ours = LatencyHistogram::default();
        let theirs = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        for micros in [0_u64, 50, 51, 100, 150, 4_096, 250_000, 1_600_000, 1_700_000, 10_000_000] {
            ours.observe(Duration::from_micros(micros));
            theirs.observe(micros as f64 / 1e6);
        }
        let without_sum =
            |text: String| text.lines().filter(|l| !l.contains("_sum")).collect::<Vec<_>>().join("\n");
        let (ours, theirs) = (encode("latency", ours), encode("latency", theirs));
        assert_eq!(without_sum(ours.clone()), without_sum(theirs), "{ours}");
        assert!(ours.contains("latency_count 10"), "{ours}");
        assert!(ours.contains("latency_bucket{le=\"+Inf\"} 10"), "{ours}");
        let sum: f64 = ours
            .lines()
            .find_map(|l| l.strip_prefix("latency_sum "))
            .and_then(|v| v.parse().ok())
            .expect("a sum");
        assert!((sum - 13.554_447).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn observations_from_many_threads_are_all_counted() {
        let histogram = LatencyHistogram::default();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let histogram = histogram.clone();
                scope.spawn(move || {
                    for _ in 0..10_000 {
                        histogram.observe(Duration::from_micros(120));
                    }
                });
            }
        });
        let (sum, count, buckets) = histogram.snapshot();
        assert_eq!(count, 40_000);
        assert_eq!(buckets[2].1, 40_000, "120 µs is in (100, 200] µs");
        assert!((sum - 4.8).abs() < 1e-9, "{sum}");
    }
}
