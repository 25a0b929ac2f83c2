//! The store layer the builder and the origin share: where a store is ([`StoreSpec`]), how
//! to reach S3 ([`S3Options`], [`s3_client`] with named [`Timeouts`]), how store-relative
//! keys map to S3 keys ([`join_key`]), and the reads and writes that mean the same on a
//! local directory and an S3 bucket prefix ([`Store`]).
//!
//! The layout inside a store (`objects/`, `releases/`, `channels/`) is `bundle::paths`'s;
//! this crate only moves bytes.
mod error;
mod key;
mod local;
mod object;
mod s3;
mod spec;

use std::path::PathBuf;

use bytes::Bytes;

pub use error::{Op, StoreError};
pub use key::join_key;
pub use object::{Fetched, Listed};
pub use s3::{describe, is_not_found, s3_client, Bucket, Timeouts};
pub use spec::{S3Options, StoreSpec};

/// A store: a local directory (the embedded default) or an S3 bucket prefix (AWS, Garage,
/// MinIO, R2: custom endpoint, path style). Keys are store-relative (`objects/<sha256>`).
#[derive(Debug, Clone)]
pub enum Store {
    Local(PathBuf),
    S3(Bucket),
}

impl Store {
    /// Opens the store `spec` names; an S3 client gets the `timeouts` profile.
    pub async fn open(spec: &StoreSpec, s3: &S3Options, timeouts: Timeouts) -> Self {
        match spec {
            StoreSpec::Local(dir) => Store::Local(dir.clone()),
            StoreSpec::S3 { bucket, prefix } => {
                Store::S3(Bucket::new(s3_client(s3, timeouts).await, bucket.clone(), prefix.clone()))
            }
        }
    }

    /// The bytes at `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.get_conditional(key, None).await? {
            Fetched::Found { bytes, .. } => Ok(Some(bytes)),
            Fetched::Missing | Fetched::NotModified => Ok(None),
        }
    }

    /// Reads `key` unless it still matches `validator` (an S3 ETag, or a local
    /// modification time and size), so polling an unchanged pointer costs no transfer.
    pub async fn get_conditional(&self, key: &str, validator: Option<&str>) -> Result<Fetched, StoreError> {
        match self {
            Store::Local(dir) => local::get_conditional(dir, key, validator).await,
            Store::S3(bucket) => bucket.get_conditional(key, validator).await,
        }
    }

    /// The size of the object at `key`, or `None` when there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match self {
            Store::Local(dir) => local::head(dir, key).await,
            Store::S3(bucket) => bucket.head(key).await,
        }
    }

    /// Every object under `folder` (store-relative, ending in `/`) whose name starts with
    /// `start` (`""`: all), named relative to `folder`, in no particular order.
    pub async fn list(&self, folder: &str, start: &str) -> Result<Vec<Listed>, StoreError> {
        match self {
            Store::Local(dir) => local::list(dir, folder, start).await,
            Store::S3(bucket) => bucket.list(folder, start).await,
        }
    }

    /// Writes `bytes` at `key`, replacing what is there; a reader sees the old bytes or the
    /// new, never a part.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        match self {
            Store::Local(dir) => local::put(dir, key, &bytes).await,
            Store::S3(bucket) => bucket.put(key, bytes).await,
        }
    }

    /// Deletes `key` (nothing to do when it is not there).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Local(dir) => local::delete(dir, key).await,
            Store::S3(bucket) => bucket.delete(key).await,
        }
    }
}
