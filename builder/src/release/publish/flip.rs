//! The channel flip: moves `channels/<channel>.json` from the pointer a publish (or
//! rollback, or promote) started from to its release, such that of any number of
//! concurrent flips of one channel exactly one wins each sequence number and every other
//! one fails naming the release that won, also on stores that ignore conditional writes
//! (Garage ignores `If-Match` and `If-None-Match` on PutObject).
//!
//! # Protocol
//! The pointer carries a sequence number. A flip to release `R` from the pointer state `S`
//! the caller read at its start (sequence `N`, release `P`, ETag `E`):
//! 1. **claim**: PUT `channels/<ch>.claims/<N+1>/<R>.<nonce>.json`, a name no other flip
//!    uses (two publishes of the same release each have their own claim, so neither ever
//!    deletes the other's); the lease starts just before;
//! 2. **look**: list `channels/<ch>.claims/<N+1>/`. Any other claim that is not stale
//!    (stale: more than [`STALE_CLAIM`] older than ours, by the store's LastModified) is a
//!    rival, whatever release it names (ours too): delete our claim, back off (random,
//!    growing) and start again from a fresh read of the pointer. "The smallest id wins"
//!    let two flips both proceed (A looks first and sees nothing, B looks later, sees A,
//!    and goes on);
//! 3. **re-read** the pointer: it must still be `S`. If it moved to another release, fail
//!    naming it: another flip won, and is never overwritten (as git refuses a
//!    non-fast-forward push); the caller re-runs on top of it. If it already serves `R`,
//!    there is nothing to do (our own claim is withdrawn, the winner's stays);
//! 4. **record** the invalidation the flip will owe ([`super::pending`]), under the claim;
//! 5. **check** that `releases/<R>.json` is still in the store (HEAD): a `course gc` that
//!    listed the claims before ours may have deleted it since the publish verified it;
//!    then the flip withdraws and fails, changing nothing;
//! 6. **lease**: if [`LEASE`] has passed since step 1, delete the claim and start again;
//! 7. **write** the pointer `{R, previous: P, sequence: N+1}` with `If-Match: E`
//!    (`If-None-Match: *` for a new channel), which AWS S3 honours: there a 412 is a lost
//!    race whatever happened above. The write may take at most what is left of the lease;
//! 8. **read back**: the pointer must serve `R` at `N+1`, or a later sequence built on it.
//!
//! Once the write is sent, the claim stays whatever happens: the winner's claim is the
//! channel's history (see the history module), and when the write's outcome is unknown (no
//! answer within the lease, a network error, a 5xx) the write may still land, so the
//! claim must keep rivals backing off until it is stale. Such a flip then watches the
//! pointer until its claim is [`STALE_CLAIM`] old: if the write lands, the flip succeeded;
//! if not, it fails saying so, and its stale claim holds up no one. The only write whose
//! claim is withdrawn is one the store refused (`412`: it evaluated `If-Match`, so no copy
//! of the request can land later). The winner also deletes the stale claims it saw,
//! which dead publishers left.
//!
//! # Why one flip wins each sequence
//! S3 (since December 2020) and Garage are strongly consistent: a GET after a completed
//! PUT or DELETE sees it, and so does a LIST that starts after it completed. Take two
//! flips X and Y of the same sequence that both pass step 2 with their claims alive.
//! Whichever listed first, say X, did not see Y's claim, so Y's claim PUT completed after
//! X's LIST started, which is after X's own claim PUT completed; Y's LIST started after
//! its own PUT, so it saw X's claim, and Y passed step 2 only by finding X's claim stale,
//! that is more than [`STALE_CLAIM`] older than Y's. But X sends its pointer write within
//! [`LEASE`] of its claim (step 6) and keeps its claim once it sent it, and Y re-reads the
//! pointer (step 3) after its claim, so X's write, if it was sent at all, landed before
//! Y's re-read unless the store took more than `STALE_CLAIM - LEASE` (50 s) to apply it;
//! and then Y sees the pointer moved and fails. So at most one flip writes each sequence.
//! A flip for sequence `N+2` starts from a pointer at `N+1`, which it can read only after
//! that write: sequences never overwrite each other either. Progress: flips that see each
//! other all back off for random, growing delays, so one soon looks alone; once it has
//! written, every other one finds the pointer moved (step 3) and fails with the winner's
//! name.
//!
//! # What remains
//! Without conditional writes, safety rests on time in one place: a pointer write that
//! the network or the store holds for more than 50 s after it was sent (or a process
//! frozen between its lease check and its send for that long) can still land after a
//! later flip and overwrite it; the later flip's read-back may already have reported
//! success. Below that bound a held write is harmless: its claim stays, every rival backs
//! off (and fails after [`GIVE_UP`] naming the claim) until the write lands or the claim
//! is stale, and the writer itself reports whether it landed. Claims are judged stale by
//! the store's clock on two objects; a multi-node store whose nodes' clocks disagree by
//! more than 50 s would break the same bound. Where the store honours `If-Match` (AWS S3)
//! such a late write fails with 412 and nothing is overwritten.

use std::hash::BuildHasher;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use bundle::paths::{channel_path, release_path};
use bundle::ReleaseId;
use serde::Serialize;
use store::describe;

use super::pending::{self, Pending};
use crate::release::hooks::pause_at;
use crate::release::invalidate::Target;
use crate::release::remote::{base64_sha256, now_rfc3339, show, Location, PointerState};
use bundle::Channel;

/// Claims more than this much older than ours (by the store's clock) belong to a publisher
/// that died or stalled between claiming and writing, and are ignored.
pub(crate) const STALE_CLAIM: Duration = Duration::from_secs(60);
/// The most time a flip lets pass between claiming and sending its pointer write: far
/// below [`STALE_CLAIM`], so no one ignores a claim whose owner may still write.
const LEASE: Duration = Duration::from_secs(10);
/// How long rivals may keep a flip backing off before it gives up: more than a live
/// rival's lease, so only a dead (or stuck) rival makes it give up.
const GIVE_UP: Duration = Duration::from_secs(20);
/// Lease expiries after which a flip gives up (the store is too slow for the lease).
const MAX_LEASE_EXPIRIES: u32 = 3;
/// The first back-off, doubled after every collision up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often a flip whose pointer write has an unknown outcome reads the pointer.
const OUTCOME_POLL: Duration = Duration::from_secs(1);

/// How a flip ended (a lost race is an error).
#[derive(Debug)]
pub(crate) enum Flipped {
    /// The pointer moved to the release; `replaced` is what it served before.
    Moved { replaced: Option<ReleaseId>, owed: Option<Pending> },
    /// The channel already served the release (someone published it meanwhile).
    AlreadyLive,
}

#[derive(Serialize)]
struct Claim<'a> {
    release: &'a ReleaseId,
    sequence: u64,
    claimed_at: String,
}

/// One try of steps 1-8 that did not end the flip.
enum Retry {
    /// Another live claim for the sequence.
    Rival(ReleaseId),
    /// Our lease ran out before the pointer write.
    LeaseExpired(Duration),
}

/// `channels/<channel>.claims/<sequence>/`.
pub(crate) fn claims_dir(channel: &str, sequence: u64) -> String {
    format!("channels/{channel}.claims/{sequence}/")
}

/// The release a claim names, from its file name: `<release>.<nonce>.json`, or
/// `<release>.json` as flips wrote it before claims had unique names.
pub(crate) fn claim_release(name: &str) -> Option<ReleaseId> {
    let stem = name.strip_suffix(".json")?;
    stem.split('.').next()?.parse().ok()
}

/// A claim file name for `release` that no other flip attempt uses.
fn claim_name(release: &ReleaseId) -> String {
    // RandomState is seeded from the OS per process (and differs per instance).
    let nonce = std::collections::hash_map::RandomState::new().hash_one((
        std::process::id(),
        SystemTime::now(),
        Instant::now(),
    ));
    format!("{release}.{nonce:016x}.json")
}

/// Moves `channel` from `start` (the pointer as the caller read it) to `release`, by the
/// protocol in the module docs; the invalidation it records is owed by `targets`.
pub(crate) async fn flip(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    targets: &[Target],
) -> anyhow::Result<Flipped> {
    let next = start.next_sequence(channel)?;
    let mut backoff = BACKOFF_FIRST;
    let mut rivals_since: Option<Instant> = None;
    let mut lease_expiries = 0;
    loop {
        let retry = match attempt(at, channel, release, start, next, targets).await? {
            Ok(flipped) => return Ok(flipped),
            Err(retry) => retry,
        };
        if let Retry::LeaseExpired(took) = &retry {
            tracing::warn!(%release, ?took, lease = ?LEASE, "the lease ran out before the pointer write: not writing");
        }
        // A fresh read first: if another flip won meanwhile, that is the answer.
        if let Some(done) = unless_moved(channel, release, start, &at.read_pointer(channel).await?)? {
            return Ok(done);
        }
        match &retry {
            Retry::Rival(rival) => {
                if rivals_since.get_or_insert_with(Instant::now).elapsed() > GIVE_UP {
                    bail!(
                        "another publish to channel {channel} is in progress: release {rival} (the last rival \
                         seen) claimed sequence {next}, and for {GIVE_UP:?} rival claims kept this publish of \
                         {release} backing off without the channel moving; the channel was not changed by this \
                         publish. If no other publish is running (one died while flipping, or its pointer \
                         write never landed), its claim is ignored once it is {STALE_CLAIM:?} old: re-run then"
                    );
                }
            }
            Retry::LeaseExpired(took) => {
                lease_expiries += 1;
                if lease_expiries >= MAX_LEASE_EXPIRIES {
                    bail!(
                        "the store is too slow to flip channel {channel} safely: claiming and checking took \
                         {took:.1?}, more than the {LEASE:?} lease, {lease_expiries} times; the channel was not \
                         changed by this publish of {release}"
                    );
                }
            }
        }
        let delay = jitter(backoff);
        match &retry {
            Retry::Rival(rival) => tracing::info!(
                %release, %rival, sequence = next, ?delay,
                "another publish claimed the same sequence: backing off"
            ),
            Retry::LeaseExpired(_) => {
                tracing::info!(%release, sequence = next, ?delay, "starting the flip again after a lost lease")
            }
        }
        tokio::time::sleep(delay).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A random delay in `[max / 2, max]`, so flips that collided do not collide again.
fn jitter(max: Duration) -> Duration {
    // RandomState is seeded per instance from the OS: a cheap random number without a crate.
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    max / 2 + max.mul_f64((random % 1024) as f64 / 2048.0)
}

/// `None` when the pointer is still `start`; when it moved: `AlreadyLive` if it serves
/// `release`, else the error that names the release that won.
fn unless_moved(
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    now: &PointerState,
) -> anyhow::Result<Option<Flipped>> {
    if now.sequence() == start.sequence() && now.release() == start.release() {
        return Ok(None);
    }
    if now.release() == Some(release) {
        return Ok(Some(Flipped::AlreadyLive));
    }
    bail!(
        "another publish to channel {channel} won: the channel now serves release {} (sequence {}), moved \
         from {} (sequence {}) while this publish of {release} was under way; the channel was not changed by \
         this publish: re-run it to publish on top of {}",
        show(now.release()),
        now.sequence(),
        show(start.release()),
        start.sequence(),
        show(now.release())
    )
}

/// Whether the pointer shows our write of sequence `next` (or a later flip built on it).
fn landed(now: &PointerState, release: &ReleaseId, next: u64) -> bool {
    (now.release() == Some(release) && now.sequence() == next) || now.sequence() > next
}

/// Steps 1-8 once: `Ok(Ok(_))` ends the flip, `Ok(Err(_))` asks to back off and retry.
async fn attempt(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    next: u64,
    targets: &[Target],
) -> anyhow::Result<Result<Flipped, Retry>> {
    let name = claim_name(release);
    let claim_path = format!("{}{name}", claims_dir(channel, next));
    let claim = Claim { release, sequence: next, claimed_at: now_rfc3339() };
    let lease = Instant::now();
    at.put_small(&claim_path, serde_json::to_vec_pretty(&claim)?, "no-store").await?;
    let ready = match prepare(at, channel, release, start, next, &name, lease, targets).await {
        Ok(Prepared::Write(ready)) => ready,
        // Nothing was sent: withdraw, so the claim holds up no one (and is no history).
        Ok(Prepared::End(end)) => {
            withdraw(at, &claim_path).await;
            return Ok(end);
        }
        Err(err) => {
            withdraw(at, &claim_path).await;
            return Err(err);
        }
    };
    let (result, refused) = write(at, channel, release, start, next, lease, ready).await;
    if refused {
        withdraw(at, &claim_path).await;
    }
    result.map(Ok)
}

async fn withdraw(at: &Location<'_>, claim_path: &str) {
    let key = at.key(claim_path);
    if let Err(err) = at.client.delete_object().bucket(at.bucket).key(&key).send().await {
        tracing::warn!(key, error = %describe(&err), "withdrawing a claim failed");
    }
}

/// What steps 2-6 decided.
enum Prepared {
    /// Write the pointer.
    Write(Ready),
    /// The flip ends, or tries again, without writing.
    End(Result<Flipped, Retry>),
}

/// What the pointer write needs from steps 2-6.
struct Ready {
    replaced: Option<ReleaseId>,
    owed: Option<Pending>,
    /// Stale claims seen (file names), deleted once the flip won.
    stale: Vec<String>,
    /// What is left of the lease for the write.
    budget: Duration,
}

/// Steps 2-6, holding the claim `ours` made at `lease`.
#[allow(clippy::too_many_arguments)]
async fn prepare(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    next: u64,
    ours: &str,
    lease: Instant,
    targets: &[Target],
) -> anyhow::Result<Prepared> {
    let listed = at.list(&claims_dir(channel, next)).await?;
    pause_at("claims-listed").await?;
    let mine = listed.iter().find(|c| c.name == ours).and_then(|c| c.modified);
    let mut stale = Vec::new();
    for claim in listed.iter().filter(|c| c.name != ours) {
        let Some(rival) = claim_release(&claim.name) else { continue };
        // Unknown times count as alive: only a claim known to be old is ignored.
        let older = match (mine, claim.modified) {
            (Some(mine), Some(theirs)) => mine.duration_since(theirs).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        if older <= STALE_CLAIM {
            return Ok(Prepared::End(Err(Retry::Rival(rival))));
        }
        stale.push(claim.name.clone());
    }

    let now = at.read_pointer(channel).await?;
    if let Some(done) = unless_moved(channel, release, start, &now)? {
        return Ok(Prepared::End(Ok(done)));
    }
    let owed = pending::record(at, channel, release, now.release(), targets).await?;

    pause_at("checked").await?;
    if at.head_size(&release_path(release)).await?.is_none() {
        bail!(
            "the manifest of release {release} is no longer in the store (a `course gc` running alongside \
             deleted it after this run checked it): the channel {channel} was not changed and still serves {}; \
             publish the release again (`course publish` uploads what is missing), then re-run",
            show(now.release())
        );
    }
    pause_at("manifest-checked").await?;
    let took = lease.elapsed();
    if took >= LEASE {
        return Ok(Prepared::End(Err(Retry::LeaseExpired(took))));
    }
    Ok(Prepared::Write(Ready { replaced: now.release().cloned(), owed, stale, budget: LEASE - took }))
}

/// Steps 7-8: the result, and whether the store refused the write (only then may the
/// claim be withdrawn: any other failure may still land).
async fn write(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    next: u64,
    lease: Instant,
    ready: Ready,
) -> (anyhow::Result<Flipped>, bool) {
    let confirmed = match write_pointer(at, channel, release, start, next, ready.budget).await {
        Write::NotSent(err) => return (Err(err), true),
        Write::Landed => match at.read_pointer(channel).await {
            // Read back: on a store that ignores If-Match a flip that broke the lease bound
            // may have overwritten us; whoever reads the final pointer agrees on it.
            Ok(after) if landed(&after, release, next) => Ok(()),
            Ok(after) => Err(anyhow!(
                "another publish to channel {channel} won: the channel serves release {} (sequence {}), \
                 written over this publish of {release} just after it",
                show(after.release()),
                after.sequence()
            )),
            Err(err) => Err(err.context(format!(
                "the pointer write of release {release} to channel {channel} succeeded, but reading it back failed"
            ))),
        },
        Write::Refused(status) => match at.read_pointer(channel).await {
            // An earlier attempt of the same request (the SDK retries) may have landed.
            Ok(after) if landed(&after, release, next) => Ok(()),
            Ok(after) => {
                let err = anyhow!(
                    "another publish to channel {channel} won: the pointer changed before this publish of \
                     {release} could write it (HTTP {status}; the channel serves {}); the channel was not \
                     changed by this publish",
                    show(after.release())
                );
                return (Err(err), true);
            }
            Err(err) => Err(err),
        },
        Write::Unknown(why) => await_outcome(at, channel, release, start, next, lease, &why).await,
    };
    if let Err(err) = confirmed {
        return (Err(err), false);
    }
    let dir = claims_dir(channel, next);
    for name in ready.stale {
        let key = at.key(&format!("{dir}{name}"));
        if let Err(err) = at.client.delete_object().bucket(at.bucket).key(&key).send().await {
            tracing::warn!(key, error = %describe(&err), "deleting a stale claim failed");
        }
    }
    (Ok(Flipped::Moved { replaced: ready.replaced, owed: ready.owed }), false)
}

/// After a pointer write whose outcome is unknown: watches the pointer, claim kept, until
/// the write shows or the claim made at `lease` is stale (after which no rival waits for
/// it, and a write landing later is the residual risk of the module docs).
async fn await_outcome(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    next: u64,
    lease: Instant,
    why: &str,
) -> anyhow::Result<()> {
    let deadline = lease + STALE_CLAIM;
    tracing::warn!(
        %release, why, wait = ?deadline.saturating_duration_since(Instant::now()),
        "the pointer write did not finish within the lease: keeping the claim, so no other publish takes the \
         sequence while the write may still land, and watching the pointer until the claim is stale"
    );
    let mut last_read_error = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left.max(OUTCOME_POLL), at.read_pointer(channel)).await {
            Ok(Ok(now)) if landed(&now, release, next) => {
                tracing::info!(%release, sequence = next, "the pointer write landed after all");
                return Ok(());
            }
            Ok(Ok(now)) => {
                // Moved to another release: its flip ignored our claim (the bound broke).
                unless_moved(channel, release, start, &now)?;
            }
            Ok(Err(err)) => last_read_error = Some(format!("{err:#}")),
            Err(_) => last_read_error = Some("reading the pointer timed out".to_owned()),
        }
        if Instant::now() >= deadline {
            let read = last_read_error
                .map(|e| format!(" (the last read of the pointer failed: {e})"))
                .unwrap_or_default();
            bail!(
                "the store did not confirm the pointer write of release {release} to channel {channel} ({why}), \
                 and {STALE_CLAIM:?} after this publish claimed sequence {next} the channel still serves {} \
                 (sequence {}){read}: the write is taken as lost and the channel as unchanged. Its claim was kept \
                 until now, so no other publish could take the sequence while the write might still land; it is \
                 stale now: re-run this publish",
                show(start.release()),
                start.sequence()
            );
        }
        tokio::time::sleep(OUTCOME_POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// How a pointer write ended.
enum Write {
    Landed,
    /// The store refused it (412): it evaluated `If-Match`, so the write changed nothing.
    Refused(u16),
    /// The request was never sent.
    NotSent(anyhow::Error),
    /// Sent, with no answer (timeout) or an answer that does not say it failed.
    Unknown(String),
}

/// Step 7: PUT the pointer, conditionally where the store honours it, within `budget`.
async fn write_pointer(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    next: u64,
    budget: Duration,
) -> Write {
    let Some(path) = channel_path(channel) else {
        return Write::NotSent(anyhow!("bad channel name {channel:?}"));
    };
    let pointer = Channel {
        release: release.clone(),
        previous: start.release().cloned(),
        published_at: now_rfc3339(),
        sequence: next,
    };
    let bytes = pointer.to_bytes();
    let key = at.key(&path);
    let mut put = at
        .client
        .put_object()
        .bucket(at.bucket)
        .key(&key)
        .content_type("application/json")
        .cache_control("no-cache")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(base64_sha256(&bytes))
        .body(ByteStream::from(bytes));
    put = match &start.etag {
        Some(etag) => put.if_match(etag),
        // Only create: honoured by AWS S3 (and ignored where unsupported).
        None => put.if_none_match("*"),
    };
    match tokio::time::timeout(budget, put.send()).await {
        Ok(Ok(_)) => Write::Landed,
        Ok(Err(err @ SdkError::ConstructionFailure(_))) => {
            Write::NotSent(anyhow!("PUT s3://{}/{key}: {}", at.bucket, describe(&err)))
        }
        Ok(Err(err)) => match err.raw_response().map(|r| r.status().as_u16()) {
            Some(412) => Write::Refused(412),
            _ => Write::Unknown(format!("PUT s3://{}/{key}: {}", at.bucket, describe(&err))),
        },
        Err(_) => Write::Unknown(format!("no answer within the {budget:.1?} left of the lease")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_leaves_a_wide_margin_before_claims_go_stale() {
        assert!(LEASE * 5 <= STALE_CLAIM);
        assert!(GIVE_UP > LEASE, "a live rival finishes or withdraws within its lease");
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        for _ in 0..100 {
            let delay = jitter(Duration::from_millis(400));
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&delay), "{delay:?}");
        }
    }

    #[test]
    fn claims_have_unique_names_that_name_their_release() {
        let release: ReleaseId = "0123456789abcdef0123".parse().expect("id");
        let (a, b) = (claim_name(&release), claim_name(&release));
        assert_ne!(a, b, "two flips of one release never share a claim");
        assert_eq!(claim_release(&a), Some(release.clone()));
        assert_eq!(claim_release(&format!("{release}.json")), Some(release), "old claims still read");
        assert_eq!(claim_release("not-a-release.json"), None);
        assert_eq!(claim_release("0123456789abcdef0123.txt"), None);
    }
}
