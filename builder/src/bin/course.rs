//! `course`: build, preview and publish course releases. Parses flags and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use builder::{build, BuildError, BuildOptions};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "course", version, about = "Build, preview and publish course releases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct BuildArgs {
    /// The content tree to build.
    #[arg(long, default_value = "content")]
    content: PathBuf,
    /// The local store to write the release into.
    #[arg(long, default_value = "dist")]
    out: PathBuf,
    /// The channel to point at the new release.
    #[arg(long, default_value = "live")]
    channel: String,
}

#[derive(Subcommand)]
enum Command {
    /// Render content into a content-hashed release in a local store.
    Build(BuildArgs),
    /// Build, then serve the release through edge-origin on the local store.
    Serve {
        #[command(flatten)]
        build: BuildArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Issue a signed URL and cookies for an enrolled-only course (CloudFront format).
    Sign {
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
    },
}

impl BuildArgs {
    fn options(&self) -> BuildOptions {
        BuildOptions { content: self.content.clone(), out: self.out.clone(), channel: self.channel.clone() }
    }
}

fn run_build(args: &BuildArgs) -> Result<(), ExitCode> {
    match build(&args.options()) {
        Ok(report) => {
            println!("{report}");
            Ok(())
        }
        Err(BuildError::Content(errors)) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!("{} content error(s); no release written", errors.len());
            Err(ExitCode::from(1))
        }
        Err(err) => {
            eprintln!("error: {err}");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    edge_origin::init_logging();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Build(args) => run_build(args),
        Command::Sign { key, key_pair_id, url_prefix, ttl, ip } => {
            let options = builder::sign::SignOptions { key, key_pair_id, url_prefix, ttl: *ttl, ip: *ip };
            match builder::sign::sign(&options) {
                Ok(signed) => {
                    println!("url: {}", signed.url);
                    println!("expires: {}", signed.expires);
                    for (name, value) in &signed.issued.cookies {
                        println!("cookie: {name}={value}");
                    }
                    Ok(())
                }
                Err(err) => {
                    eprintln!("error: {err:#}");
                    Err(ExitCode::from(2))
                }
            }
        }
        Command::Serve { build, listen } => run_build(build).and_then(|()| {
            let config = edge_origin::Config::local(build.out.clone(), build.channel.clone(), *listen);
            edge_origin::run_blocking(config).map_err(|err| {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
