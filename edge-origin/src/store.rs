//! Store backends the origin reads releases from.

use std::path::PathBuf;

use bytes::Bytes;

use crate::config::StoreSpec;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store read of {key} failed: {source}")]
    Io { key: String, source: std::io::Error },
}

/// A read-only view of a store (local directory; S3 joins later as another variant).
#[derive(Debug, Clone)]
pub enum Store {
    Local(PathBuf),
}

impl Store {
    pub fn new(spec: &StoreSpec) -> Self {
        match spec {
            StoreSpec::Local(dir) => Store::Local(dir.clone()),
        }
    }

    /// The bytes at `key` (a store-relative path such as `objects/<sha256>`), or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self {
            Store::Local(dir) => match tokio::fs::read(dir.join(key)).await {
                Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(StoreError::Io { key: key.to_owned(), source }),
            },
        }
    }
}
