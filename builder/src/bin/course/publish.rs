//! `course publish`: upload the release to S3 atomically and invalidate what changed.

use std::path::PathBuf;

use builder::release::deploy::DeployOptions;
use builder::release::publish::PublishOptions;

use crate::failure::{block_on, Failure};
use crate::remote::{CdnArgs, RemoteArgs};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    cdn: CdnArgs,
    #[arg(long, default_value = "live")]
    channel: String,
    /// The local store `course build` wrote.
    #[arg(long, default_value = "dist")]
    from: PathBuf,
    /// Print the plan (uploads, bytes, invalidation paths and cost); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Uploads in flight.
    #[arg(long, default_value_t = builder::release::publish::DEFAULT_CONCURRENCY)]
    concurrency: usize,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let (store, s3) = args.remote.parse()?;
    let options = DeployOptions {
        publish: PublishOptions {
            from: args.from.clone(),
            store,
            s3,
            channel: args.channel.clone(),
            concurrency: args.concurrency,
            multipart_threshold: builder::release::publish::DEFAULT_MULTIPART_THRESHOLD,
            dry_run: args.dry_run,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        },
        targets: args.cdn.targets()?,
        budget: args.cdn.budget,
        wait: args.cdn.wait,
        warm: args.cdn.warm,
    };
    crate::out::print(block_on(builder::release::deploy::deploy(&options))?);
    Ok(())
}
