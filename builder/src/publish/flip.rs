//! The channel flip: moves `channels/<channel>.json` from the pointer a publish (or
//! rollback, or promote) started from to its release, such that of any number of
//! concurrent flips of one channel exactly one wins each sequence number and every other
//! one fails naming the release that won, also on stores that ignore conditional writes
//! (Garage ignores `If-Match` and `If-None-Match` on PutObject).
//!
//! # Protocol
//! The pointer carries a sequence number. A flip to release `R` from the pointer state `S`
//! the caller read at its start (sequence `N`, release `P`, ETag `E`):
//! 1. **claim**: PUT `channels/<ch>.claims/<N+1>/<R>.json`; the lease starts just before;
//! 2. **look**: list `channels/<ch>.claims/<N+1>/`. Any other claim that is not stale
//!    (stale: more than [`STALE_CLAIM`] older than ours, by the store's LastModified) is a
//!    rival: delete our claim, back off (random, growing) and start again from a fresh
//!    read of the pointer. Whatever the release ids: "the smallest id wins" let two flips
//!    both proceed (A looks first and sees nothing, B looks later, sees A, and goes on);
//! 3. **re-read** the pointer: it must still be `S`. If it moved to another release, fail
//!    naming it: another flip won, and is never overwritten (as git refuses a
//!    non-fast-forward push); the caller re-runs on top of it. If it already serves `R`,
//!    there is nothing to do;
//! 4. **record** the invalidation the flip will owe ([`super::pending`]), under the claim;
//! 5. **lease**: if [`LEASE`] has passed since step 1, delete the claim and start again;
//! 6. **write** the pointer `{R, previous: P, sequence: N+1}` with `If-Match: E`
//!    (`If-None-Match: *` for a new channel), which AWS S3 honours: there a 412 is a lost
//!    race whatever happened above. The write may take at most what is left of the lease;
//! 7. **read back**: the pointer must serve `R` at `N+1`, or a later sequence built on it.
//!
//! The winner's claim stays: it is the channel's history (see [`crate::history`]); the
//! winner also deletes the stale claims it saw, which dead publishers left.
//!
//! # Why one flip wins each sequence
//! S3 (since December 2020) and Garage are strongly consistent: a GET after a completed
//! PUT or DELETE sees it, and so does a LIST that starts after it completed. Take two
//! flips X and Y of the same sequence that both pass step 2 with their claims alive.
//! Whichever listed first, say X, did not see Y's claim, so Y's claim PUT completed after
//! X's LIST started, which is after X's own claim PUT completed; Y's LIST started after
//! its own PUT, so it saw X's claim, and Y passed step 2 only by finding X's claim stale,
//! that is more than [`STALE_CLAIM`] older than Y's. But X sends its pointer write within
//! [`LEASE`] of its claim (step 5) and Y re-reads the pointer (step 3) after its claim, so
//! X's write, if it was sent at all, landed before Y's re-read unless the store took more
//! than `STALE_CLAIM - LEASE` (50 s) to apply it; and then Y sees the pointer moved and
//! fails. So at most one flip writes each sequence. A flip for sequence `N+2` starts from
//! a pointer at `N+1`, which it can read only after that write: sequences never overwrite
//! each other either. Progress: flips that see each other all back off for random,
//! growing delays, so one soon looks alone; once it has written, every other one finds
//! the pointer moved (step 3) and fails with the winner's name.
//!
//! # What remains
//! Without conditional writes, safety rests on time in one place: a pointer write that
//! passed its lease check (sending is bounded by the rest of the lease, a timeout cancels
//! it) but that the network or the store holds for more than 50 s, or a process frozen
//! between its check and its send for that long, can still land after a later flip and
//! overwrite it; the later flip's read-back may already have reported success. Claims
//! are judged stale by the store's clock on two objects; a multi-node store whose nodes'
//! clocks disagree by more than 50 s would break the same bound. Where the store honours
//! `If-Match` (AWS S3) such a late write fails with 412 and nothing is overwritten.

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use bundle::paths::channel_path;
use bundle::ReleaseId;
use edge_origin::store::describe;
use serde::Serialize;

use super::pending::{self, Pending};
use super::{base64_sha256, now_rfc3339, pause_at, show, Location, Pointer, PointerState};

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

/// One try of steps 1-7 that did not end the flip.
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

/// Moves `channel` from `start` (the pointer as the caller read it) to `release`, by the
/// protocol in the module docs.
pub(crate) async fn flip(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
) -> anyhow::Result<Flipped> {
    let mut backoff = BACKOFF_FIRST;
    let mut rivals_since: Option<Instant> = None;
    let mut lease_expiries = 0;
    loop {
        let retry = match attempt(at, channel, release, start).await? {
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
        let next = start.sequence() + 1;
        match &retry {
            Retry::Rival(rival) => {
                if rivals_since.get_or_insert_with(Instant::now).elapsed() > GIVE_UP {
                    bail!(
                        "another publish to channel {channel} is in progress: release {rival} (the last rival \
                         seen) claimed sequence {next}, and for {GIVE_UP:?} rival claims kept this publish of \
                         {release} backing off without the channel moving; the channel was not changed by this \
                         publish. If no other publish is running (one died while flipping), its claim is ignored \
                         once it is {STALE_CLAIM:?} old: re-run then"
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

/// Steps 1-7 once: `Ok(Ok(_))` ends the flip, `Ok(Err(_))` asks to back off and retry.
async fn attempt(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
) -> anyhow::Result<Result<Flipped, Retry>> {
    let next = start.sequence() + 1;
    let claim_path = format!("{}{release}.json", claims_dir(channel, next));
    let claim = Claim { release, sequence: next, claimed_at: now_rfc3339() };
    let lease = Instant::now();
    at.put_small(&claim_path, serde_json::to_vec_pretty(&claim)?, "no-store").await?;
    let result = claimed(at, channel, release, start, lease).await;
    if !matches!(result, Ok(Ok(Flipped::Moved { .. }))) {
        // Withdraw, so the claim holds up no one (and is no history).
        let key = at.key(&claim_path);
        if let Err(err) = at.client.delete_object().bucket(at.bucket).key(&key).send().await {
            tracing::warn!(key, error = %describe(&err), "withdrawing a claim failed");
        }
    }
    result
}

/// Steps 2-7, holding the claim made at `lease`.
async fn claimed(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    lease: Instant,
) -> anyhow::Result<Result<Flipped, Retry>> {
    let next = start.sequence() + 1;
    let dir = claims_dir(channel, next);
    let listed = at.list(&dir).await?;
    pause_at("claims-listed").await?;
    let ours = format!("{release}.json");
    let mine = listed.iter().find(|c| c.name == ours).and_then(|c| c.modified);
    let mut stale = Vec::new();
    for claim in listed.iter().filter(|c| c.name != ours) {
        let Some(rival) = claim.name.strip_suffix(".json").and_then(|r| r.parse::<ReleaseId>().ok()) else {
            continue;
        };
        // Unknown times count as alive: only a claim known to be old is ignored.
        let older = match (mine, claim.modified) {
            (Some(mine), Some(theirs)) => mine.duration_since(theirs).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        if older <= STALE_CLAIM {
            return Ok(Err(Retry::Rival(rival)));
        }
        stale.push(claim.name.clone());
    }

    let now = at.read_pointer(channel).await?;
    if let Some(done) = unless_moved(channel, release, start, &now)? {
        return Ok(Ok(done));
    }
    let owed = pending::record(at, channel, release, now.release()).await?;

    pause_at("checked").await?;
    let took = lease.elapsed();
    if took >= LEASE {
        return Ok(Err(Retry::LeaseExpired(took)));
    }
    let sent = write_pointer(at, channel, release, start, LEASE - took).await?;

    // Read back: on a store that ignores If-Match a flip that broke the lease bound may
    // have overwritten us; whoever reads the final pointer agrees on it.
    let after = at.read_pointer(channel).await?;
    let ours_now = after.release() == Some(release) && after.sequence() == next;
    if !sent && unless_moved(channel, release, start, &after).is_ok_and(|moved| moved.is_none()) {
        bail!(
            "the store did not complete the pointer write within the lease ({LEASE:?} from the claim), and the \
             channel {channel} still serves {}: re-run this publish of {release}",
            show(after.release())
        );
    }
    if !ours_now && after.sequence() <= next {
        bail!(
            "another publish to channel {channel} won: the channel serves release {} (sequence {}), written \
             over this publish of {release} just after it",
            show(after.release()),
            after.sequence()
        );
    }
    for name in stale {
        let key = at.key(&format!("{dir}{name}"));
        if let Err(err) = at.client.delete_object().bucket(at.bucket).key(&key).send().await {
            tracing::warn!(key, error = %describe(&err), "deleting a stale claim failed");
        }
    }
    Ok(Ok(Flipped::Moved { replaced: now.release().cloned(), owed }))
}

/// Step 6: PUT the pointer, conditionally where the store honours it, within `budget`.
/// `Ok(false)`: cancelled at the end of the budget (it may or may not have landed).
async fn write_pointer(
    at: &Location<'_>,
    channel: &str,
    release: &ReleaseId,
    start: &PointerState,
    budget: Duration,
) -> anyhow::Result<bool> {
    let path = channel_path(channel).ok_or_else(|| anyhow!("bad channel name {channel:?}"))?;
    let pointer = Pointer {
        release: release.clone(),
        previous: start.release().cloned(),
        published_at: now_rfc3339(),
        sequence: start.sequence() + 1,
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
        Ok(Ok(_)) => Ok(true),
        Ok(Err(err)) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            if let Some(status @ (412 | 409)) = status {
                bail!(
                    "another publish to channel {channel} won: the pointer changed before this publish of \
                     {release} could write it (HTTP {status}); the channel was not changed by this publish"
                );
            }
            bail!("PUT s3://{}/{key}: {}", at.bucket, describe(&err))
        }
        Err(_) => {
            tracing::warn!(key, ?budget, "the pointer write did not finish within the lease");
            Ok(false)
        }
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
}
