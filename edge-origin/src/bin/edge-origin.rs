//! `edge-origin`: parses flags and runs the server.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let _log_flusher = edge_origin::init_logging();
    let config = edge_origin::Args::parse().resolve()?;
    edge_origin::run_blocking(config)
}
