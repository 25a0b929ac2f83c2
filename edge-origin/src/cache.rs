//! The object cache: weighed in bytes, one store fetch per key however many requests
//! miss it at once, and every object checked against its hash before anyone sees it.

use std::sync::Arc;
use std::time::Duration;

use bundle::paths::object_path;
use bundle::ObjectKey;
use bytes::Bytes;
use moka::future::Cache;

use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("object {0} is missing from the store")]
    Missing(ObjectKey),
    #[error("object {0} does not match its hash; not served")]
    Integrity(ObjectKey),
    #[error("store failed: {0}")]
    Store(String),
    #[error("store timed out")]
    Timeout,
}

pub struct ObjectCache {
    cache: Cache<ObjectKey, Bytes>,
    store: Store,
    timeout: Duration,
}

impl ObjectCache {
    pub fn new(store: Store, max_bytes: u64, timeout: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &ObjectKey, value: &Bytes| u32::try_from(value.len()).unwrap_or(u32::MAX))
            .build();
        ObjectCache { cache, store, timeout }
    }

    /// The object's bytes, from memory or from the store (verified).
    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, Arc<FetchError>> {
        self.cache
            .try_get_with_by_ref(key, async {
                let path = object_path(key);
                let fetch = self.store.get(&path);
                let bytes = tokio::time::timeout(self.timeout, fetch)
                    .await
                    .map_err(|_| FetchError::Timeout)?
                    .map_err(|e| FetchError::Store(e.to_string()))?
                    .ok_or_else(|| FetchError::Missing(key.clone()))?;
                if !key.matches(&bytes) {
                    tracing::error!(object = %key, "integrity failure: stored bytes do not match the key");
                    return Err(FetchError::Integrity(key.clone()));
                }
                Ok(bytes)
            })
            .await
    }
}
