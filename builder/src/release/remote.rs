//! The S3 store as the release operations see it: a bucket and a key prefix
//! ([`Location`]) with the reads and writes publish, flips, history and gc share, and the
//! channel pointer as read at one moment ([`PointerState`]).

use std::collections::HashMap;
use std::time::SystemTime;

use anyhow::{anyhow, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use aws_sdk_s3::Client;
use base64::Engine as _;
use bundle::paths::{channel_path, release_path};
use bundle::{Channel, Manifest, ReleaseId};
use sha2::{Digest, Sha256};
use store::{describe, Listed};

/// The remote pointer as read at one moment: `None` when the channel does not exist.
#[derive(Debug, Clone)]
pub(crate) struct PointerState {
    pub(crate) pointer: Option<Channel>,
    pub(crate) etag: Option<String>,
}

impl PointerState {
    pub(crate) fn sequence(&self) -> u64 {
        self.pointer.as_ref().map_or(0, |p| p.sequence)
    }
    pub(crate) fn release(&self) -> Option<&ReleaseId> {
        self.pointer.as_ref().map(|p| &p.release)
    }
    /// The sequence a flip from this pointer writes; an error at the largest `u64` (a
    /// corrupt or hostile pointer), which nothing can follow.
    pub(crate) fn next_sequence(&self, channel: &str) -> anyhow::Result<u64> {
        self.sequence().checked_add(1).ok_or_else(|| {
            anyhow!(
                "channel {channel}'s pointer has sequence {}, the largest there is, so no flip can follow it \
                 (the pointer is corrupt: it serves {}); nothing was changed",
                self.sequence(),
                show(self.release())
            )
        })
    }
}

/// A bucket and a key prefix (shared with `history`).
#[derive(Debug, Clone)]
pub(crate) struct Location<'a> {
    pub(crate) client: &'a Client,
    pub(crate) bucket: &'a str,
    pub(crate) prefix: &'a str,
}

impl Location<'_> {
    pub(crate) fn key(&self, path: &str) -> String {
        store::join_key(self.prefix, path)
    }

    /// The bytes and ETag at `path`, or `None` when it does not exist.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
        let key = self.key(path);
        match self.client.get_object().bucket(self.bucket).key(&key).send().await {
            Ok(output) => {
                let etag = output.e_tag().map(str::to_owned);
                let body = output.body.collect().await.with_context(|| format!("reading s3 {key}"))?;
                Ok(Some((body.into_bytes().to_vec(), etag)))
            }
            Err(err) if store::is_not_found(&err) => Ok(None),
            Err(err) => Err(anyhow!("GET s3://{}/{key}: {}", self.bucket, describe(&err))),
        }
    }

    /// The size of the object at `path`, or `None` when it does not exist.
    pub(crate) async fn head_size(&self, path: &str) -> anyhow::Result<Option<u64>> {
        let key = self.key(path);
        match self.client.head_object().bucket(self.bucket).key(&key).send().await {
            Ok(output) => Ok(Some(output.content_length().unwrap_or_default().max(0) as u64)),
            Err(err) if store::is_not_found(&err) => Ok(None),
            Err(err) => Err(anyhow!("HEAD s3://{}/{key}: {}", self.bucket, describe(&err))),
        }
    }

    /// Every key under `path` (a store-relative folder ending in `/`), relative to it, with
    /// its size and modification time (ListObjectsV2, all pages).
    pub(crate) async fn list(&self, path: &str) -> anyhow::Result<Vec<Listed>> {
        self.list_from(path, "").await
    }

    /// Every object under `objects/` by key, with its size: 16 listings at once, one per
    /// first hex digit of the keys (object keys are lowercase hex): the same requests as
    /// one listing, in parallel.
    pub(crate) async fn list_objects(&self) -> anyhow::Result<HashMap<String, u64>> {
        let shards = (0..16u32).map(|digit| {
            let digit = char::from_digit(digit, 16).expect("a hex digit").to_string();
            async move { self.list_from("objects/", &digit).await }
        });
        let listed = futures::future::try_join_all(shards).await?;
        Ok(listed.into_iter().flatten().map(|l| (l.name, l.size)).collect())
    }

    /// Like [`Location::list`], of the keys under `path` that start with `start`.
    pub(crate) async fn list_from(&self, path: &str, start: &str) -> anyhow::Result<Vec<Listed>> {
        let full = self.key(path);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(format!("{full}{start}"))
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| anyhow!("listing s3://{}/{full}: {}", self.bucket, describe(&e)))?;
            for object in page.contents() {
                let Some(name) = object.key().and_then(|k| k.strip_prefix(&full)) else { continue };
                listed.push(Listed {
                    name: name.to_owned(),
                    size: object.size().unwrap_or_default().max(0) as u64,
                    modified: object.last_modified().and_then(|t| SystemTime::try_from(*t).ok()),
                });
            }
        }
        Ok(listed)
    }

    /// Deletes `path` (nothing to do when it is not there).
    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let key = self.key(path);
        self.client
            .delete_object()
            .bucket(self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| anyhow!("DELETE s3://{}/{key}: {}", self.bucket, describe(&e)))?;
        Ok(())
    }

    pub(crate) async fn read_pointer(&self, channel: &str) -> anyhow::Result<PointerState> {
        let path = channel_path(channel).ok_or_else(|| anyhow!("bad channel name {channel:?}"))?;
        match self.get(&path).await? {
            None => Ok(PointerState { pointer: None, etag: None }),
            Some((bytes, etag)) => {
                let pointer = Channel::from_bytes(&bytes)
                    .with_context(|| format!("s3 {} is not a channel pointer", self.key(&path)))?;
                Ok(PointerState { pointer: Some(pointer), etag })
            }
        }
    }

    /// `releases/<release>.json`, checked against its id (`None`: not in the store).
    pub(crate) async fn read_manifest(&self, release: &ReleaseId) -> anyhow::Result<Option<Manifest>> {
        self.read_manifest_or_corrupt(release).await?.map_err(anyhow::Error::msg)
    }

    /// Like [`Location::read_manifest`], with a corrupt manifest (bytes that do not hash to
    /// the id, or do not parse) as a value: gc and history go on past one.
    pub(crate) async fn read_manifest_or_corrupt(
        &self,
        release: &ReleaseId,
    ) -> anyhow::Result<Result<Option<Manifest>, String>> {
        let path = release_path(release);
        let Some((bytes, _)) = self.get(&path).await? else { return Ok(Ok(None)) };
        Ok(Manifest::verified(&bytes, release).map(Some).map_err(|e| format!("s3 {}: {e}", self.key(&path))))
    }

    pub(crate) async fn put_small(
        &self,
        path: &str,
        bytes: Vec<u8>,
        cache_control: &str,
    ) -> anyhow::Result<()> {
        let key = self.key(path);
        self.client
            .put_object()
            .bucket(self.bucket)
            .key(&key)
            .content_type("application/json")
            .cache_control(cache_control)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(base64_sha256(&bytes))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| anyhow!("PUT s3://{}/{key}: {}", self.bucket, describe(&e)))?;
        Ok(())
    }
}

pub(crate) fn base64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// A release for messages, or what a missing channel serves.
pub(crate) fn show(release: Option<&ReleaseId>) -> String {
    release.map_or_else(|| "nothing (no channel)".to_owned(), ToString::to_string)
}

pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
