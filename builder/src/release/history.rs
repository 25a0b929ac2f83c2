//! Release history and garbage collection of an S3 store.
//!
//! **History.** Every successful flip (publish, rollback, promote) leaves its claim behind
//! as `channels/<channel>.claims/<sequence>/<release>.<nonce>.json` (`<release>.json` from
//! flips before claims had unique names: both are read, the release id is the name before
//! the first `.`); those claims, up to the sequence of the channel pointer
//! `channels/<channel>.json`, are the channel's history. Claims above the pointer's
//! sequence are flips in progress or lost, and are not history. A flip that loses
//! withdraws its own claim (never another's) and the winner deletes the stale claims it
//! saw, so a sequence normally holds one claim; where it holds several (a withdrawal that
//! failed, a publisher that died after the winner's look), the pointer's own release wins
//! at its sequence, and elsewhere the smallest release id whose manifest exists, which may
//! misname that one old entry. A pointer written before claims existed (no claim at its
//! sequence) still shows as one entry, dated by the pointer's `published_at`.
//!
//! **Garbage collection.** [`gc`] keeps, for every channel, its live release, the releases
//! of its last `keep` distinct history entries (`--keep 2` keeps what `course rollback`
//! flips to; `--keep 1` only the live one, as asked) and every release named by a claim younger
//! than [`IN_FLIGHT`] above the pointer's sequence (a flip in progress: a publish that
//! has uploaded and verified everything, or a rollback or promote, about to write the
//! pointer), plus any release whose manifest is younger than `grace` (a publish in
//! progress uploads its manifest before it flips). Objects under `objects/` that none of
//! those releases names and that are older than `grace` (by their LastModified) are
//! deleted, with DeleteObjects in batches of up to 1000. The manifests
//! `releases/<id>.json` of releases that are not kept and that would lose an object (or
//! already have) are deleted too, *before* the objects: a release with a manifest but
//! missing objects could otherwise be rolled back to and serve 404s/503s; without its
//! manifest, a flip refuses it and a re-publish restores it whole. Manifests of releases
//! that are not kept but whose objects are all still present stay (they are small and
//! still complete). gc never deletes claims: the history keeps listing collected
//! releases, with 0 routes and 0 objects once their manifest is gone.
//!
//! Safety: nothing is deleted when the plan has more objects than `max_delete` (the whole
//! run aborts), when a kept release's manifest is missing or corrupt, or when a channel
//! moved while planning. A `--grace` under [`SAFE_GRACE`] is warned about: it is shorter
//! than a publish may take. Flips running alongside are safe:
//! - a flip's claim that gc saw while planning keeps its release;
//! - for one claimed after that, gc deletes manifests, *then* lists the claims again, and
//!   puts back (byte for byte, as it read them) the manifest of every release a fresh
//!   claim names, sparing its objects; a flip checks the manifest is there after it
//!   claimed and right before it writes the pointer. So either the flip's check sees the
//!   manifest gone and it gives up, changing nothing, or gc's second look sees the claim
//!   and the release stays whole (the store's list-after-write consistency: the claim
//!   completed before the check, the check started before the deletion completed, and
//!   gc's look starts after it).
//!
//! A publish whose flip has not begun is safe once its manifest is in the store: right
//! before deleting, gc lists `releases/` again and spares every object named by a
//! manifest that appeared (or was written again) since it planned; and a publish uploads
//! its manifest before it checks that every object it names is there, re-uploads what is
//! missing, and only then flips. What remains is a window as long as gc's own deletion
//! requests: a manifest uploaded after gc's second listing of `releases/` whose publish
//! checks its objects before gc's deletions land and claims after gc's second look at the
//! claims. Its live release then misses those objects (the origin answers 502 for them)
//! until a re-publish uploads them again; a `--grace` longer than a publish takes (the
//! default, 24 h) rules that out, since such objects are younger than it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use bundle::paths::{channel_path, release_path};
use bundle::{Manifest, ObjectKey, ReleaseId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use store::{describe, S3Options};

use crate::release::hooks::pause_at;
use crate::release::publish::claim_release;
use crate::release::remote::Location;

/// Claims younger than this (by this machine's clock against the store's LastModified)
/// are flips that may still write the pointer. A flip writes within its 10 s lease or
/// keeps its claim until it is stale (60 s old); the margin covers clock skew between
/// this machine and the store of up to 9 minutes.
pub const IN_FLIGHT: Duration = Duration::from_secs(600);
/// A `--grace` shorter than this is warned about: a large publish takes minutes, and its
/// objects are in the store before any manifest names them.
pub const SAFE_GRACE: Duration = Duration::from_secs(3600);

/// S3 accepts at most this many keys per DeleteObjects request.
const DELETE_BATCH: usize = 1000;
/// Manifest reads in flight.
const CONCURRENCY: usize = 16;

/// One flip of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseEntry {
    pub channel: String,
    pub sequence: u64,
    pub release: ReleaseId,
    /// RFC 3339 UTC, from the claim's LastModified (the pointer's `published_at` for a
    /// pointer without a claim).
    pub published_at: Option<String>,
    /// Routes of the release (0 when its manifest was collected).
    pub routes: usize,
    /// Distinct objects of the release, variants included (0 when its manifest was collected).
    pub objects: usize,
    /// Whether this entry is what the channel serves now (its pointer's sequence).
    pub live: bool,
}

/// What [`gc`] deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcPlan {
    /// Releases whose objects are kept (sorted).
    pub keep: Vec<ReleaseId>,
    /// Store-relative object keys (`objects/<sha256>`), sorted.
    pub delete: Vec<String>,
    /// Bytes of the objects in `delete`.
    pub bytes: u64,
    /// Objects named by no kept release but younger than the grace period (spared).
    pub too_young: usize,
    /// Releases whose manifests (`releases/<id>.json`) are deleted because they lose, or
    /// already lost, an object (sorted).
    pub manifests: Vec<ReleaseId>,
    /// Objects the plan had that a release uploaded while gc was planning names, or that
    /// a flip that claimed while gc deleted needs (spared; only a real run looks again,
    /// right before deleting).
    pub spared: usize,
    /// Releases whose manifests gc deleted and put back because a flip to them claimed its
    /// sequence meanwhile (sorted; not in `manifests`).
    pub restored: Vec<ReleaseId>,
}

/// An S3 client for history and gc: patient timeouts and retries (listing a large
/// bucket takes many pages).
pub async fn client(s3: &S3Options) -> Client {
    store::s3_client(s3, store::Timeouts::HISTORY).await
}

/// Every channel's history from the claims (channels by name, newest first per channel),
/// with counts from each manifest.
pub async fn releases(client: &Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<ReleaseEntry>> {
    let at = Location { client, bucket, prefix };
    Ok(history(&at).await?.entries)
}

/// Deletes the objects that none of the last `keep` releases of any channel (and never
/// a channel's live release, or one a flip in progress claimed) names and
/// that are older than `grace`, with the manifests of the releases that lose objects (see
/// the module docs). When the plan has more than `max_delete` objects, nothing is deleted
/// and the run fails. `dry_run` only plans (and returns the plan even above `max_delete`).
pub async fn gc(
    client: &Client,
    bucket: &str,
    prefix: &str,
    keep: usize,
    grace: Duration,
    max_delete: usize,
    dry_run: bool,
) -> anyhow::Result<GcPlan> {
    let at = Location { client, bucket, prefix };
    let now = SystemTime::now();
    let young = |modified: Option<SystemTime>| match modified {
        // Unknown age: treat as young (never delete what we cannot date).
        None => true,
        Some(t) => now.duration_since(t).unwrap_or_default() < grace,
    };

    if grace < SAFE_GRACE {
        tracing::warn!(
            ?grace, safe = ?SAFE_GRACE,
            "the grace period is shorter than a publish may take: objects a publish in progress uploaded \
             before its manifest names them can be deleted under it (it uploads them again before its flip, \
             but one whose manifest lands while gc deletes can still lose some); run gc with a short grace \
             only when no publish is running"
        );
    }

    let history = history(&at).await?;
    let mut kept: BTreeSet<ReleaseId> = history.live.values().cloned().collect();
    let mut by_channel: BTreeMap<&str, Vec<&ReleaseId>> = BTreeMap::new();
    for entry in &history.entries {
        let seen = by_channel.entry(&entry.channel).or_default();
        if seen.len() < keep && !seen.contains(&&entry.release) {
            seen.push(&entry.release);
        }
    }
    kept.extend(by_channel.into_values().flatten().cloned());

    // Every manifest in the store; recent ones belong to publishes in progress.
    let stored: Vec<(ReleaseId, Option<SystemTime>)> = at
        .list("releases/")
        .await?
        .into_iter()
        .filter_map(|l| Some((l.name.strip_suffix(".json")?.parse().ok()?, l.modified)))
        .collect();
    kept.extend(stored.iter().filter(|(_, modified)| young(*modified)).map(|(id, _)| id.clone()));

    // Releases of flips in progress stay when they are whole enough to flip to (a flip
    // refuses a release without a manifest anyway).
    let spare_if_there: BTreeSet<ReleaseId> =
        history.in_flight.iter().filter(|r| !kept.contains(*r)).cloned().collect();

    let mut manifests = history.manifests;
    let wanted: Vec<ReleaseId> = stored
        .iter()
        .map(|(id, _)| id)
        .chain(&kept)
        .chain(&spare_if_there)
        .filter(|id| !manifests.contains_key(*id))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    manifests.extend(read_manifests(&at, wanted).await?);
    for release in spare_if_there {
        match manifests.get(&release) {
            Some(Ok(Some(_))) => {
                kept.insert(release);
            }
            Some(Err(err)) => {
                tracing::warn!(%release, error = %err, "not keeping a release whose manifest is corrupt")
            }
            _ => tracing::debug!(%release, "a claimed release has no manifest: nothing to keep"),
        }
    }

    let mut referenced: BTreeSet<&ObjectKey> = BTreeSet::new();
    for release in &kept {
        match manifests.get(release) {
            Some(Ok(Some(manifest))) => referenced.extend(manifest.objects()),
            Some(Ok(None)) | None => {
                bail!("the manifest of kept release {release} is missing: refusing to collect anything")
            }
            Some(Err(err)) => {
                bail!("the manifest of kept release {release} is unreadable ({err}): refusing to collect anything")
            }
        }
    }

    let mut plan = GcPlan { keep: kept.iter().cloned().collect(), ..GcPlan::default() };
    let mut remaining: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut listed_objects: Vec<(String, u64)> = Vec::new();
    for listed in at.list("objects/").await? {
        let Ok(key) = listed.name.parse::<ObjectKey>() else { continue };
        listed_objects.push((format!("objects/{key}"), listed.size));
        if referenced.contains(&key) {
            remaining.insert(key);
        } else if young(listed.modified) {
            plan.too_young += 1;
            remaining.insert(key);
        } else {
            plan.delete.push(format!("objects/{key}"));
            plan.bytes += listed.size;
        }
    }
    plan.delete.sort();

    plan.manifests = incomplete(&stored, &kept, &manifests, &remaining, young);
    tracing::info!(
        keep = plan.keep.len(),
        delete = plan.delete.len(),
        bytes = plan.bytes,
        too_young = plan.too_young,
        manifests = plan.manifests.len(),
        dry_run,
        "gc plan"
    );
    if dry_run {
        return Ok(plan);
    }
    if plan.delete.len() > max_delete {
        bail!(
            "gc would delete {} objects ({} bytes), more than the limit of {max_delete}: nothing was deleted \
             (check the plan with a dry run, then raise the limit)",
            plan.delete.len(),
            plan.bytes
        );
    }

    pause_at("gc-planned").await?;
    // A flip while planning could make a planned object live again.
    for (channel, release) in &history.live {
        let now = read_pointer(&at, channel).await?.map(|p| p.release);
        if now.as_ref() != Some(release) {
            bail!(
                "channel {channel} moved from {release} to {} while gc was planning: nothing was deleted, re-run",
                now.map_or_else(|| "nothing".to_owned(), |r| r.to_string())
            );
        }
    }

    // A publish may have uploaded its manifest since `releases/` was listed (a new one, or
    // one written again): everything it names stays, so a publish whose manifest is in the
    // store loses nothing it counted on (it checks every object again before its flip).
    let listed_before: BTreeSet<(&ReleaseId, Option<SystemTime>)> =
        stored.iter().map(|(r, m)| (r, *m)).collect();
    let appeared: Vec<ReleaseId> = at
        .list("releases/")
        .await?
        .into_iter()
        .filter_map(|l| Some((l.name.strip_suffix(".json")?.parse::<ReleaseId>().ok()?, l.modified)))
        .filter(|(id, modified)| !listed_before.contains(&(id, *modified)))
        .map(|(id, _)| id)
        .collect();
    if !appeared.is_empty() {
        let mut spare: BTreeSet<String> = BTreeSet::new();
        for (release, read) in read_manifests(&at, appeared.clone()).await? {
            match read {
                Ok(Some(manifest)) => spare.extend(manifest.objects().iter().map(|k| format!("objects/{k}"))),
                // Deleted again since the listing: it names nothing any more.
                Ok(None) => {}
                Err(err) => bail!(
                    "release {release} was uploaded while gc was planning and its manifest is unreadable \
                     ({err}): nothing was deleted"
                ),
            }
        }
        let before = plan.delete.len();
        let sizes: HashMap<String, u64> = listed_objects.iter().cloned().collect();
        plan.delete.retain(|key| !spare.contains(key));
        plan.spared = before - plan.delete.len();
        plan.bytes = plan.delete.iter().map(|key| sizes.get(key).copied().unwrap_or_default()).sum();
        // What stays now: the spared objects that are in the store.
        remaining.extend(
            spare
                .iter()
                .filter(|k| sizes.contains_key(*k))
                .filter_map(|k| k.strip_prefix("objects/")?.parse::<ObjectKey>().ok()),
        );
        plan.manifests = incomplete(&stored, &kept, &manifests, &remaining, young);
        // A manifest written again (an old release being published again) stays too.
        plan.manifests.retain(|release| !appeared.contains(release));
        tracing::info!(spared = plan.spared, "gc spared the objects of releases uploaded while it planned");
    }

    // The manifests first, keeping their bytes: a flip that claims after gc's listing of
    // the claims may have checked one of them already (see the module docs).
    let doomed = read_raw(&at, &plan.manifests).await?;
    let manifest_keys: Vec<String> = plan.manifests.iter().map(release_path).collect();
    at.delete_all(&manifest_keys).await.context("deleting release manifests")?;
    pause_at("gc-manifests-deleted").await?;
    spare_claimed(&at, &mut plan, &listed_objects, doomed, &manifests, &history.sequences).await?;
    at.delete_all(&plan.delete).await.context("deleting objects")?;
    Ok(plan)
}

/// The bytes of the manifests of `releases` that are in the store and hash to their id.
async fn read_raw(at: &Location<'_>, releases: &[ReleaseId]) -> anyhow::Result<BTreeMap<ReleaseId, Vec<u8>>> {
    let mut raw = BTreeMap::new();
    for release in releases {
        let Some((bytes, _)) = at.get(&release_path(release)).await? else { continue };
        if bundle::manifest::release_id_of(&bytes) == *release {
            raw.insert(release.clone(), bytes);
        }
    }
    Ok(raw)
}

/// After gc deleted the manifests of its plan: lists the claims again and, for every
/// release a fresh claim above its channel's pointer names (a flip that may be about to write the pointer), puts its
/// manifest back if gc deleted it (`doomed` holds the bytes) and spares its objects.
async fn spare_claimed(
    at: &Location<'_>,
    plan: &mut GcPlan,
    listed_objects: &[(String, u64)],
    doomed: BTreeMap<ReleaseId, Vec<u8>>,
    known: &HashMap<ReleaseId, Read>,
    sequences: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let (_, claims) = list_channels(at).await?;
    // Above the sequences gc planned with: a flip that completed since is above them too.
    let claimed: BTreeSet<ReleaseId> = in_flight(&claims, sequences, SystemTime::now())
        .into_iter()
        .filter(|release| !plan.keep.contains(release))
        .collect();
    if claimed.is_empty() {
        return Ok(());
    }
    let mut spare: BTreeSet<String> = BTreeSet::new();
    let unknown: Vec<ReleaseId> = claimed.iter().filter(|r| !known.contains_key(*r)).cloned().collect();
    let read_now = read_manifests(at, unknown).await?;
    for release in &claimed {
        if let Some(bytes) = doomed.get(release) {
            at.put_small(
                &release_path(release),
                bytes.clone(),
                bundle::CacheClass::Immutable.cache_control(),
            )
            .await
            .with_context(|| {
                format!("putting back the manifest of release {release}, which a flip claimed")
            })?;
            tracing::warn!(%release, "a flip claimed a release while gc deleted its manifest: put it back");
            plan.manifests.retain(|r| r != release);
            plan.restored.push(release.clone());
        }
        if let Some(Ok(Some(manifest))) = known.get(release).or_else(|| read_now.get(release)) {
            spare.extend(manifest.objects().iter().map(|k| format!("objects/{k}")));
        }
    }
    let before = plan.delete.len();
    plan.delete.retain(|key| !spare.contains(key));
    if plan.delete.len() != before {
        let sizes: HashMap<&str, u64> = listed_objects.iter().map(|(k, s)| (k.as_str(), *s)).collect();
        plan.spared += before - plan.delete.len();
        plan.bytes = plan.delete.iter().map(|key| sizes.get(key.as_str()).copied().unwrap_or_default()).sum();
        tracing::info!(
            spared = before - plan.delete.len(),
            "gc spared the objects of releases flips claimed meanwhile"
        );
    }
    Ok(())
}

/// Whether a claim last modified at `modified` may belong to a flip that still writes.
fn is_fresh(now: SystemTime, modified: Option<SystemTime>) -> bool {
    // Unknown age: fresh (never drop what we cannot date).
    modified.is_none_or(|t| now.duration_since(t).unwrap_or_default() < IN_FLIGHT)
}

/// The releases of fresh claims above their channel's pointer sequence in `sequences`
/// (any claim of a channel without a pointer): flips in progress. Claims at or below it
/// are history, however young.
fn in_flight(
    claims: &ClaimsByChannel,
    sequences: &BTreeMap<String, u64>,
    now: SystemTime,
) -> BTreeSet<ReleaseId> {
    let mut in_flight = BTreeSet::new();
    for (channel, by_sequence) in claims {
        let above = sequences.get(channel).copied().unwrap_or(0);
        for (_, candidates) in by_sequence.range(above.saturating_add(1)..) {
            let fresh = candidates.iter().filter(|(_, modified)| is_fresh(now, *modified));
            in_flight.extend(fresh.map(|(release, _)| release.clone()));
        }
    }
    in_flight
}

/// The releases (sorted) whose manifests are deleted: not kept, not young, and naming an
/// object that is not in `remaining` (lost already, or about to be).
fn incomplete(
    stored: &[(ReleaseId, Option<SystemTime>)],
    kept: &BTreeSet<ReleaseId>,
    manifests: &HashMap<ReleaseId, Read>,
    remaining: &BTreeSet<ObjectKey>,
    young: impl Fn(Option<SystemTime>) -> bool,
) -> Vec<ReleaseId> {
    let mut incomplete: Vec<ReleaseId> = stored
        .iter()
        .filter(|(release, modified)| !kept.contains(release) && !young(*modified))
        .filter(|(release, _)| match manifests.get(release) {
            Some(Ok(Some(manifest))) => manifest.objects().iter().any(|key| !remaining.contains(*key)),
            _ => false,
        })
        .map(|(release, _)| release.clone())
        .collect();
    incomplete.sort();
    incomplete
}

impl Location<'_> {
    /// Deletes store-relative `paths` with DeleteObjects, up to [`DELETE_BATCH`] at a time.
    async fn delete_all(&self, paths: &[String]) -> anyhow::Result<()> {
        let mut deleted = 0;
        for batch in paths.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|path| ObjectIdentifier::builder().key(self.key(path)).build())
                .collect::<Result<Vec<_>, _>>()
                .context("building a delete request")?;
            let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build()?;
            let output = self
                .client
                .delete_objects()
                .bucket(self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| anyhow!("DeleteObjects in s3://{}: {}", self.bucket, describe(&e)))?;
            if let Some(error) = output.errors().first() {
                bail!(
                    "DeleteObjects in s3://{}: {} of {} keys failed after {deleted} were deleted, first {}: {} {}",
                    self.bucket,
                    output.errors().len(),
                    batch.len(),
                    error.key().unwrap_or("?"),
                    error.code().unwrap_or("error"),
                    error.message().unwrap_or_default()
                );
            }
            deleted += batch.len();
        }
        Ok(())
    }
}

/// The fields of a channel pointer history needs (the publisher adds `sequence`).
#[derive(Deserialize)]
struct Pointer {
    release: ReleaseId,
    #[serde(default)]
    previous: Option<ReleaseId>,
    #[serde(default)]
    published_at: Option<String>,
    #[serde(default)]
    sequence: u64,
}

async fn read_pointer(at: &Location<'_>, channel: &str) -> anyhow::Result<Option<Pointer>> {
    let path = channel_path(channel).ok_or_else(|| anyhow!("bad channel name {channel:?}"))?;
    let Some((bytes, _etag)) = at.get(&path).await? else { return Ok(None) };
    let pointer = serde_json::from_slice(&bytes)
        .with_context(|| format!("s3 {} is not a channel pointer", at.key(&path)))?;
    Ok(Some(pointer))
}

/// A manifest as read: `Ok(None)` when it is not in the store, `Err` when it is corrupt.
type Read = Result<Option<Manifest>, String>;

async fn read_manifest(at: &Location<'_>, release: &ReleaseId) -> anyhow::Result<Read> {
    let path = release_path(release);
    let Some((bytes, _etag)) = at.get(&path).await? else { return Ok(Ok(None)) };
    if bundle::manifest::release_id_of(&bytes) != *release {
        return Ok(Err(format!("s3 {} does not hash to its release id", at.key(&path))));
    }
    Ok(Manifest::from_bytes(&bytes).map(Some).map_err(|e| format!("s3 {}: {e}", at.key(&path))))
}

async fn read_manifests(
    at: &Location<'_>,
    releases: Vec<ReleaseId>,
) -> anyhow::Result<HashMap<ReleaseId, Read>> {
    futures::stream::iter(releases)
        .map(|release| async move {
            let read = read_manifest(at, &release).await?;
            Ok((release, read))
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<anyhow::Result<(ReleaseId, Read)>>>()
        .await
        .into_iter()
        .collect()
}

/// The claims at one sequence: (release, LastModified).
type Claims = Vec<(ReleaseId, Option<SystemTime>)>;

struct History {
    entries: Vec<ReleaseEntry>,
    /// What each channel serves.
    live: BTreeMap<String, ReleaseId>,
    /// Each channel's pointer sequence.
    sequences: BTreeMap<String, u64>,
    /// Releases of fresh claims above their channel's pointer (flips in progress).
    in_flight: BTreeSet<ReleaseId>,
    manifests: HashMap<ReleaseId, Read>,
}

/// channel -> sequence -> claims.
type ClaimsByChannel = BTreeMap<String, BTreeMap<u64, Claims>>;

/// One listing of `channels/`: the channels with a pointer, and every claim.
async fn list_channels(at: &Location<'_>) -> anyhow::Result<(BTreeSet<String>, ClaimsByChannel)> {
    let mut claims: ClaimsByChannel = BTreeMap::new();
    let mut channels: BTreeSet<String> = BTreeSet::new();
    for listed in at.list("channels/").await? {
        if let Some(channel) = listed.name.strip_suffix(".json").filter(|c| !c.contains('/')) {
            if channel_path(channel).is_some() {
                channels.insert(channel.to_owned());
            }
            continue;
        }
        let mut parts = listed.name.split('/');
        let (Some(dir), Some(sequence), Some(file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Some(channel), Ok(sequence), Some(release)) =
            (dir.strip_suffix(".claims"), sequence.parse::<u64>(), claim_release(file))
        else {
            continue;
        };
        claims
            .entry(channel.to_owned())
            .or_default()
            .entry(sequence)
            .or_default()
            .push((release, listed.modified));
    }
    Ok((channels, claims))
}

async fn history(at: &Location<'_>) -> anyhow::Result<History> {
    let (channels, claims) = list_channels(at).await?;

    let mut pointers = BTreeMap::new();
    for channel in &channels {
        // A pointer that vanished between listing and reading is no channel.
        if let Some(pointer) = read_pointer(at, channel).await? {
            pointers.insert(channel.clone(), pointer);
        }
    }
    let every_release: BTreeSet<ReleaseId> = pointers
        .values()
        .flat_map(|p| std::iter::once(p.release.clone()).chain(p.previous.clone()))
        .chain(claims.values().flat_map(|s| s.values().flatten().map(|(r, _)| r.clone())))
        .collect();

    let sequences: BTreeMap<String, u64> = pointers.iter().map(|(c, p)| (c.clone(), p.sequence)).collect();
    let in_flight = in_flight(&claims, &sequences, SystemTime::now());
    let manifests = read_manifests(at, every_release.into_iter().collect()).await?;
    let exists = |r: &ReleaseId| matches!(manifests.get(r), Some(Ok(Some(_))));

    let mut entries = Vec::new();
    let mut live = BTreeMap::new();
    for (channel, pointer) in &pointers {
        live.insert(channel.clone(), pointer.release.clone());
        let empty = BTreeMap::new();
        let sequences = claims.get(channel).unwrap_or(&empty);
        let mut found: Vec<(u64, ReleaseId, Option<String>)> = Vec::new();
        for (&sequence, candidates) in sequences.range(..=pointer.sequence).rev() {
            let chosen = if sequence == pointer.sequence {
                candidates.iter().find(|(r, _)| *r == pointer.release)
            } else {
                candidates.iter().filter(|(r, _)| exists(r)).min_by(|a, b| a.0.cmp(&b.0))
            }
            .or_else(|| candidates.iter().min_by(|a, b| a.0.cmp(&b.0)));
            let Some((release, modified)) = chosen else { continue };
            let release =
                if sequence == pointer.sequence { pointer.release.clone() } else { release.clone() };
            let at_time = modified.map(|t| humantime::format_rfc3339_seconds(t).to_string());
            found.push((sequence, release, at_time));
        }
        if found.first().is_none_or(|(s, _, _)| *s != pointer.sequence) {
            found.insert(0, (pointer.sequence, pointer.release.clone(), pointer.published_at.clone()));
        }
        for (sequence, release, published_at) in found {
            let (routes, objects) = match manifests.get(&release) {
                Some(Ok(Some(m))) => (m.routes.len(), m.objects().len()),
                // A corrupt manifest (store damage, a hostile writer) is shown as empty, not
                // a reason to refuse the whole history: gc refuses only a corrupt *kept* one.
                Some(Err(err)) => {
                    tracing::warn!(%release, error = %err, "a release in the history has a corrupt manifest");
                    (0, 0)
                }
                _ => (0, 0),
            };
            entries.push(ReleaseEntry {
                channel: channel.clone(),
                live: sequence == pointer.sequence,
                sequence,
                release,
                published_at,
                routes,
                objects,
            });
        }
    }
    Ok(History { entries, live, sequences, in_flight, manifests })
}

/// `course releases`: one line per flip, channels by name, newest first.
pub struct ReleaseTable<'a>(pub &'a [ReleaseEntry]);

impl std::fmt::Display for ReleaseTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "channel  seq  release               published at          routes  objects")?;
        for e in self.0 {
            let when = e.published_at.as_deref().unwrap_or("-");
            let live = if e.live { "  (live)" } else { "" };
            writeln!(
                f,
                "{:<8} {:>4}  {}  {:<20}  {:>6}  {:>7}{live}",
                e.channel, e.sequence, e.release, when, e.routes, e.objects
            )?;
        }
        Ok(())
    }
}

/// `course gc`: what a run deleted, or a dry run would delete.
pub struct GcSummary<'a> {
    pub plan: &'a GcPlan,
    pub dry_run: bool,
}

impl std::fmt::Display for GcSummary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plan = self.plan;
        let verb = if self.dry_run { "would delete" } else { "deleted" };
        let kept: Vec<String> = plan.keep.iter().map(ToString::to_string).collect();
        let spared = match plan.spared {
            0 => String::new(),
            n => format!("; spared {n} objects of releases uploaded or claimed while gc ran"),
        };
        let restored = match plan.restored.len() {
            0 => String::new(),
            n => format!("; put back {n} manifests of releases a flip claimed while gc ran"),
        };
        writeln!(
            f,
            "{verb} {} objects ({}) and {} old manifests; {} objects too young{spared}{restored}; kept releases: {}",
            plan.delete.len(),
            bundle::size::human_bytes(plan.bytes),
            plan.manifests.len(),
            plan.too_young,
            kept.join(" ")
        )
    }
}
