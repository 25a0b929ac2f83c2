//! edge-origin: a small caching origin that serves course releases from a store to a CDN.

// Serving: connections, dispatch, the two kinds of endpoint.
mod admin;
mod admission;
mod conn_guard;
mod content;
mod dispatch;
mod response;
mod server;
mod state;

// What content serving is built from.
mod cache;
mod grants;
mod prepared;
mod release;

// Cross-cutting: configuration, the client's address, logs, metrics.
mod access_log;
mod client_ip;
pub mod config;
mod latency_histogram;
mod limits;
mod live;
mod metrics;
mod secret;

// Parsers of request text, public for the fuzz targets (`fuzz/`) and `course sign`.
pub mod authority;
pub mod negotiate;
pub mod path;

pub use config::{Args, Config};
pub use live::{AuthorError, LiveHandle};
pub use server::{shutdown_signal, Server};

/// Temporary: builder moves to the store crate in the release-wing change (then this
/// module goes, and builder names `store::Timeouts::PUBLISH`/`HISTORY` itself).
pub mod store {
    pub use ::store::*;

    /// Temporary (see the module): [`::store::s3_client`] with a bare per-call limit.
    pub async fn s3_client(options: &S3Options, timeout: std::time::Duration) -> aws_sdk_s3::Client {
        ::store::s3_client(options, Timeouts::per_call(timeout)).await
    }
}

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
