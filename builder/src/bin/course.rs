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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Build(args) => run_build(args),
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
