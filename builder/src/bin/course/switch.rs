//! `course rollback` and `course promote`: move a channel to a release already stored;
//! `course warm`: fetch the live release through the edges.

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

#[derive(clap::Args)]
pub(crate) struct WarmArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[arg(long, default_value = "live")]
    channel: String,
    /// A Varnish edge (running the repo's VCL) to fetch every public route through
    /// (repeatable).
    #[arg(long = "edge", required = true)]
    edges: Vec<String>,
}

/// `course warm`: fill the edges with the live release before the students come.
pub(crate) fn warm(args: &WarmArgs) -> Result<(), Failure> {
    let (store, s3) = args.remote.parse()?;
    let (release, reports) =
        block_on(builder::release::warm::warm_live(&store, &s3, &args.channel, &args.edges))?;
    print!(
        "warmed release {release} of channel {}\n{}",
        args.channel,
        builder::release::warm::describe(&reports)
    );
    if reports.iter().any(|r| !r.failed.is_empty()) {
        return Err(anyhow::anyhow!("some routes were not warmed (listed above)").into());
    }
    Ok(())
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
