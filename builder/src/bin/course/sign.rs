//! `course sign`: a signed URL and cookies for an enrolled-only course (CloudFront format).

use std::path::PathBuf;

use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Private key PEM (RSA-2048 or ECDSA P-256).
    #[arg(long)]
    key: PathBuf,
    /// The key pair id the edge knows the public key by.
    #[arg(long)]
    key_pair_id: String,
    /// What the grant opens, ending in `/`, e.g. https://learn.example.org/courses/py1/
    #[arg(long)]
    url_prefix: String,
    /// How long the grant lasts.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    ttl: std::time::Duration,
    /// Only for requests from this network (CIDR).
    #[arg(long)]
    ip: Option<ipnet::IpNet>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let options = builder::sign::SignOptions {
        key: &args.key,
        key_pair_id: &args.key_pair_id,
        url_prefix: &args.url_prefix,
        ttl: args.ttl,
        ip: args.ip,
    };
    crate::out::print(builder::sign::sign(&options)?);
    Ok(())
}
