//! `course rollback` and `course promote`: move a channel to a release already stored.

use crate::failure::{block_on, Failure};
use crate::remote::{CdnArgs, RemoteArgs};

#[derive(clap::Args)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    cdn: CdnArgs,
    #[arg(long, default_value = "live")]
    channel: String,
    /// The release to go back to (default: the one before the current).
    #[arg(long)]
    to: Option<bundle::ReleaseId>,
}

#[derive(clap::Args)]
pub(crate) struct PromoteArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    cdn: CdnArgs,
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
}

pub(crate) fn rollback(args: &RollbackArgs) -> Result<(), Failure> {
    let options = args.cdn.switch_options(&args.remote)?;
    crate::out::print(block_on(builder::release::switch::rollback(
        &options,
        &args.channel,
        args.to.clone(),
    ))?);
    Ok(())
}

pub(crate) fn promote(args: &PromoteArgs) -> Result<(), Failure> {
    let options = args.cdn.switch_options(&args.remote)?;
    crate::out::print(block_on(builder::release::switch::promote(&options, &args.from, &args.to))?);
    Ok(())
}
