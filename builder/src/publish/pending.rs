//! What the caches still owe a live release: the pending-invalidation record, so that an
//! invalidation that failed after the flip is finished by the next run.
//!
//! Every flip writes `channels/<channel>.pending/<release>.json` = `{release, since}`
//! while it holds its claim, right before the pointer write: `since` lists the releases
//! whose pages caches may still hold, that is the release the flip replaces plus the
//! `since` of that release's own record, when one is left (its invalidation never
//! finished), minus the new release. Once every target's invalidation succeeded the record
//! is deleted ([`settle`]). So:
//! - a run whose invalidation fails leaves the record, and re-running it (a publish of the
//!   already-live release, `course rollback --to` it, or the same promote) finds the record
//!   of the live release and invalidates `diff(s, live)` for every `s` in `since`;
//! - a later flip folds the record into its own: when A's invalidation failed and B is
//!   published, B's plan covers what A changed too.
//!
//! A release whose manifest has gone meanwhile (collected) cannot be diffed; every page is
//! then invalidated (`/*`; every stable route of the live release for purges).
//!
//! There is one record per release rather than one per channel so that concurrent runs
//! never clobber each other's: the deletion after a finished invalidation removes only
//! that release's record, not one a newer flip has just written. Records of releases that
//! are not live are leftovers (a flip that failed after writing it, or a record folded
//! into a newer one); they are read only when their release is live again, and the flip
//! that makes it live writes a new one first. A run with no invalidation target (no
//! `--cdn`, `--purge`, `--notify`) owes nothing and deletes the record it wrote.

use std::collections::BTreeSet;

use anyhow::Context;
use bundle::{Manifest, ReleaseId};
use serde::{Deserialize, Serialize};

use super::Location;
use crate::invalidate::{self, InvalidationReport, Old, Plan, Target};

/// The invalidation a live release is owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The release the caches must serve.
    pub release: ReleaseId,
    /// Releases whose pages the caches may still hold (sorted, never `release`).
    pub since: Vec<ReleaseId>,
}

/// `channels/<channel>.pending/<release>.json`.
pub fn record_path(channel: &str, release: &ReleaseId) -> String {
    format!("channels/{channel}.pending/{release}.json")
}

/// The record a flip from `replaced` (with its own record `left`, if any) to `release`
/// writes; `None` when there is nothing to invalidate (a channel's first release).
pub fn next(release: &ReleaseId, replaced: Option<&ReleaseId>, left: Option<&Pending>) -> Option<Pending> {
    let since: BTreeSet<ReleaseId> = left
        .into_iter()
        .flat_map(|p| p.since.iter())
        .chain(replaced)
        .filter(|r| *r != release)
        .cloned()
        .collect();
    (!since.is_empty()).then(|| Pending { release: release.clone(), since: since.into_iter().collect() })
}

/// The record of `release` on `channel`, if one is left.
pub(crate) async fn read(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
) -> anyhow::Result<Option<Pending>> {
    let path = record_path(channel, release);
    let Some((bytes, _)) = at.get(&path).await? else { return Ok(None) };
    let record: Pending = serde_json::from_slice(&bytes)
        .with_context(|| format!("s3 {} is not a pending-invalidation record (delete it)", at.key(&path)))?;
    Ok((record.release == *release).then_some(record))
}

/// What a flip to `release` from `replaced` owes, without writing it (a dry run).
pub(crate) async fn plan_record(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    replaced: Option<&ReleaseId>,
) -> anyhow::Result<Option<Pending>> {
    let left = match replaced {
        Some(replaced) => read(at, channel, replaced).await?,
        None => None,
    };
    Ok(next(release, replaced, left.as_ref()))
}

/// Writes the record a flip from `replaced` to `release` owes (the flip calls this under
/// its claim); a stale record of `release` is deleted when nothing is owed.
pub(crate) async fn record(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    replaced: Option<&ReleaseId>,
) -> anyhow::Result<Option<Pending>> {
    let owed = plan_record(at, channel, release, replaced).await?;
    let path = record_path(channel, release);
    match &owed {
        Some(record) => {
            let bytes = serde_json::to_vec_pretty(record).context("serialising the pending invalidation")?;
            at.put_small(&path, bytes, "no-store").await?;
        }
        None => at.delete(&path).await?,
    }
    Ok(owed)
}

/// The plan of `owed` for the live release `live`: the union of `diff(s, live)` over
/// `since`. Manifests already at hand are passed in `known`; the others are read, and one
/// that is gone (or corrupt) stands for "anything may have changed".
pub(crate) async fn plan(
    at: &Location<'_>,
    owed: &Pending,
    live: &Manifest,
    known: &[(&ReleaseId, &Manifest)],
    budget: usize,
) -> anyhow::Result<Plan> {
    let mut read = Vec::new();
    for release in &owed.since {
        if known.iter().any(|(id, _)| *id == release) {
            continue;
        }
        read.push((release, at.read_manifest(release).await.unwrap_or_else(|err| {
            tracing::warn!(%release, error = %format!("{err:#}"), "an earlier release's manifest is unreadable");
            None
        })));
    }
    let olds: Vec<Old<'_>> = owed
        .since
        .iter()
        .map(|release| match known.iter().find(|(id, _)| *id == release) {
            Some((_, manifest)) => Old::Release(manifest),
            None => match read.iter().find(|(id, _)| *id == release) {
                Some((_, Some(manifest))) => Old::Release(manifest),
                _ => Old::Unknown,
            },
        })
        .collect();
    Ok(invalidate::plan_since(&olds, live, budget))
}

/// Sends the owed invalidation to `targets` and deletes the record once every target
/// succeeded. A failure keeps the record, and the error says how to finish the job.
pub(crate) async fn settle(
    at: &Location<'_>,
    channel: &str,
    owed: &Pending,
    plan: &Plan,
    targets: &[Target],
    wait: bool,
) -> anyhow::Result<Vec<InvalidationReport>> {
    let mut reports = Vec::new();
    if !plan.is_empty() && !targets.is_empty() {
        reports = invalidate::invalidate(plan, &owed.release, targets, wait).await.with_context(|| {
            format!(
                "release {} is live on channel {channel}, but its invalidation did not finish (kept in \
                 s3://{}/{}): re-run the same command to finish it",
                owed.release,
                at.bucket,
                at.key(&record_path(channel, &owed.release))
            )
        })?;
    }
    if let Err(err) = at.delete(&record_path(channel, &owed.release)).await {
        // Harmless: the next run invalidates the same paths again.
        tracing::warn!(error = %format!("{err:#}"), "deleting the finished pending invalidation failed");
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> ReleaseId {
        c.to_string().repeat(20).parse().expect("release id")
    }

    #[test]
    fn a_flip_owes_the_release_it_replaced() {
        assert_eq!(
            next(&id('b'), Some(&id('a')), None),
            Some(Pending { release: id('b'), since: vec![id('a')] })
        );
        assert_eq!(next(&id('a'), None, None), None, "a channel's first release owes nothing");
    }

    #[test]
    fn what_an_unfinished_invalidation_owed_is_carried_over() {
        // a -> b failed to invalidate; b -> c owes both a and b.
        let left = Pending { release: id('b'), since: vec![id('a')] };
        let owed = next(&id('c'), Some(&id('b')), Some(&left)).expect("owed");
        assert_eq!(owed.since, vec![id('a'), id('b')]);
        // A rollback from b to a owes b only: caches holding a's pages hold the target's.
        let owed = next(&id('a'), Some(&id('b')), Some(&left)).expect("owed");
        assert_eq!(owed.since, vec![id('b')]);
    }

    #[test]
    fn records_round_trip_and_name_their_release() {
        let record = Pending { release: id('c'), since: vec![id('a'), id('b')] };
        let bytes = serde_json::to_vec(&record).expect("json");
        assert_eq!(serde_json::from_slice::<Pending>(&bytes).expect("parse"), record);
        assert_eq!(record_path("live", &id('c')), format!("channels/live.pending/{}.json", id('c')));
    }
}
