//! `course keys`: the key pairs that sign grants.

use std::path::PathBuf;

use crate::failure::Failure;

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Write a new key pair (ECDSA P-256 by default) and print how to use it.
    New {
        /// Where to write `<id>.pem` and `<id>.pub.pem`.
        #[arg(long, default_value = "keys")]
        out: PathBuf,
        /// The key pair id (CloudFront's public key id); default: a random one.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, value_enum, default_value = "p256")]
        algorithm: builder::keys::Algorithm,
    },
}

pub(crate) fn run(command: &Command) -> Result<(), Failure> {
    match command {
        Command::New { out, id, algorithm } => {
            let id = id.clone().unwrap_or_else(builder::keys::random_id);
            crate::out::say(builder::keys::new_pair(out, &id, *algorithm)?);
        }
    }
    Ok(())
}
