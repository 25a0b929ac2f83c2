//! Settings of one origin process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Where releases are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A local directory with the store layout (what `course build` writes).
    Local(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreSpec,
    pub channel: String,
    pub listen: SocketAddr,
    /// Upper bound of the object cache, in bytes.
    pub cache_bytes: u64,
    /// How often the channel pointer is checked for a new release.
    pub poll: Duration,
    /// Longest a single store call may take before the request gets a 503.
    pub store_timeout: Duration,
}

impl Config {
    /// Defaults for serving a local directory store.
    pub fn local(dir: PathBuf, channel: String, listen: SocketAddr) -> Self {
        Config {
            store: StoreSpec::Local(dir),
            channel,
            listen,
            cache_bytes: 256 << 20,
            poll: Duration::from_secs(2),
            store_timeout: Duration::from_secs(5),
        }
    }
}

/// Command-line flags (each also readable from an `EDGE_ORIGIN_*` environment variable).
#[derive(Parser, Debug)]
#[command(name = "edge-origin", version, about = "Caching origin server for course releases")]
pub struct Args {
    /// The store: a local directory laid out as `course build` writes it.
    #[arg(long, env = "EDGE_ORIGIN_STORE")]
    pub store: PathBuf,
    /// The channel to follow.
    #[arg(long, env = "EDGE_ORIGIN_CHANNEL", default_value = "live")]
    pub channel: String,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "EDGE_ORIGIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Object cache size in bytes (suffixes KiB, MiB, GiB).
    #[arg(long, env = "EDGE_ORIGIN_CACHE_BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub cache_bytes: u64,
    /// How often to check the channel for a new release (e.g. 2s, 500ms).
    #[arg(long, env = "EDGE_ORIGIN_POLL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub poll: Duration,
    /// Timeout of one store call.
    #[arg(long, env = "EDGE_ORIGIN_STORE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub store_timeout: Duration,
}

impl From<Args> for Config {
    fn from(args: Args) -> Self {
        Config {
            store: StoreSpec::Local(args.store),
            channel: args.channel,
            listen: args.listen,
            cache_bytes: args.cache_bytes,
            poll: args.poll,
            store_timeout: args.store_timeout,
        }
    }
}

/// `256MiB`, `64KiB`, `1GiB`, `1000` -> bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (use B, KiB, MiB, GiB)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("size too large: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("12XB").is_err());
        assert!(parse_bytes("MiB").is_err());
    }
}
