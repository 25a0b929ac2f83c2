//! `course rollback` and `course promote`: channel pointer flips (no upload) followed by
//! the same invalidation a publish does, planned from the pending-invalidation record
//! ([`crate::publish::pending`]). Switching to the release that is live already flips
//! nothing, and finishes the invalidation an earlier run left unfinished, if any.

use anyhow::{anyhow, bail};
use bundle::manifest::release_id_of;
use bundle::paths::release_path;
use bundle::{Manifest, ReleaseId};
use edge_origin::store::{S3Options, StoreSpec};

use crate::invalidate::{InvalidationReport, Plan, Target};
use crate::publish::{flip_channel, pending, read_channel, upload_client, Location};

pub struct SwitchOptions {
    pub store: StoreSpec,
    pub s3: S3Options,
    pub targets: Vec<Target>,
    pub budget: usize,
    pub wait: bool,
}

pub struct SwitchReport {
    pub channel: String,
    pub from: Option<ReleaseId>,
    pub to: ReleaseId,
    pub plan: Plan,
    pub invalidations: Vec<InvalidationReport>,
}

impl std::fmt::Display for SwitchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = self.from.as_ref().map_or("nothing".to_owned(), ToString::to_string);
        writeln!(f, "channel {}: {from} -> {} (no upload)", self.channel, self.to)?;
        writeln!(f, "invalidation: {} paths: {}", self.plan.paths.len(), self.plan.paths.join(" "))?;
        for r in &self.invalidations {
            writeln!(f, "  {}: {} requests, {} paths", r.target, r.requests, r.paths)?;
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
    let key = if prefix.is_empty() { release_path(id) } else { format!("{prefix}/{}", release_path(id)) };
    let object = client.get_object().bucket(bucket).key(&key).send().await.map_err(|e| {
        anyhow!("release {id} is not in s3://{bucket}/{prefix}: {}", edge_origin::store::describe(&e))
    })?;
    let bytes = object.body.collect().await?.into_bytes();
    if &release_id_of(&bytes) != id {
        bail!("release {id} in the store does not hash to its id; refusing it");
    }
    Ok(Manifest::from_bytes(&bytes)?)
}

async fn switch(
    options: &SwitchOptions,
    channel: &str,
    target: ReleaseId,
    current: Option<(ReleaseId, Manifest)>,
) -> anyhow::Result<SwitchReport> {
    let (bucket, prefix) = bucket_prefix(&options.store)?;
    let client = upload_client(&options.s3).await;
    let manifest = read_release(&client, bucket, prefix, &target).await?;
    let from = current.as_ref().map(|(id, _)| id.clone());
    let owed = flip_channel(&client, bucket, prefix, channel, &target, from.as_ref()).await?;
    let (mut plan, mut invalidations) = (Plan::default(), Vec::new());
    if let Some(owed) = &owed {
        let at = Location { client: &client, bucket, prefix };
        let known: Vec<_> = current.iter().map(|(id, m)| (id, m)).collect();
        plan = pending::plan(&at, owed, &manifest, &known, options.budget).await?;
        invalidations = pending::settle(&at, channel, owed, &plan, &options.targets, options.wait).await?;
    }
    Ok(SwitchReport { channel: channel.to_owned(), from, to: target, plan, invalidations })
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
    switch(options, channel, target, Some((pointer.release, manifest))).await
}

/// Points channel `to` at the release channel `from` serves (e.g. preview -> live).
pub async fn promote(options: &SwitchOptions, from: &str, to: &str) -> anyhow::Result<SwitchReport> {
    let (bucket, prefix) = bucket_prefix(&options.store)?;
    let client = upload_client(&options.s3).await;
    let (source, _) = read_channel(&client, bucket, prefix, from)
        .await?
        .ok_or_else(|| anyhow!("channel {from} does not exist"))?;
    let current = read_channel(&client, bucket, prefix, to).await?.map(|(c, m)| (c.release, m));
    switch(options, to, source.release, current).await
}
