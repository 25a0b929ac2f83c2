//! `course publish`: upload the release atomically, then invalidate exactly what changed.
//!
//! What to invalidate comes from the pending-invalidation record the flip wrote
//! ([`crate::publish::pending`]): the pages that differ from every release whose pages
//! caches may still hold. The record is deleted once every target succeeded, so a run
//! whose invalidation failed is finished by running it again, even though the release is
//! already live then.

use std::fmt::Write as _;

use anyhow::bail;
use edge_origin::store::StoreSpec;

use crate::invalidate::{self, InvalidationReport, Plan, Target};
use crate::publish::{pending, publish, upload_client, Location, PublishOptions, PublishReport};
use crate::size::human_bytes;

pub struct DeployOptions {
    pub publish: PublishOptions,
    pub targets: Vec<Target>,
    /// Invalidation paths before collapsing to wildcards.
    pub budget: usize,
    /// Wait until CloudFront reports the invalidations completed.
    pub wait: bool,
}

pub struct DeployReport {
    pub publish: PublishReport,
    pub plan: Plan,
    pub invalidations: Vec<InvalidationReport>,
    pub dry_run: bool,
}

impl DeployReport {
    /// Whether this run finished an invalidation an earlier run left unfinished.
    fn resumed(&self) -> bool {
        !self.publish.flipped && self.publish.owed.is_some()
    }
}

/// Parses `cloudfront:DIST_ID`.
pub fn cdn_target(spec: &str) -> anyhow::Result<Target> {
    match spec.split_once(':') {
        Some(("cloudfront", id)) if !id.is_empty() => {
            Ok(Target::CloudFront { distribution_id: id.to_owned() })
        }
        _ => anyhow::bail!("--cdn {spec:?}: expected cloudfront:DISTRIBUTION_ID"),
    }
}

pub async fn deploy(options: &DeployOptions) -> anyhow::Result<DeployReport> {
    let report = publish(&options.publish).await?;
    let dry_run = options.publish.dry_run;
    let Some(owed) = &report.owed else {
        return Ok(DeployReport {
            publish: report,
            plan: Plan::default(),
            invalidations: Vec::new(),
            dry_run,
        });
    };
    let StoreSpec::S3 { bucket, prefix } = &options.publish.store else {
        bail!("publish needs an S3 store (s3://bucket/prefix)");
    };
    let client = upload_client(&options.publish.s3).await;
    let at = Location { client: &client, bucket, prefix };
    let known: Vec<_> = report.previous.iter().zip(report.previous_manifest.iter()).collect();
    let plan = pending::plan(&at, owed, &report.manifest, &known, options.budget).await?;
    let mut invalidations = Vec::new();
    if !dry_run {
        invalidations =
            pending::settle(&at, &options.publish.channel, owed, &plan, &options.targets, options.wait)
                .await?;
    }
    Ok(DeployReport { publish: report, plan, invalidations, dry_run })
}

impl std::fmt::Display for DeployReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.publish;
        let verb = if self.dry_run { "would upload" } else { "uploaded" };
        writeln!(
            f,
            "{verb} {} objects ({}), {} already there, in {:.1?}",
            p.uploaded,
            human_bytes(p.bytes_uploaded),
            p.skipped,
            p.elapsed
        )?;
        let previous = p.previous.as_ref().map_or("nothing".to_owned(), ToString::to_string);
        let state = match (self.dry_run, p.flipped) {
            (true, _) => "dry run: nothing changed",
            (false, true) => "now live",
            (false, false) => "already live",
        };
        writeln!(f, "release {} (was {previous}): {state}", p.release)?;
        if p.restored > 0 {
            writeln!(
                f,
                "re-uploaded {} objects that disappeared from the store during the publish",
                p.restored
            )?;
        }
        if let Some(owed) = p.owed.as_ref().filter(|_| self.resumed()) {
            let since: Vec<String> = owed.since.iter().map(ToString::to_string).collect();
            let verb = if self.dry_run { "would finish" } else { "finishing" };
            writeln!(
                f,
                "{verb} the invalidation an earlier run left unfinished (since {})",
                since.join(", ")
            )?;
        }
        let mut paths = String::new();
        for path in &self.plan.paths {
            let _ = write!(paths, " {path}");
        }
        writeln!(
            f,
            "invalidation: {} paths ({} wildcards) for {} changed routes, CloudFront cost ${:.3}:{paths}",
            self.plan.paths.len(),
            self.plan.wildcards,
            self.plan.changed_routes.len(),
            invalidate::cost_usd(self.plan.paths.len())
        )?;
        for r in &self.invalidations {
            writeln!(f, "  {}: {} requests, {} paths {:?}", r.target, r.requests, r.paths, r.ids)?;
        }
        Ok(())
    }
}
