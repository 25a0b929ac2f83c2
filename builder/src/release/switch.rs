//! `course rollback` and `course promote`: channel pointer flips (no upload) followed by
//! the same invalidation a publish does, planned from the pending-invalidation record
//! ([`crate::release::publish::pending`]). Switching to the release that is live already flips
//! nothing, and finishes the invalidation an earlier run left unfinished, if any: so a
//! failed invalidation names `course rollback --to <the live release>` as the command that
//! finishes it (a plain `course rollback` again would flip once more, back to the release
//! the operator rolled away from).

use anyhow::{anyhow, bail, Context};
use bundle::paths::release_path;
use bundle::{Manifest, ReleaseId};
use store::{S3Options, StoreSpec};

use crate::release::deploy::store_flags;
use crate::release::invalidate::{Plan, Target};
use crate::release::publish::pending::{self, Finish, Settled};
use crate::release::publish::{flip_channel, read_channel, upload_client};
use crate::release::remote::Location;

pub struct SwitchOptions {
    pub store: StoreSpec,
    pub s3: S3Options,
    pub targets: Vec<Target>,
    pub budget: usize,
    pub wait: bool,
    /// Then fetch what changed through every `--purge` edge ([`super::warm`]).
    pub warm: bool,
}

pub struct SwitchReport {
    pub channel: String,
    pub from: Option<ReleaseId>,
    pub to: ReleaseId,
    /// Whether this run moved the channel (false: it served `to` already, or another run
    /// flipped it there meanwhile).
    pub moved: bool,
    pub plan: Plan,
    /// What the invalidation did, and what is still owed.
    pub settled: Settled,
    /// What `--warm` fetched at each edge.
    pub warmed: Vec<super::warm::WarmReport>,
}

impl std::fmt::Display for SwitchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = self.from.as_ref().map_or("nothing".to_owned(), ToString::to_string);
        if self.moved {
            writeln!(f, "channel {}: {from} -> {} (no upload)", self.channel, self.to)?;
        } else {
            writeln!(f, "channel {}: already serves {} (this run flipped nothing)", self.channel, self.to)?;
        }
        writeln!(f, "invalidation: {} paths: {}", self.plan.paths.len(), self.plan.paths.join(" "))?;
        for r in &self.settled.reports {
            writeln!(f, "  {}: {} requests, {} paths", r.target, r.requests, r.paths)?;
        }
        write!(f, "{}", super::warm::describe(&self.warmed))?;
        if let Some(notice) = self.settled.notice() {
            writeln!(f, "{notice}")?;
        }
        Ok(())
    }
}

fn bucket_prefix(store: &StoreSpec) -> anyhow::Result<(&str, &str)> {
    match store {
        StoreSpec::S3 { bucket, prefix } => Ok((bucket, prefix)),
        StoreSpec::Local(_) => bail!("--store must be s3://bucket/prefix"),
    }
}

/// Reads and verifies `releases/<id>.json` from the store.
async fn read_release(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    id: &ReleaseId,
) -> anyhow::Result<Manifest> {
    let key = store::join_key(prefix, &release_path(id));
    let object = client
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| anyhow!("release {id} is not in s3://{bucket}/{prefix}: {}", store::describe(&e)))?;
    let bytes = object.body.collect().await?.into_bytes();
    Manifest::verified(&bytes, id).with_context(|| format!("release {id} in the store; refusing it"))
}

/// Flips `channel` from `current` to `target` and invalidates; `rerun` says what running
/// the same command again would do (shown when the invalidation fails).
async fn switch(
    options: &SwitchOptions,
    channel: &str,
    target: ReleaseId,
    current: Option<(ReleaseId, Manifest)>,
    rerun: &str,
) -> anyhow::Result<SwitchReport> {
    let (bucket, prefix) = bucket_prefix(&options.store)?;
    let client = upload_client(&options.s3).await;
    let manifest = read_release(&client, bucket, prefix, &target).await?;
    let from = current.as_ref().map(|(id, _)| id.clone());
    let flip =
        flip_channel(&client, bucket, prefix, channel, &target, from.as_ref(), &options.targets).await?;
    let owed = flip.owed;
    let (mut plan, mut settled) = (Plan::default(), Settled::default());
    if let Some(owed) = &owed {
        let at = Location { client: &client, bucket, prefix };
        let known: Vec<_> = current.iter().map(|(id, m)| (id, m)).collect();
        plan = pending::plan(&at, owed, &manifest, &known, options.budget).await?;
        // Switching to the live release flips nothing and sends what is owed.
        let finish = Finish {
            command: format!(
                "course rollback {} --channel {channel} --to {target}",
                store_flags(&options.store, &options.s3)
            ),
            note: Some(format!("(it flips nothing: channel {channel} already serves {target}; {rerun})")),
        };
        settled = pending::settle(&at, channel, owed, &plan, &options.targets, options.wait, &finish).await?;
    }
    let mut warmed = Vec::new();
    if options.warm && flip.moved {
        let old = current.as_ref().map(|(_, manifest)| manifest);
        warmed = super::warm::after_release(&options.targets, old, &manifest, &target).await;
    }
    Ok(SwitchReport {
        channel: channel.to_owned(),
        from,
        to: target,
        moved: flip.moved,
        plan,
        settled,
        warmed,
    })
}

/// Points `channel` back at `to`, or at the release it served before the current one.
pub async fn rollback(
    options: &SwitchOptions,
    channel: &str,
    to: Option<ReleaseId>,
) -> anyhow::Result<SwitchReport> {
    let (bucket, prefix) = bucket_prefix(&options.store)?;
    let client = upload_client(&options.s3).await;
    let (pointer, manifest) = read_channel(&client, bucket, prefix, channel)
        .await?
        .ok_or_else(|| anyhow!("channel {channel} does not exist"))?;
    let target = match to.or(pointer.previous.clone()) {
        Some(target) => target,
        None => bail!("channel {channel} has no previous release; name one with --to"),
    };
    let rerun = if target == pointer.release {
        "running this rollback again does the same".to_owned()
    } else {
        format!("running `course rollback` again without --to would flip again, back to {}", pointer.release)
    };
    switch(options, channel, target, Some((pointer.release, manifest)), &rerun).await
}

/// Points channel `to` at the release channel `from` serves (e.g. preview -> live).
pub async fn promote(options: &SwitchOptions, from: &str, to: &str) -> anyhow::Result<SwitchReport> {
    let (bucket, prefix) = bucket_prefix(&options.store)?;
    let client = upload_client(&options.s3).await;
    let (source, _) = read_channel(&client, bucket, prefix, from)
        .await?
        .ok_or_else(|| anyhow!("channel {from} does not exist"))?;
    let current = read_channel(&client, bucket, prefix, to).await?.map(|(c, m)| (c.release, m));
    let rerun = format!("running this promote again flips {to} to whatever {from} serves then");
    switch(options, to, source.release, current, &rerun).await
}
