//! `course publish`: upload the release atomically, then invalidate exactly what changed.
//!
//! What to invalidate comes from the pending-invalidation record the flip wrote
//! ([`crate::release::publish::pending`]): the pages that differ from every release whose pages
//! caches may still hold, and the targets that owe it. The record is deleted once every
//! target it names succeeded, so a run whose invalidation failed is finished by running
//! it again (the error prints the command), even though the release is already live then;
//! a run with fewer targets, or none, never drops what the others still owe.

use std::fmt::Write as _;

use anyhow::bail;
use store::StoreSpec;

use crate::release::invalidate::{self, Plan, Target};
use crate::release::publish::pending::{self, Finish, Settled};
use crate::release::publish::{publish_invalidating, upload_client, PublishOptions, PublishReport};
use crate::release::remote::Location;
use bundle::size::human_bytes;

pub struct DeployOptions {
    pub publish: PublishOptions,
    pub targets: Vec<Target>,
    /// Invalidation paths before collapsing to wildcards.
    pub budget: usize,
    /// Wait until CloudFront reports the invalidations completed.
    pub wait: bool,
    /// Then fetch what changed through every `--purge` edge ([`super::warm`]).
    pub warm: bool,
}

pub struct DeployReport {
    pub publish: PublishReport,
    pub plan: Plan,
    /// What the invalidation did, and what is still owed.
    pub settled: Settled,
    pub dry_run: bool,
    /// Whether the run named any invalidation target.
    pub targets: bool,
    /// What `--warm` fetched at each edge.
    pub warmed: Vec<super::warm::WarmReport>,
}

impl DeployReport {
    /// Whether this run finished an invalidation an earlier run left unfinished.
    fn resumed(&self) -> bool {
        !self.publish.flipped && self.publish.owed.is_some()
    }
}

/// `--store s3://bucket/prefix [--endpoint URL] [--region R]`, as a command line gives them.
pub(crate) fn store_flags(store: &StoreSpec, s3: &store::S3Options) -> String {
    let mut flags = format!("--store {}", shell_word(&store.to_string()));
    if let Some(endpoint) = &s3.endpoint {
        flags += &format!(" --endpoint {}", shell_word(endpoint));
    }
    if let Some(region) = &s3.region {
        flags += &format!(" --region {}", shell_word(region));
    }
    flags
}

/// `word` quoted for a POSIX shell when it holds anything but plain characters.
pub(crate) fn shell_word(word: &str) -> String {
    let plain =
        !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
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
    let report = publish_invalidating(&options.publish, &options.targets).await?;
    let dry_run = options.publish.dry_run;
    let targets = !options.targets.is_empty();
    let Some(owed) = &report.owed else {
        return Ok(DeployReport {
            publish: report,
            plan: Plan::default(),
            settled: Settled::default(),
            dry_run,
            targets,
            warmed: Vec::new(),
        });
    };
    let StoreSpec::S3 { bucket, prefix } = &options.publish.store else {
        bail!("publish needs an S3 store (s3://bucket/prefix)");
    };
    let client = upload_client(&options.publish.s3).await;
    let at = Location { client: &client, bucket, prefix };
    let known: Vec<_> = report.previous.iter().zip(report.previous_manifest.iter()).collect();
    let plan = pending::plan(&at, owed, &report.manifest, &known, options.budget).await?;
    let mut settled = Settled::default();
    if !dry_run {
        let publish = &options.publish;
        let finish = Finish {
            command: format!(
                "course publish {} --channel {} --from {}",
                store_flags(&publish.store, &publish.s3),
                publish.channel,
                shell_word(&publish.from.to_string_lossy())
            ),
            note: None,
        };
        settled =
            pending::settle(&at, &publish.channel, owed, &plan, &options.targets, options.wait, &finish)
                .await?;
    }
    let mut warmed = Vec::new();
    if options.warm && !dry_run && report.flipped {
        warmed = super::warm::after_release(
            &options.targets,
            report.previous_manifest.as_ref(),
            &report.manifest,
            &report.release,
        )
        .await;
    }
    Ok(DeployReport { publish: report, plan, settled, dry_run, targets, warmed })
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
            let verb = match (self.dry_run, self.targets) {
                (true, _) => "would finish",
                (false, true) => "finishing",
                (false, false) => "not finishing (no invalidation target given)",
            };
            writeln!(
                f,
                "{verb} the invalidation an earlier run left unfinished (since {})",
                pending::show_releases(&owed.since)
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
        for r in &self.settled.reports {
            writeln!(f, "  {}: {} requests, {} paths {:?}", r.target, r.requests, r.paths, r.ids)?;
        }
        write!(f, "{}", super::warm::describe(&self.warmed))?;
        if let Some(notice) = self.settled.notice() {
            writeln!(f, "{notice}")?;
        }
        Ok(())
    }
}
