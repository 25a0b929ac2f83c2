//! `course serve`: build, then serve the release through edge-origin on the local store.

use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    build: crate::build::BuildArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Check grants for enrolled courses as production does (with a local key made for
    /// the preview; signed URLs to try are printed), instead of opening them.
    #[arg(long)]
    enforce_grants: bool,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    crate::build::run(&args.build)?;
    let config = edge_origin::Config::local(args.build.out.clone(), args.build.channel.clone(), args.listen);
    if args.enforce_grants {
        builder::preview::serve_enforcing_grants(config, &args.build.out)?;
    } else {
        edge_origin::run_blocking(config)?;
    }
    Ok(())
}
