//! `course publish`: upload the release atomically, then invalidate exactly what changed.

use std::fmt::Write as _;

use crate::build::human_bytes;
use crate::invalidate::{self, InvalidationReport, Plan, Target};
use crate::publish::{publish, PublishOptions, PublishReport};

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
    let plan = invalidate::plan(report.previous_manifest.as_ref(), &report.manifest, options.budget);
    let mut invalidations = Vec::new();
    if report.flipped && !plan.is_empty() && !options.targets.is_empty() {
        invalidations =
            invalidate::invalidate(&plan, &report.release, &options.targets, options.wait).await?;
    }
    Ok(DeployReport { publish: report, plan, invalidations, dry_run: options.publish.dry_run })
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
