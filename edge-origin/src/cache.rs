//! The object cache: weighed in bytes, one store fetch per key however many requests
//! miss it at once, and every object checked against its hash before anyone sees it.

use std::sync::Arc;
use std::time::Duration;

use bundle::paths::object_path;
use bundle::ObjectKey;
use bytes::Bytes;
use moka::future::Cache;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use store::Store;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("object {0} is missing from the store")]
    Missing(ObjectKey),
    #[error("object {0} does not match its hash; not served")]
    Integrity(ObjectKey),
    #[error("store failed: {0}")]
    Store(String),
    #[error("store timed out")]
    Timeout,
}

pub(crate) struct ObjectCache {
    cache: Cache<ObjectKey, Bytes>,
    store: Store,
    timeout: Duration,
    /// Store reads in flight (`--store-concurrency`): misses beyond it wait their turn.
    reads: Semaphore,
    metrics: Arc<Metrics>,
}

impl ObjectCache {
    pub(crate) fn new(
        store: Store,
        max_bytes: u64,
        timeout: Duration,
        concurrency: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &ObjectKey, value: &Bytes| u32::try_from(value.len()).unwrap_or(u32::MAX))
            .build();
        let reads = Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS));
        ObjectCache { cache, store, timeout, reads, metrics }
    }

    /// The object's bytes, from memory or from the store (verified). Concurrent misses of
    /// one key wait for a single fetch; failures are not cached, so the next request retries.
    pub(crate) async fn get(&self, key: &ObjectKey) -> Result<Bytes, Arc<FetchError>> {
        if let Some(bytes) = self.cache.get(key).await {
            self.metrics.cache_hits.inc();
            return Ok(bytes);
        }
        self.metrics.cache_misses.inc();
        let result = self.cache.try_get_with_by_ref(key, self.fetch(key)).await;
        // moka applies its byte bound lazily; settle it after each miss (already the slow
        // path) so the cache never holds much more than asked.
        self.cache.run_pending_tasks().await;
        result
    }

    async fn fetch(&self, key: &ObjectKey) -> Result<Bytes, FetchError> {
        // The wait for a turn and the read share one --store-timeout: a queue behind a hung
        // store ends in the same 503 a read of it would.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let Ok(Ok(_turn)) = tokio::time::timeout_at(deadline, self.reads.acquire()).await else {
            self.metrics.store_errors.inc();
            return Err(FetchError::Timeout);
        };
        self.metrics.store_fetches.inc();
        let path = object_path(key);
        let result = match tokio::time::timeout_at(deadline, self.store.get(&path)).await {
            Err(_) => Err(FetchError::Timeout),
            Ok(Err(err)) => Err(FetchError::Store(err.to_string())),
            Ok(Ok(None)) => Err(FetchError::Missing(key.clone())),
            Ok(Ok(Some(bytes))) if !key.matches(&bytes) => {
                self.metrics.integrity_failures.inc();
                tracing::error!(object = %key, "integrity failure: stored bytes do not match the key");
                Err(FetchError::Integrity(key.clone()))
            }
            Ok(Ok(Some(bytes))) => Ok(bytes),
        };
        if matches!(result, Err(FetchError::Timeout | FetchError::Store(_))) {
            self.metrics.store_errors.inc();
        }
        result
    }
}
