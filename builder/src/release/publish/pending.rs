//! What the caches still owe a live release: the pending-invalidation record, so that an
//! invalidation that failed after the flip is finished by a later run, and never dropped
//! by a run that did not send it.
//!
//! Every flip writes `channels/<channel>.pending/<release>.json` =
//! `{release, since, targets}` while it holds its claim, right before the pointer write:
//! `since` lists the releases whose pages caches may still hold, that is the release the
//! flip replaces plus the `since` of that release's own record, when one is left (its
//! invalidation never finished), minus the new release; `targets` lists the invalidation
//! targets that owe it ([`Target::key`]: `cloudfront:<id>`, `purge:<edge>`,
//! `notify:<origin>`, never a token): the run's own targets plus those the replaced
//! release's record still listed. [`settle`] sends the plan to the run's targets, removes
//! each one that succeeded from the record (adds each one that failed) and deletes the
//! record only once no target owes anything. So:
//! - a run whose invalidation fails leaves the record, and the error names the exact
//!   command that finishes it (for a rollback: `course rollback --to <live>`, which flips
//!   nothing; a plain re-run would flip again);
//! - a run with no targets (no `--cdn`, `--purge`, `--notify`) never clears a record: it
//!   says what is still owed and how to finish;
//! - a run whose targets all succeeded but that did not name every recorded one clears
//!   only its own, and says which are still owed;
//! - a later flip folds the record into its own: when A's invalidation failed and B is
//!   published, B's plan covers what A changed too, and B's record is owed by A's
//!   unfinished targets as well.
//!
//! A release whose manifest has gone meanwhile (collected) cannot be diffed; every page is
//! then invalidated (`/*`; every stable route of the live release for purges). So is a
//! record whose `since` lists more than [`MAX_SINCE`] releases, without reading their
//! manifests (records are store contents: a huge one must not stall a publish).
//!
//! There is one record per release rather than one per channel so that concurrent runs
//! never clobber each other's: the deletion after a finished invalidation removes only
//! that release's record, not one a newer flip has just written. Records of releases that
//! are not live are leftovers (a flip that failed after writing it, or a record folded
//! into a newer one); they are read only when their release is live again, and the flip
//! that makes it live writes a new one first. A flip that no target owes anything (no
//! targets, none left over) writes no record. A record written before targets were
//! recorded (no `targets`) is owed by whichever targets the next run names.
//!
//! What this does not track: an edge purged while an origin behind it still served the
//! old release (its notify failed) may fetch the old page again; name every target when
//! finishing after a failed `--notify`.

use std::collections::BTreeSet;

use anyhow::Context;
use bundle::{Manifest, ReleaseId};
use serde::{Deserialize, Serialize};

use super::Location;
use crate::release::invalidate::{self, InvalidationReport, Old, Plan, Target};

/// Above this many releases in `since`, the plan is `/*` and no manifest is read.
pub const MAX_SINCE: usize = 64;
/// Most targets a record carries forward: far more than any deployment's edges, origins
/// and distributions; past it a record is damaged or hostile, and its extra targets are
/// dropped (with a warning) rather than copied into every later record and command.
pub const MAX_TARGETS: usize = 1000;
/// Largest record read (one at its bounds is about 70 KB; older ones could list far more
/// `since` ids, which the plan bounds).
const MAX_RECORD_BYTES: usize = 16 << 20;
/// Releases and targets a message lists before it says "and N more".
const SHOWN: usize = 5;

/// The invalidation a live release is owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The release the caches must serve.
    pub release: ReleaseId,
    /// Releases whose pages the caches may still hold (sorted, never `release`).
    pub since: Vec<ReleaseId>,
    /// The targets that still owe the invalidation ([`Target::key`], sorted); `None` in a
    /// record written before targets were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
}

impl Pending {
    /// The targets recorded as still owing (none known for an old record).
    pub fn owed_by(&self) -> &[String] {
        self.targets.as_deref().unwrap_or_default()
    }
}

/// How to finish an invalidation a run left owing: the command without its target flags
/// (each owing target's are appended), and what to know before running it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub command: String,
    pub note: Option<String>,
}

impl Finish {
    /// The whole command for the targets `owing` (those it cannot name are left out).
    fn line(&self, owing: &[String]) -> String {
        let mut line = self.command.clone();
        for flags in owing.iter().filter_map(|key| invalidate::target_flags(key)) {
            line.push(' ');
            line.push_str(&flags);
        }
        line
    }
}

/// What [`settle`] did.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    pub reports: Vec<InvalidationReport>,
    /// Targets that still owe the invalidation after this run (the record stays).
    pub owing: Vec<String>,
    /// Whether the record predates per-target tracking and this run did not settle it.
    pub owing_unknown: bool,
    /// The command that finishes it, when something is still owed.
    pub finish: Option<String>,
    /// The record that says so, `s3://bucket/key`.
    pub record: String,
}

impl Settled {
    /// A notice about what is still owed, or `None` when nothing is.
    pub fn notice(&self) -> Option<String> {
        if self.owing.is_empty() && !self.owing_unknown {
            return None;
        }
        let who = if self.owing.is_empty() {
            "the targets of an earlier run (its record does not name them)".to_owned()
        } else {
            show_keys(&self.owing)
        };
        let finish =
            self.finish.as_deref().unwrap_or("the same command with your --cdn/--purge/--notify flags");
        Some(format!(
            "invalidation still owed by {who} (recorded in {}); finish it with: {finish}\n(a target that is gone \
             for good is dropped by deleting that record)",
            self.record
        ))
    }
}

/// Targets as a message shows them: store contents, so anything odd is escaped.
fn show_keys(keys: &[String]) -> String {
    let mut shown: Vec<String> = keys
        .iter()
        .take(SHOWN)
        .map(|k| if invalidate::target_flags(k).is_some() { k.clone() } else { format!("{k:?}") })
        .collect();
    if keys.len() > SHOWN {
        shown.push(format!("and {} more", keys.len() - SHOWN));
    }
    shown.join(", ")
}

/// Release ids as a message shows them, at most [`SHOWN`].
pub fn show_releases(releases: &[ReleaseId]) -> String {
    let mut shown: Vec<String> = releases.iter().take(SHOWN).map(ToString::to_string).collect();
    if releases.len() > SHOWN {
        shown.push(format!("and {} more", releases.len() - SHOWN));
    }
    shown.join(", ")
}

/// `channels/<channel>.pending/<release>.json`.
pub fn record_path(channel: &str, release: &ReleaseId) -> String {
    format!("channels/{channel}.pending/{release}.json")
}

/// The record a flip from `replaced` (with its own record `left`, if any) to `release`
/// owes, with `targets` (keys) owing it besides those `left` still listed; `None` when
/// there is nothing to invalidate (a channel's first release).
pub fn next(
    release: &ReleaseId,
    replaced: Option<&ReleaseId>,
    left: Option<&Pending>,
    targets: &[String],
) -> Option<Pending> {
    let since: BTreeSet<ReleaseId> = left
        .into_iter()
        .flat_map(|p| p.since.iter())
        .chain(replaced)
        .filter(|r| *r != release)
        .cloned()
        .collect();
    if since.is_empty() {
        return None;
    }
    // Past the bound the plan is `/*` whatever the list holds: keep it just past it.
    let since: Vec<ReleaseId> = since.into_iter().take(MAX_SINCE + 1).collect();
    // The run's own targets always; what the replaced record still listed, up to the bound.
    let carried = left.into_iter().flat_map(Pending::owed_by).take(MAX_TARGETS);
    let owed_by: BTreeSet<String> = targets.iter().chain(carried).cloned().collect();
    Some(Pending { release: release.clone(), since, targets: Some(owed_by.into_iter().collect()) })
}

/// The record of `release` on `channel`, if one is left.
pub(crate) async fn read(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
) -> anyhow::Result<Option<Pending>> {
    let path = record_path(channel, release);
    let Some((bytes, _)) = at.get(&path).await? else { return Ok(None) };
    if bytes.len() > MAX_RECORD_BYTES {
        anyhow::bail!(
            "s3 {} is {} bytes, more than a pending-invalidation record can be ({MAX_RECORD_BYTES}): it is damaged \
             (delete it; the next publish then invalidates what it changed)",
            at.key(&path),
            bytes.len()
        );
    }
    let mut record: Pending = serde_json::from_slice(&bytes)
        .with_context(|| format!("s3 {} is not a pending-invalidation record (delete it)", at.key(&path)))?;
    if let Some(targets) = record.targets.as_mut().filter(|t| t.len() > MAX_TARGETS) {
        tracing::warn!(
            record = %at.key(&path), targets = targets.len(), kept = MAX_TARGETS,
            "a pending-invalidation record lists more targets than any deployment has: keeping the first"
        );
        targets.truncate(MAX_TARGETS);
    }
    Ok((record.release == *release).then_some(record))
}

/// What a flip to `release` from `replaced` owes `targets`, without writing it (a dry run).
pub(crate) async fn plan_record(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    replaced: Option<&ReleaseId>,
    targets: &[Target],
) -> anyhow::Result<Option<Pending>> {
    let left = match replaced {
        Some(replaced) => read(at, channel, replaced).await?,
        None => None,
    };
    let keys: Vec<String> = targets.iter().map(Target::key).collect();
    Ok(next(release, replaced, left.as_ref(), &keys))
}

/// Writes the record a flip from `replaced` to `release` owes `targets` (the flip calls
/// this under its claim); when no target owes it, writes none and deletes a stale one.
pub(crate) async fn record(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    replaced: Option<&ReleaseId>,
    targets: &[Target],
) -> anyhow::Result<Option<Pending>> {
    let owed = plan_record(at, channel, release, replaced, targets).await?;
    let path = record_path(channel, release);
    match owed.as_ref().filter(|p| !p.owed_by().is_empty()) {
        Some(record) => write(at, &path, record).await?,
        None => at.delete(&path).await?,
    }
    Ok(owed)
}

async fn write(at: &Location<'_>, path: &str, record: &Pending) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).context("serialising the pending invalidation")?;
    at.put_small(path, bytes, "no-store").await
}

/// The plan of `owed` for the live release `live`: the union of `diff(s, live)` over
/// `since`. Manifests already at hand are passed in `known`; the others are read, and one
/// that is gone (or corrupt) stands for "anything may have changed", as does a `since`
/// longer than [`MAX_SINCE`] (then nothing is read).
pub(crate) async fn plan(
    at: &Location<'_>,
    owed: &Pending,
    live: &Manifest,
    known: &[(&ReleaseId, &Manifest)],
    budget: usize,
) -> anyhow::Result<Plan> {
    if owed.since.len() > MAX_SINCE {
        tracing::warn!(
            release = %owed.release, since = owed.since.len(), bound = MAX_SINCE,
            "the pending invalidation names too many earlier releases to diff: invalidating every page"
        );
        return Ok(invalidate::plan_since(&[Old::Unknown], live, budget));
    }
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

/// Sends the owed invalidation to `targets` and updates the record: each target that
/// succeeded no longer owes it, each that failed does; the record is deleted once no
/// target owes anything (see the module docs). A run with no targets sends nothing and
/// keeps the record. A failure is an error that names what is still owed and the command
/// that finishes it (`finish`).
pub(crate) async fn settle(
    at: &Location<'_>,
    channel: &str,
    owed: &Pending,
    plan: &Plan,
    targets: &[Target],
    wait: bool,
    finish: &Finish,
) -> anyhow::Result<Settled> {
    let path = record_path(channel, &owed.release);
    let record = format!("s3://{}/{}", at.bucket, at.key(&path));
    let mut owing: BTreeSet<String> = owed.owed_by().iter().cloned().collect();
    let unknown = owed.targets.is_none();
    let settled = |reports, owing: BTreeSet<String>, owing_unknown| {
        let owing: Vec<String> = owing.into_iter().collect();
        let finish = (!owing.is_empty() || owing_unknown).then(|| finish.line(&owing));
        Settled { reports, owing, owing_unknown, finish, record: record.clone() }
    };
    if plan.is_empty() {
        // Nothing any cache holds differs from the live release: nothing is owed.
        delete_record(at, &path).await;
        return Ok(settled(Vec::new(), BTreeSet::new(), false));
    }
    if targets.is_empty() {
        let result = settled(Vec::new(), owing, unknown);
        if let Some(notice) = result.notice() {
            tracing::warn!("this run names no invalidation target, so it sent nothing; {notice}");
        }
        return Ok(result);
    }

    let outcomes = invalidate::invalidate_each(plan, &owed.release, targets, wait).await;
    let failures = invalidate::failure_summary(&outcomes);
    let mut reports = Vec::new();
    for (target, result) in outcomes {
        match result {
            Ok(report) => {
                owing.remove(&target.key());
                reports.push(report);
            }
            Err(_) => {
                owing.insert(target.key());
            }
        }
    }
    let result = settled(reports, owing, false);
    if result.owing.is_empty() {
        delete_record(at, &path).await;
    } else if result.owing != owed.owed_by() {
        let update = Pending { targets: Some(result.owing.clone()), ..owed.clone() };
        if let Err(err) = write(at, &path, &update).await {
            // The record as it was still lists every target this run left owing.
            tracing::warn!(error = %format!("{err:#}"), record, "updating the pending invalidation failed");
        }
    }
    let Some(failures) = failures else { return Ok(result) };
    let note = finish.note.as_deref().map(|n| format!("\n{n}")).unwrap_or_default();
    anyhow::bail!(
        "release {} is live on channel {channel}, but its {failures}.\nStill owed by {} (recorded in {record}); \
         finish it with:\n  {}{note}",
        owed.release,
        show_keys(&result.owing),
        result.finish.as_deref().unwrap_or_default(),
    )
}

async fn delete_record(at: &Location<'_>, path: &str) {
    if let Err(err) = at.delete(path).await {
        // Harmless: the next run invalidates the same paths again.
        tracing::warn!(error = %format!("{err:#}"), "deleting the finished pending invalidation failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> ReleaseId {
        c.to_string().repeat(20).parse().expect("release id")
    }

    fn keys(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_flip_owes_the_release_it_replaced() {
        assert_eq!(
            next(&id('b'), Some(&id('a')), None, &keys(&["purge:http://e"])),
            Some(Pending {
                release: id('b'),
                since: vec![id('a')],
                targets: Some(keys(&["purge:http://e"]))
            })
        );
        assert_eq!(
            next(&id('a'), None, None, &keys(&["purge:http://e"])),
            None,
            "a first release owes nothing"
        );
    }

    #[test]
    fn what_an_unfinished_invalidation_owed_is_carried_over() {
        // a -> b failed to invalidate at the CDN; b -> c owes both a and b, the CDN too.
        let left = Pending { release: id('b'), since: vec![id('a')], targets: Some(keys(&["cloudfront:D"])) };
        let owed = next(&id('c'), Some(&id('b')), Some(&left), &keys(&["purge:http://e"])).expect("owed");
        assert_eq!(owed.since, vec![id('a'), id('b')]);
        assert_eq!(owed.owed_by(), keys(&["cloudfront:D", "purge:http://e"]));
        // A rollback from b to a owes b only: caches holding a's pages hold the target's.
        let owed = next(&id('a'), Some(&id('b')), Some(&left), &[]).expect("owed");
        assert_eq!(owed.since, vec![id('b')]);
        assert_eq!(owed.owed_by(), keys(&["cloudfront:D"]), "a run without targets keeps what was owed");
    }

    #[test]
    fn a_long_since_is_kept_just_past_the_bound() {
        let many: Vec<ReleaseId> =
            (0..200u32).map(|i| format!("{i:020x}").parse().expect("release id")).collect();
        let left = Pending { release: id('b'), since: many, targets: Some(keys(&["cloudfront:D"])) };
        let owed = next(&id('c'), Some(&id('b')), Some(&left), &[]).expect("owed");
        assert_eq!(owed.since.len(), MAX_SINCE + 1, "still over the bound, so still everything");
    }

    #[test]
    fn records_round_trip_and_name_their_release() {
        let record = Pending {
            release: id('c'),
            since: vec![id('a'), id('b')],
            targets: Some(keys(&["cloudfront:D"])),
        };
        let bytes = serde_json::to_vec(&record).expect("json");
        assert_eq!(serde_json::from_slice::<Pending>(&bytes).expect("parse"), record);
        assert_eq!(record_path("live", &id('c')), format!("channels/live.pending/{}.json", id('c')));
        let old: Pending =
            serde_json::from_str(&format!(r#"{{"release":"{}","since":["{}"]}}"#, id('c'), id('a')))
                .expect("old");
        assert_eq!((old.targets, old.since), (None, vec![id('a')]), "records without targets still read");
    }

    #[test]
    fn the_finishing_command_names_only_targets_it_can_vouch_for() {
        let finish = Finish { command: "course publish --store s3://b/p".into(), note: None };
        let owing =
            keys(&["cloudfront:E2ABC", "notify:http://o:1", "purge:http://e:2", "purge:http://x;rm -rf ~"]);
        assert_eq!(
            finish.line(&owing),
            "course publish --store s3://b/p --cdn cloudfront:E2ABC --notify http://o:1 --notify-token <token> \
             --purge http://e:2"
        );
        assert!(show_keys(&owing).contains(r#""purge:http://x;rm -rf ~""#), "odd keys are shown escaped");
    }
}
