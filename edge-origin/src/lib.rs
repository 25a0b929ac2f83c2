//! edge-origin: a small caching origin that serves course releases from a store to a CDN.

pub mod access;
pub mod access_log;
pub mod admission;
pub mod authority;
pub mod cache;
pub mod client_ip;
pub mod config;
pub mod conn_guard;
pub mod grants;
pub mod handler;
pub mod limits;
pub mod metrics;
pub mod negotiate;
pub mod path;
pub mod prepared;
pub mod release;
pub mod secret;
pub mod server;
pub mod store;

pub use config::{Args, Config};
pub use server::{shutdown_signal, Server};

/// Logs to stderr (colours only on a terminal), filtered by `RUST_LOG` (default `info`).
/// The per-request access log has its own cheaper writer ([`access_log`], `--access-log`),
/// which `RUST_LOG` can still silence (e.g. `warn`). Lines are written by a background
/// thread so a request never waits on stderr (under overload, lines are dropped rather than
/// slowing requests); keep the guard alive until exit so the last lines are flushed.
pub fn init_logging() -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer)
        .init();
    guard
}

/// Binds, prints the URL to open, and serves until SIGTERM/Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    let addr = server.local_addr()?;
    let release = server.release_id().unwrap_or_else(|| "none yet".into());
    // Tests and people read this line to find the port.
    println!("edge-origin listening on http://{addr}/ (release {release})");
    server.serve(shutdown_signal()).await;
    Ok(())
}

/// [`run`] on a new multi-threaded runtime.
pub fn run_blocking(config: Config) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(config))
}
