//! `course build`: content tree -> release in a local store.

use std::path::PathBuf;
use std::time::Duration;

use builder::{build, BuildError, BuildOptions, ExternalCheck};

use crate::failure::Failure;
use crate::out::say;

/// `course build`'s flags: what `course serve` takes too, and `--drafts`.
#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    #[command(flatten)]
    build: BuildArgs,
    /// Include draft courses and lessons (`draft = true`), marked as drafts: a preview
    /// that `course publish` refuses. Without it they are left out.
    #[arg(long)]
    drafts: bool,
    /// Fail (exit 1, writing no release) when there are warnings, as when there are errors.
    #[arg(long)]
    deny_warnings: bool,
    /// Also check external (http/https) links, each URL once (HEAD, or GET where HEAD is
    /// refused): broken ones are content errors.
    #[arg(long)]
    check_external: bool,
    /// With --check-external: the longest wait for one URL, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "check_external")]
    external_timeout: Duration,
    /// With --check-external: the most distinct URLs checked (the rest are warned about).
    #[arg(long, default_value_t = 1000, requires = "check_external")]
    external_max: usize,
}

#[derive(clap::Args, Clone)]
pub(crate) struct BuildArgs {
    /// The content tree to build.
    #[arg(long, default_value = "content")]
    pub(crate) content: PathBuf,
    /// The local store to write the release into.
    #[arg(long, default_value = "dist")]
    pub(crate) out: PathBuf,
    /// The channel to point at the new release.
    #[arg(long, default_value = "live")]
    pub(crate) channel: String,
    /// Print how long each phase of the build took.
    #[arg(long)]
    pub(crate) timings: bool,
    /// Largest lesson, TOML or instructions file the build reads, e.g. 1MiB.
    #[arg(long, default_value = "1MiB", value_parser = bundle::size::parse_bytes)]
    max_source_size: u64,
}

/// Unused files listed by name after a build (the rest are counted).
const UNPUBLISHED_SHOWN: usize = 20;

impl BuildArgs {
    pub(crate) fn options(&self) -> BuildOptions {
        BuildOptions {
            content: self.content.clone(),
            out: self.out.clone(),
            channel: self.channel.clone(),
            max_source_bytes: self.max_source_size,
            drafts: false,
            deny_warnings: false,
            check_external: None,
            precompress: true,
            search: true,
            offline_lists: true,
            keep_manifest: false,
        }
    }
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let options = BuildOptions {
        drafts: args.drafts,
        deny_warnings: args.deny_warnings,
        check_external: args.check_external.then(|| ExternalCheck {
            timeout: args.external_timeout,
            max_urls: args.external_max,
            ..ExternalCheck::default()
        }),
        ..args.build.options()
    };
    let report = build(&options).map_err(|err| match err {
        BuildError::Content { errors, warnings } => Failure::Content { errors, warnings },
        BuildError::Warnings(warnings) => Failure::Warnings(warnings),
        other => Failure::Other(other.into()),
    })?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if !report.unpublished.is_empty() {
        eprintln!("warning: {} file(s) that no page uses were not published:", report.unpublished.len());
        for path in report.unpublished.iter().take(UNPUBLISHED_SHOWN) {
            eprintln!("  {}", path.display());
        }
        if report.unpublished.len() > UNPUBLISHED_SHOWN {
            eprintln!("  ... and {} more", report.unpublished.len() - UNPUBLISHED_SHOWN);
        }
    }
    say(&report);
    if args.build.timings {
        for (phase, took) in &report.phases {
            say(format_args!("  {:>8.1} ms  {phase}", took.as_secs_f64() * 1000.0));
        }
    }
    Ok(())
}
