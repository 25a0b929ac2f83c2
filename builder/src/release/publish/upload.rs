//! Uploading what the store lacks: looked up by HEADs or one listing, streamed from disk
//! (multipart above the threshold), each object and part with its SHA-256 checksum.

/// The smallest part S3 accepts (except the last one).
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail, Context};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use bundle::paths::object_path;
use bundle::ObjectKey;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use store::describe;

use super::progress::Progress;
use super::PublishOptions;
use crate::release::remote::Location;

const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's limit on the number of parts of one upload.
const MAX_PARTS: u64 = 10_000;

/// One object to upload.
#[derive(Debug, Clone)]
pub(super) struct Upload {
    pub(super) key: ObjectKey,
    path: PathBuf,
    pub(super) size: u64,
    content_type: String,
    encoding: Option<&'static str>,
}

/// The base64 SHA-256 that S3 checksums carry, from an object key (hex SHA-256).
pub fn checksum_of_key(key: &ObjectKey) -> String {
    let digest = hex::decode(key.as_str()).expect("object keys are hex");
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Every object of the release, checked present locally with the size the manifest names.
pub(super) fn local_uploads(
    from: &Path,
    objects: BTreeMap<ObjectKey, (u64, String, Option<&'static str>)>,
) -> anyhow::Result<Vec<Upload>> {
    let mut needed = Vec::with_capacity(objects.len());
    for (key, (size, content_type, encoding)) in objects {
        let path = from.join(object_path(&key));
        let meta = std::fs::metadata(&path).with_context(|| format!("object {key} is missing locally"))?;
        if meta.len() != size {
            bail!("local object {} is {} bytes, the manifest says {size}", path.display(), meta.len());
        }
        needed.push(Upload { key, path, size, content_type, encoding });
    }
    Ok(needed)
}

/// Uploads `uploads` concurrently (a progress bar or log lines when `progress`); on a
/// failure, the error says how many went up.
pub(super) async fn upload_all(
    at: &Location<'_>,
    uploads: &[&Upload],
    options: &PublishOptions,
    progress: bool,
) -> anyhow::Result<()> {
    let total_bytes = uploads.iter().map(|u| u.size).sum();
    let progress = Progress::new(progress && options.progress, uploads.len(), total_bytes);
    let failed = AtomicBool::new(false);
    let threshold = options.multipart_threshold.max(1);
    let mut results = futures::stream::iter(uploads.iter().copied())
        .map(|upload| {
            let (failed, progress) = (&failed, &progress);
            async move {
                if failed.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                let result = if upload.size > threshold {
                    upload_multipart(at, upload, threshold).await
                } else {
                    upload_single(at, upload).await
                };
                match result {
                    Ok(()) => {
                        progress.uploaded(upload.size);
                        Ok(true)
                    }
                    Err(err) => {
                        failed.store(true, Ordering::Relaxed);
                        Err(err)
                    }
                }
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    let (mut uploaded, mut first_error) = (0usize, None);
    while let Some(result) = results.next().await {
        match result {
            Ok(true) => uploaded += 1,
            Ok(false) => {}
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    drop(results);
    progress.finish();
    match first_error {
        Some(err) => Err(err.context(format!(
            "uploading objects failed ({uploaded} of {} uploaded; the channel was not changed, re-run to \
             upload the rest)",
            uploads.len()
        ))),
        None => Ok(()),
    }
}

/// Keys per ListObjectsV2 page: more objects than listing pages are verified by a listing.
const LIST_PAGE: usize = 1000;

/// The objects of `uploads` that the store does not hold with their size: by one
/// [`Location::list_objects`] (about `stored / 1000` requests, at least one per shard)
/// when that takes fewer requests than a HEAD per object, by HEADs otherwise.
pub(super) async fn not_stored<'u>(
    at: &Location<'_>,
    uploads: &[&'u Upload],
    stored: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<&'u Upload>> {
    let list_requests = stored / LIST_PAGE + 16;
    if uploads.len() > list_requests {
        let listed = at.list_objects().await?;
        return Ok(uploads.iter().copied().filter(|u| listed.get(u.key.as_str()) != Some(&u.size)).collect());
    }
    let sizes: Vec<anyhow::Result<(&Upload, Option<u64>)>> = futures::stream::iter(uploads.iter().copied())
        .map(|upload| async move { Ok((upload, at.head_size(&object_path(&upload.key)).await?)) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut gone = Vec::new();
    for checked in sizes {
        let (upload, size) = checked?;
        if size != Some(upload.size) {
            gone.push(upload);
        }
    }
    Ok(gone)
}

async fn upload_single(at: &Location<'_>, upload: &Upload) -> anyhow::Result<()> {
    let key = at.key(&object_path(&upload.key));
    let body = ByteStream::from_path(&upload.path)
        .await
        .with_context(|| format!("reading {}", upload.path.display()))?;
    at.client
        .put_object()
        .bucket(at.bucket)
        .key(&key)
        .body(body)
        .content_length(upload.size as i64)
        .content_type(&upload.content_type)
        .set_content_encoding(upload.encoding.map(str::to_owned))
        .cache_control(bundle::CacheClass::Immutable.cache_control())
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(checksum_of_key(&upload.key))
        .send()
        .await
        .map_err(|e| anyhow!("PUT s3://{}/{key}: {}", at.bucket, describe(&e)))?;
    Ok(())
}

/// The base64 SHA-256 of `length` bytes of `path` from `offset`, read in chunks.
fn part_checksum(path: &Path, offset: u64, length: u64) -> std::io::Result<String> {
    use std::io::Seek;
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut remaining = length;
    let mut buffer = vec![0u8; 64 * 1024];
    while remaining > 0 {
        let want = remaining.min(buffer.len() as u64) as usize;
        let n = file.read(&mut buffer[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while uploading",
            ));
        }
        hasher.update(&buffer[..n]);
        remaining -= n as u64;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

async fn upload_multipart(at: &Location<'_>, upload: &Upload, threshold: u64) -> anyhow::Result<()> {
    let key = at.key(&object_path(&upload.key));
    let created = at
        .client
        .create_multipart_upload()
        .bucket(at.bucket)
        .key(&key)
        .content_type(&upload.content_type)
        .set_content_encoding(upload.encoding.map(str::to_owned))
        .cache_control(bundle::CacheClass::Immutable.cache_control())
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .map_err(|e| anyhow!("starting multipart upload of s3://{}/{key}: {}", at.bucket, describe(&e)))?;
    let upload_id = created.upload_id().ok_or_else(|| anyhow!("no upload id for s3 {key}"))?.to_owned();
    let result = upload_parts(at, upload, threshold, &key, &upload_id).await;
    if result.is_err() {
        let abort =
            at.client.abort_multipart_upload().bucket(at.bucket).key(&key).upload_id(&upload_id).send().await;
        if let Err(err) = abort {
            tracing::warn!(key, error = %describe(&err), "aborting a failed multipart upload failed");
        }
    }
    result
}

async fn upload_parts(
    at: &Location<'_>,
    upload: &Upload,
    threshold: u64,
    key: &str,
    upload_id: &str,
) -> anyhow::Result<()> {
    let part_size = threshold.max(MIN_PART_SIZE).max(upload.size.div_ceil(MAX_PARTS));
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let mut number = 1i32;
    while offset < upload.size || (upload.size == 0 && number == 1) {
        let length = part_size.min(upload.size - offset);
        let path = upload.path.clone();
        let checksum = tokio::task::spawn_blocking(move || part_checksum(&path, offset, length))
            .await
            .context("hashing a part")?
            .with_context(|| format!("reading {}", upload.path.display()))?;
        let body = ByteStream::read_from()
            .path(&upload.path)
            .offset(offset)
            .length(Length::Exact(length))
            .build()
            .await
            .with_context(|| format!("reading {}", upload.path.display()))?;
        let part = at
            .client
            .upload_part()
            .bucket(at.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(length as i64)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&checksum)
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow!("uploading part {number} of s3://{}/{key}: {}", at.bucket, describe(&e)))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .checksum_sha256(part.checksum_sha256().unwrap_or(&checksum))
                .build(),
        );
        offset += length;
        number += 1;
    }
    at.client
        .complete_multipart_upload()
        .bucket(at.bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map_err(|e| anyhow!("completing multipart upload of s3://{}/{key}: {}", at.bucket, describe(&e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::remote::base64_sha256;
    use bundle::ObjectKey;

    #[test]
    fn checksum_of_a_key_is_base64_of_its_digest() {
        let key = ObjectKey::of(b"abc");
        assert_eq!(checksum_of_key(&key), base64_sha256(b"abc"));
    }
}
