//! `course releases`: each channel's history, newest first.

use crate::failure::{block_on, Failure};
use crate::remote::RemoteArgs;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let entries = block_on(async {
        let (bucket, prefix, client) = args.remote.client().await?;
        builder::release::history::releases(&client, &bucket, &prefix).await
    })?;
    crate::out::print(builder::release::history::ReleaseTable(&entries));
    Ok(())
}
