//! `course gc`: delete objects no recent release of any channel needs.

use crate::failure::{block_on, Failure};
use crate::remote::RemoteArgs;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Releases kept per channel (besides the live one).
    #[arg(long)]
    keep: usize,
    /// Only objects older than this are deleted (a publish may be under way).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    grace: std::time::Duration,
    /// Abort the whole run, deleting nothing, when more objects than this would go.
    #[arg(long, default_value_t = 10_000)]
    max_delete: usize,
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let plan = block_on(async {
        let (bucket, prefix, client) = args.remote.client().await?;
        builder::release::history::gc(
            &client,
            &bucket,
            &prefix,
            args.keep,
            args.grace,
            args.max_delete,
            args.dry_run,
        )
        .await
    })?;
    crate::out::print(builder::release::history::GcSummary { plan: &plan, dry_run: args.dry_run });
    Ok(())
}
