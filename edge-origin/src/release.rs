//! Following a channel: the live release sits behind an atomic swap, so every request
//! sees one whole release; a watcher loads each new release fully before swapping it in.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bundle::manifest::{release_id_of, ManifestError};
use bundle::paths::{channel_path, release_path};
use bundle::{Channel, Manifest, ReleaseId};
use bytes::Bytes;

use crate::store::{Store, StoreError};

/// One loaded release.
#[derive(Debug)]
pub struct Release {
    pub id: ReleaseId,
    pub manifest: Manifest,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("channel name {0:?} is not a slug")]
    ChannelName(String),
    #[error("no channel pointer at {0}")]
    NoChannel(String),
    #[error("channel pointer is malformed: {0}")]
    BadChannel(serde_json::Error),
    #[error("release {0} named by the channel is missing")]
    NoRelease(ReleaseId),
    #[error("release {0} does not hash to its id; refusing it")]
    Integrity(ReleaseId),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store timed out")]
    Timeout,
}

/// The release currently served, shared by all requests.
#[derive(Default)]
pub struct Current {
    release: ArcSwapOption<Release>,
    /// Bytes of the channel pointer last loaded, to skip unchanged polls.
    pointer: std::sync::Mutex<Option<Bytes>>,
}

impl Current {
    pub fn get(&self) -> Option<Arc<Release>> {
        self.release.load_full()
    }

    /// Reads the channel; when it moved, loads and verifies the new release, then swaps it in.
    /// Returns the new id when it changed.
    pub async fn refresh(
        &self,
        store: &Store,
        channel: &str,
        timeout: Duration,
    ) -> Result<Option<ReleaseId>, LoadError> {
        let path = channel_path(channel).ok_or_else(|| LoadError::ChannelName(channel.to_owned()))?;
        let get = |key: String| async move {
            tokio::time::timeout(timeout, store.get(&key))
                .await
                .map_err(|_| LoadError::Timeout)?
                .map_err(LoadError::from)
        };
        let pointer_bytes = get(path.clone()).await?.ok_or(LoadError::NoChannel(path))?;
        let unchanged =
            self.pointer.lock().unwrap_or_else(|e| e.into_inner()).as_ref() == Some(&pointer_bytes);
        if unchanged && self.get().is_some() {
            return Ok(None);
        }
        let pointer = Channel::from_bytes(&pointer_bytes).map_err(LoadError::BadChannel)?;
        if self.get().is_some_and(|r| r.id == pointer.release) {
            *self.pointer.lock().unwrap_or_else(|e| e.into_inner()) = Some(pointer_bytes);
            return Ok(None);
        }
        let manifest_bytes = get(release_path(&pointer.release))
            .await?
            .ok_or_else(|| LoadError::NoRelease(pointer.release.clone()))?;
        if release_id_of(&manifest_bytes) != pointer.release {
            return Err(LoadError::Integrity(pointer.release));
        }
        let manifest = Manifest::from_bytes(&manifest_bytes)?;
        let id = pointer.release.clone();
        self.release.store(Some(Arc::new(Release { id: id.clone(), manifest })));
        *self.pointer.lock().unwrap_or_else(|e| e.into_inner()) = Some(pointer_bytes);
        Ok(Some(id))
    }

    /// Polls the channel every `every` until the process ends.
    pub async fn follow(self: Arc<Self>, store: Store, channel: String, every: Duration, timeout: Duration) {
        loop {
            match self.refresh(&store, &channel, timeout).await {
                Ok(Some(id)) => tracing::info!(release = %id, channel, "now serving release"),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(channel, error = %err, "channel check failed; keeping the current release")
                }
            }
            tokio::time::sleep(every).await;
        }
    }
}
