//! `course`: build, preview and publish course releases. Parses flags and calls the
//! library: one file per subcommand, one way a failure becomes an exit code
//! ([`failure::Failure`]), and stdout writes a closed pipe cannot make panic ([`out`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod build;
mod failure;
mod gc;
mod generate;
mod keys;
mod logging;
mod new;
mod out;
mod pack;
mod publish;
mod releases;
mod remote;
mod serve;
mod sign;
mod switch;

// A build allocates and frees many buffers (pages, compressor tables) across threads;
// mimalloc keeps them instead of returning them to the kernel each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "course", version, about = "Build, preview and publish course releases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render content into a content-hashed release in a local store.
    Build(build::Args),
    /// Scaffold a course (a draft) with its first lesson, and list it in site.toml.
    New(new::Args),
    /// Build (drafts included), then serve the release through edge-origin on the local store.
    Serve(serve::Args),
    /// Manage the key pairs that sign grants.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
    /// Upload the release to S3 atomically and invalidate exactly what changed.
    Publish(publish::Args),
    /// Point a channel back at its previous release (or --to ID), then invalidate.
    Rollback(switch::RollbackArgs),
    /// Point one channel at the release another serves (e.g. --from preview --to live).
    Promote(switch::PromoteArgs),
    /// Fetch every public route of a channel's release through Varnish edges, so they hold
    /// it before the students come (publish, rollback and promote take --warm for what
    /// they change).
    Warm(switch::WarmArgs),
    /// List each channel's releases (newest first), with times and counts.
    Releases(releases::Args),
    /// Delete objects no recent release of any channel needs.
    Gc(gc::Args),
    /// Write a deterministic synthetic catalogue (and optionally Hugo and mdBook peers).
    Generate(generate::Args),
    /// Issue a signed URL and cookies for an enrolled-only course (CloudFront format).
    Sign(sign::Args),
    /// Write one course of the built release as a zip that opens from disk.
    Pack(pack::Args),
}

fn main() -> ExitCode {
    logging::init();
    let result = match &Cli::parse().command {
        Command::Build(args) => build::run(args),
        Command::New(args) => new::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Keys { command } => keys::run(command),
        Command::Publish(args) => publish::run(args),
        Command::Rollback(args) => switch::rollback(args),
        Command::Promote(args) => switch::promote(args),
        Command::Warm(args) => switch::warm(args),
        Command::Releases(args) => releases::run(args),
        Command::Gc(args) => gc::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Pack(args) => pack::run(args),
    };
    result.map_or_else(failure::Failure::report, |()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own consistency checks of every subcommand (unique argument and group ids,
    /// defaults that parse), which otherwise panic only when that subcommand runs.
    #[test]
    fn every_subcommand_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
