//! `course publish`: uploads a release from a local store (what `course build` wrote) to
//! an S3 store, atomically.
//!
//! Order of work, so a failure at any step leaves the live channel untouched and a re-run
//! only does what is left:
//! 1. read the local channel pointer, its manifest (checked against its id) and stat
//!    every object it names; meanwhile read the remote channel pointer (sequence `N` and
//!    ETag) and the manifest of the release it serves. Objects that release names are in
//!    the store (gc never collects a live release; step 4 confirms it); the others are
//!    looked up, a HEAD each when few, by one listing of `objects/` when many (16
//!    listings at once, one per first hex digit of the keys);
//! 2. upload the missing objects concurrently, streamed from disk (multipart above the
//!    threshold), each with its SHA-256 checksum, content type and immutable caching;
//! 3. upload `releases/<id>.json` (the exact local bytes), also when it is there already,
//!    so a concurrent `course gc` that planned before sees it as new (see the history
//!    module);
//! 4. verify, right before the flip, that **every** object the manifest names is in the
//!    store with its size: the uploaded ones and the skipped ones, which a concurrent gc
//!    may have deleted since step 1 (an old object no kept release named; this release is
//!    not kept until it is live). One listing of `objects/` when that takes fewer
//!    requests than a HEAD per object. Anything missing is uploaded again from the local
//!    bytes (and checked), and the manifest too;
//! 5. flip `channels/<channel>.json` last ([`flip`]: claim the sequence `N+1` under a name
//!    of its own, back off from any rival claim, re-read the pointer, record the
//!    invalidation owed and by which targets ([`pending`]), check the manifest is still
//!    there, write with `If-Match` within a lease, read back); a publish whose pointer
//!    moved meanwhile fails naming the release that won, and never overwrites it. A
//!    pointer at the largest sequence is refused before anything is uploaded.
//!
//! `COURSE_PUBLISH_FAIL_AFTER=objects|manifest|verify` makes [`publish`] fail after that
//! step, and `COURSE_PUBLISH_PAUSE=<step>:<file>[,<step>:<file>...]` makes it (or
//! `course gc`) stop at those steps until each `<file>` exists ([`pause_at`]):
//! fault-injection and interleaving tests.

mod flip;
pub mod pending;
mod progress;
mod upload;

pub(crate) use self::flip::claim_release;
/// The test hooks' environment variables (see the module docs).
pub use super::hooks::{FAIL_AFTER_ENV, PAUSE_ENV};

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use aws_sdk_s3::Client;
use bundle::paths::{channel_path, release_path};
use bundle::{Channel, Manifest, ObjectKey, ReleaseId};
use store::{S3Options, StoreSpec};

use self::flip::Flipped;
use self::pending::Pending;
pub use self::upload::checksum_of_key;
use self::upload::{local_uploads, not_stored, upload_all, Upload};
use super::hooks::{fail_after, pause_at};
use super::remote::{show, Location};
use crate::release::invalidate::Target;

/// Default number of uploads in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default size above which objects are uploaded in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The local store written by `course build`.
    pub from: PathBuf,
    /// Where to publish: must be `s3://bucket/prefix`.
    pub store: StoreSpec,
    pub s3: S3Options,
    /// The channel to publish: the release `from`'s `channels/<channel>.json` points at
    /// is uploaded, and the remote `channels/<channel>.json` is flipped to it.
    pub channel: String,
    /// Uploads in flight (default [`DEFAULT_CONCURRENCY`]).
    pub concurrency: usize,
    /// Objects larger than this are uploaded in parts (default [`DEFAULT_MULTIPART_THRESHOLD`]).
    pub multipart_threshold: u64,
    /// Compute the plan (what would be uploaded) and change nothing remote.
    pub dry_run: bool,
    /// A progress bar on a terminal (stderr), log lines otherwise.
    pub progress: bool,
}

#[derive(Debug, Clone)]
pub struct PublishReport {
    pub release: ReleaseId,
    /// What the channel served before (None when the channel did not exist).
    pub previous: Option<ReleaseId>,
    pub previous_manifest: Option<Manifest>,
    pub manifest: Manifest,
    /// Objects uploaded (in a dry run: that would be uploaded).
    pub uploaded: usize,
    /// Objects already in the store.
    pub skipped: usize,
    /// Objects the check before the flip found missing (a concurrent gc deleted them after
    /// the publish had looked them up), uploaded again.
    pub restored: usize,
    /// Bytes of the uploaded objects (in a dry run: that would be uploaded).
    pub bytes_uploaded: u64,
    pub elapsed: Duration,
    /// Whether the channel moved (false in a dry run or when the release was already live).
    pub flipped: bool,
    /// The invalidation the release is owed ([`pending`]): what this publish's flip
    /// recorded (in a dry run: would record), or what an earlier run left unfinished when
    /// the release was already live. `None`: nothing to invalidate.
    pub owed: Option<Pending>,
}

/// An S3 client for uploads (and flips): timeouts long enough for a large part, standard
/// retries with more attempts.
pub async fn upload_client(s3: &S3Options) -> Client {
    store::s3_client(s3, store::Timeouts::PUBLISH).await
}

/// Reads a channel pointer and its manifest from the S3 store (`None` when the channel
/// does not exist yet).
pub async fn read_channel(
    client: &Client,
    bucket: &str,
    prefix: &str,
    channel: &str,
) -> anyhow::Result<Option<(Channel, Manifest)>> {
    let at = Location { client, bucket, prefix };
    let state = at.read_pointer(channel).await?;
    let Some(pointer) = state.pointer else { return Ok(None) };
    let manifest = at.read_manifest(&pointer.release).await?.ok_or_else(|| {
        anyhow!("channel {channel} points at release {} whose manifest is missing", pointer.release)
    })?;
    Ok(Some((pointer, manifest)))
}

/// Flips the channel to `release` (which must already be uploaded), with the same race
/// protection as [`publish`]; used by rollback and promote. `expected_current` is the
/// release the caller believes is live (`None`: the channel must not exist yet); the flip
/// fails if the channel serves something else. Returns the invalidation the release is
/// owed ([`pending`]): recorded by this flip, or left by an earlier run when `release` was
/// live already. The invalidation a flip records is owed by `targets`. A release with
/// drafts is refused.
pub async fn flip_channel(
    client: &Client,
    bucket: &str,
    prefix: &str,
    channel: &str,
    release: &ReleaseId,
    expected_current: Option<&ReleaseId>,
    targets: &[Target],
) -> anyhow::Result<ChannelFlip> {
    let at = Location { client, bucket, prefix };
    let state = at.read_pointer(channel).await?;
    if state.release() != expected_current {
        bail!(
            "channel {channel} is on {}, not on {} as expected: it moved meanwhile",
            show(state.release()),
            show(expected_current)
        );
    }
    match at.read_manifest(release).await? {
        None => bail!("release {release} is not in s3://{bucket}/{prefix}: publish it first"),
        // `course publish` never uploads such a release; one put in the store by other
        // means (a copy of a local store) must still not go live.
        Some(manifest) if manifest.has_drafts() => bail!(
            "release {release} holds draft pages (first: {}): a preview, never served on a channel; \
             the channel was not changed",
            manifest.drafts[0]
        ),
        Some(_) => {}
    }
    if state.release() == Some(release) {
        return Ok(ChannelFlip { moved: false, owed: pending::read(&at, channel, release).await? });
    }
    match flip::flip(&at, channel, release, &state, targets).await? {
        Flipped::Moved { owed, .. } => Ok(ChannelFlip { moved: true, owed }),
        // Another run flipped the channel to this same release meanwhile.
        Flipped::AlreadyLive => {
            Ok(ChannelFlip { moved: false, owed: pending::read(&at, channel, release).await? })
        }
    }
}

/// What [`flip_channel`] did.
#[derive(Debug)]
pub struct ChannelFlip {
    /// Whether this flip moved the channel (false: it already served the release).
    pub moved: bool,
    /// The invalidation the release is owed ([`pending`]).
    pub owed: Option<Pending>,
}

/// The local release: manifest bytes, manifest, and where each object's bytes are.
fn read_local(from: &Path, channel: &str) -> anyhow::Result<(ReleaseId, Vec<u8>, Manifest)> {
    let pointer_path =
        from.join(channel_path(channel).ok_or_else(|| anyhow!("bad channel name {channel:?}"))?);
    let pointer = std::fs::read(&pointer_path)
        .with_context(|| format!("reading {} (run `course build` first)", pointer_path.display()))?;
    let pointer = Channel::from_bytes(&pointer)
        .with_context(|| format!("{} is not a channel pointer", pointer_path.display()))?;
    let manifest_path = from.join(release_path(&pointer.release));
    let bytes =
        std::fs::read(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::verified(&bytes, &pointer.release)
        .with_context(|| format!("{} is not the release it names", manifest_path.display()))?;
    Ok((pointer.release, bytes, manifest))
}

/// A release holding drafts is a preview: it is never uploaded (checked before the store
/// is touched at all, dry runs too).
fn refuse_drafts(from: &Path, release: &ReleaseId, manifest: &Manifest) -> anyhow::Result<()> {
    if manifest.preview && manifest.drafts.is_empty() {
        bail!(
            "release {release} in {} is a preview built by `course serve` (it has no compressed \
             variants for students): run `course build`, then publish again; nothing was uploaded",
            from.display()
        );
    }
    let Some(first) = manifest.drafts.first() else { return Ok(()) };
    bail!(
        "release {release} in {} holds {} draft page(s) (first: {first}): it was built with \
         `course build --drafts` or by `course serve`, a preview that is never published. Run \
         `course build` without `--drafts` (drafts are left out), then publish again; nothing was uploaded",
        from.display(),
        manifest.drafts.len()
    )
}

/// Every object of the manifest with its size and how it is served (the first route
/// that names it decides the content type).
fn objects_of(manifest: &Manifest) -> BTreeMap<ObjectKey, (u64, String, Option<&'static str>)> {
    let mut objects = BTreeMap::new();
    for route in manifest.routes.values() {
        objects.entry(route.object.clone()).or_insert_with(|| (route.size, route.content_type.clone(), None));
        for (encoding, variant) in &route.encodings {
            objects
                .entry(variant.object.clone())
                .or_insert_with(|| (variant.size, route.content_type.clone(), Some(encoding.token())));
        }
    }
    objects
}

/// Publishes the release the local store's channel points at (see the module docs), with
/// no invalidation target (the flip records an invalidation only for targets an earlier
/// run left owing).
pub async fn publish(options: &PublishOptions) -> anyhow::Result<PublishReport> {
    publish_invalidating(options, &[]).await
}

/// Like [`publish`]; the invalidation the flip records ([`pending`]) is owed by `targets`
/// (what the caller sends it to next).
pub async fn publish_invalidating(
    options: &PublishOptions,
    targets: &[Target],
) -> anyhow::Result<PublishReport> {
    let started = Instant::now();
    let StoreSpec::S3 { bucket, prefix } = &options.store else {
        bail!("publish needs an S3 store (s3://bucket/prefix), not {}", options.store);
    };
    let channel = options.channel.as_str();
    if channel_path(channel).is_none() {
        bail!("bad channel name {channel:?}: a-z, 0-9 and inner -");
    }
    let (release, manifest_bytes, manifest) = read_local(&options.from, channel)?;
    refuse_drafts(&options.from, &release, &manifest)?;
    let client = upload_client(&options.s3).await;
    let at = Location { client: &client, bucket, prefix };

    // At once: the local objects (each checked present with the size the manifest names),
    // and the remote pointer with the manifest it serves.
    let (from, objects) = (options.from.clone(), objects_of(&manifest));
    let local = tokio::task::spawn_blocking(move || {
        let checked = local_uploads(&from, objects);
        tracing::debug!(elapsed = ?started.elapsed(), "checked the local objects");
        checked
    });
    let pointer = async {
        let state = at.read_pointer(channel).await?;
        let serves = match state.release() {
            Some(live) if *live != release => at.read_manifest(live).await.ok().flatten(),
            Some(_) => Some(manifest.clone()),
            None => None,
        };
        anyhow::Ok((state, serves))
    };
    let (needed, pointer) = tokio::join!(local, pointer);
    let needed = needed.context("checking the local objects")??;
    let (start_state, previous_manifest) = pointer?;
    if start_state.release() != Some(&release) {
        start_state.next_sequence(channel)?;
    }

    // What to upload. The live release's objects are in the store (gc never collects a
    // live release) and the check before the flip confirms it; the others are looked up,
    // by a HEAD each when few, by one listing when many (a first publish).
    let live_objects: HashSet<&ObjectKey> =
        previous_manifest.as_ref().map(|m| m.objects().into_iter().collect()).unwrap_or_default();
    let stored_estimate = live_objects.len();
    let unknown: Vec<&Upload> = needed.iter().filter(|u| !live_objects.contains(&u.key)).collect();
    let absent: HashSet<ObjectKey> = not_stored(&at, &unknown, stored_estimate, options.concurrency)
        .await
        .context("looking up the release's objects in the store")?
        .into_iter()
        .map(|u| u.key.clone())
        .collect();
    drop(live_objects);
    tracing::debug!(elapsed = ?started.elapsed(), looked_up = unknown.len(), "looked up the objects");
    pause_at("listed").await?;
    let (missing, present): (Vec<Upload>, Vec<Upload>) =
        needed.into_iter().partition(|u| absent.contains(&u.key));
    let plan_bytes: u64 = missing.iter().map(|u| u.size).sum();
    tracing::info!(release = %release, upload = missing.len(), bytes = plan_bytes, skipped = present.len(), "publish plan");
    let live_already = start_state.release() == Some(&release);
    let mut report = PublishReport {
        release: release.clone(),
        previous: start_state.release().cloned(),
        previous_manifest,
        manifest: manifest.clone(),
        uploaded: missing.len(),
        skipped: present.len(),
        restored: 0,
        bytes_uploaded: plan_bytes,
        elapsed: Duration::ZERO,
        flipped: false,
        owed: None,
    };
    if options.dry_run {
        report.owed = if live_already {
            pending::read(&at, channel, &release).await?
        } else {
            pending::plan_record(&at, channel, &release, start_state.release(), targets).await?
        };
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    // Objects.
    let uploads: Vec<&Upload> = missing.iter().collect();
    upload_all(&at, &uploads, options, true).await?;
    tracing::debug!(elapsed = ?started.elapsed(), "uploaded the objects");
    fail_after("objects")?;

    // The manifest: written again when it is there already, unless the release is live,
    // so a gc that planned before this publish sees it as new and spares its objects.
    let manifest_path = release_path(&release);
    let manifest_size = manifest_bytes.len() as u64;
    if !live_already || at.head_size(&manifest_path).await? != Some(manifest_size) {
        at.put_small(&manifest_path, manifest_bytes.clone(), bundle::CacheClass::Immutable.cache_control())
            .await?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "uploaded the manifest");
    fail_after("manifest")?;

    // Verify every object the release names, skipped ones too: a gc running alongside may
    // have deleted one since step 1. Whatever is gone goes up again before the flip.
    let every: Vec<&Upload> = present.iter().chain(&missing).collect();
    let (gone, manifest_stored) = tokio::join!(
        not_stored(&at, &every, stored_estimate.max(every.len()), options.concurrency),
        at.head_size(&manifest_path)
    );
    let gone = gone.context("verifying the release")?;
    if manifest_stored.context("verifying the release")? != Some(manifest_size) {
        tracing::warn!(release = %release, "the release manifest disappeared from the store: uploading it again");
        at.put_small(&manifest_path, manifest_bytes, bundle::CacheClass::Immutable.cache_control()).await?;
    }
    if !gone.is_empty() {
        tracing::warn!(
            objects = gone.len(),
            first = %gone[0].key,
            "objects disappeared from the store since they were looked up (a concurrent gc?): uploading them again"
        );
        upload_all(&at, &gone, options, false).await.context("uploading objects that disappeared again")?;
        let still = not_stored(&at, &gone, 0, options.concurrency).await.context("verifying the release")?;
        if let Some(lost) = still.first() {
            bail!(
                "verifying the release: {} objects are still not in the store after uploading them again \
                 (first: {}); the channel was not changed",
                still.len(),
                lost.key
            );
        }
        report.restored = gone.len();
    }
    tracing::debug!(elapsed = ?started.elapsed(), "verified the release");
    fail_after("verify")?;
    pause_at("verified").await?;

    // The flip, last.
    if live_already {
        report.owed = pending::read(&at, channel, &release).await?;
    } else {
        match flip::flip(&at, channel, &release, &start_state, targets).await? {
            Flipped::Moved { replaced, owed } => {
                // The flip only replaces the pointer this publish started from; should that
                // ever differ, the invalidation is planned against what was replaced.
                if replaced != report.previous {
                    report.previous_manifest = match &replaced {
                        Some(r) => at.read_manifest(r).await.ok().flatten(),
                        None => None,
                    };
                    report.previous = replaced;
                }
                report.flipped = true;
                report.owed = owed;
            }
            Flipped::AlreadyLive => report.owed = pending::read(&at, channel, &release).await?,
        }
    }
    report.elapsed = started.elapsed();
    tracing::debug!(elapsed = ?report.elapsed, "flipped");
    Ok(report)
}
