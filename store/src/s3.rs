//! An S3 bucket prefix as a store: the client (one builder, with a named timeout profile
//! per caller), error descriptions, and the generic reads and writes.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::error::{Op, StoreError};
use crate::key::join_key;
use crate::object::{Fetched, Listed};
use crate::spec::S3Options;

/// How long one S3 call may take and how often it is tried, by who makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    connect: Duration,
    per_attempt: Duration,
    /// All attempts of one call together; `None`: only each attempt is bounded.
    per_call: Option<Duration>,
    attempts: u32,
}

impl Timeouts {
    /// `course publish` (and rollback/promote, which share its client): a large part's
    /// upload may take minutes; standard retries (backoff on throttling and 5xx) with more
    /// attempts.
    pub const PUBLISH: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        per_attempt: Duration::from_secs(300),
        per_call: None,
        attempts: 5,
    };
    /// `course releases` and `course gc`: a listing page of a large bucket, a batch delete;
    /// patient retries (listing a large bucket takes many pages).
    pub const HISTORY: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        per_attempt: Duration::from_secs(60),
        per_call: Some(Duration::from_secs(60)),
        attempts: 5,
    };

    /// The origin: its `--store-timeout`, so a request that misses the cache waits at
    /// most that long for the store before it gets a 503.
    pub const fn origin(store_timeout: Duration) -> Timeouts {
        Timeouts::per_call(store_timeout)
    }

    /// Each call (all of its attempts together, and each attempt) within `limit`; a
    /// connection gets at most 2 s of it; one retry.
    pub const fn per_call(limit: Duration) -> Timeouts {
        let connect = if limit.as_millis() < 2000 { limit } else { Duration::from_secs(2) };
        Timeouts { connect, per_attempt: limit, per_call: Some(limit), attempts: 2 }
    }

    /// The longest one call may take.
    pub const fn limit(self) -> Duration {
        match self.per_call {
            Some(limit) => limit,
            None => self.per_attempt,
        }
    }
}

/// An S3 client for a custom endpoint or AWS, with path-style addressing where an
/// endpoint is given and the `timeouts` profile's limits and retries.
pub async fn s3_client(options: &S3Options, timeouts: Timeouts) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let shared = loader.load().await;
    let mut limits = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(timeouts.connect)
        .operation_attempt_timeout(timeouts.per_attempt);
    if let Some(per_call) = timeouts.per_call {
        limits = limits.operation_timeout(per_call);
    }
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(options.endpoint.is_some())
        .timeout_config(limits.build())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(timeouts.attempts))
        .build();
    Client::from_conf(config)
}

/// A one-line description of an SDK error, with the service's code when there is one.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or("no message"))
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}

/// Whether an S3 error means "no such key" (a 404, or the service's code for it).
pub fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.raw_response().is_some_and(|r| r.status().as_u16() == 404)
        || matches!(err, SdkError::ServiceError(s) if matches!(s.err().code(), Some("NoSuchKey" | "NotFound")))
}

/// A store at `prefix` in `bucket`.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub client: Client,
    pub bucket: String,
    /// Without slashes around it; `""` is the bucket's root.
    pub prefix: String,
}

impl Bucket {
    pub fn new(client: Client, bucket: String, prefix: String) -> Self {
        let prefix = prefix.trim_matches('/').to_owned();
        Bucket { client, bucket, prefix }
    }

    /// The full S3 key of the store-relative `key`.
    pub fn key(&self, key: &str) -> String {
        join_key(&self.prefix, key)
    }

    pub(crate) async fn get_conditional(
        &self,
        key: &str,
        validator: Option<&str>,
    ) -> Result<Fetched, StoreError> {
        let full_key = self.key(key);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .set_if_none_match(validator.map(str::to_owned));
        let s3_error = |message: String| StoreError::S3 { op: Op::Read, key: full_key.clone(), message };
        match request.send().await {
            Ok(output) => {
                let validator = output.e_tag().map(str::to_owned);
                let body = output.body.collect().await.map_err(|e| s3_error(e.to_string()))?;
                Ok(Fetched::Found { bytes: body.into_bytes(), validator })
            }
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                match (&err, status) {
                    (_, Some(304)) => Ok(Fetched::NotModified),
                    (_, Some(404)) => Ok(Fetched::Missing),
                    (SdkError::ServiceError(service), _) if service.err().is_no_such_key() => {
                        Ok(Fetched::Missing)
                    }
                    _ => Err(s3_error(describe(&err))),
                }
            }
        }
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let full_key = self.key(key);
        match self.client.head_object().bucket(&self.bucket).key(&full_key).send().await {
            Ok(output) => Ok(Some(output.content_length().unwrap_or_default().max(0) as u64)),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(StoreError::S3 { op: Op::Head, key: full_key, message: describe(&err) }),
        }
    }

    /// ListObjectsV2, all pages.
    pub(crate) async fn list(&self, folder: &str, start: &str) -> Result<Vec<Listed>, StoreError> {
        let full = self.key(folder);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{full}{start}"))
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| StoreError::S3 { op: Op::List, key: full.clone(), message: describe(&e) })?;
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

    pub(crate) async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        let full_key = self.key(key);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| StoreError::S3 { op: Op::Write, key: full_key, message: describe(&e) })?;
        Ok(())
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full_key = self.key(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|e| StoreError::S3 { op: Op::Delete, key: full_key, message: describe(&e) })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_profiles_are_named_and_distinct() {
        assert_eq!(Timeouts::PUBLISH.limit(), Duration::from_secs(300));
        assert_eq!(Timeouts::HISTORY.limit(), Duration::from_secs(60));
        assert_eq!(Timeouts::origin(Duration::from_secs(5)).limit(), Duration::from_secs(5));
    }
}
