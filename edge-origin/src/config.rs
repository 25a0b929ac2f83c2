//! Settings of one origin process: flags, then `EDGE_ORIGIN_*` environment variables,
//! then the TOML config file, then defaults (earlier wins).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

pub use crate::store::{S3Options, StoreSpec};

#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreSpec,
    pub s3: S3Options,
    pub channel: String,
    pub listen: SocketAddr,
    /// Upper bound of the object cache, in bytes.
    pub cache_bytes: u64,
    /// How often the channel pointer is checked for a new release.
    pub poll: Duration,
    /// Longest a single store call may take before the request gets a 503.
    pub store_timeout: Duration,
    /// Bearer token for the admin endpoints; `None` disables them.
    pub admin_token: Option<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_CACHE: u64 = 256 << 20;
const DEFAULT_POLL: Duration = Duration::from_secs(2);
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

impl Config {
    /// Defaults for serving a local directory store.
    pub fn local(dir: PathBuf, channel: String, listen: SocketAddr) -> Self {
        Config {
            store: StoreSpec::Local(dir),
            s3: S3Options::default(),
            channel,
            listen,
            cache_bytes: DEFAULT_CACHE,
            poll: DEFAULT_POLL,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            admin_token: None,
        }
    }
}

/// Command-line flags; each can also come from its `EDGE_ORIGIN_*` variable or the file.
#[derive(Parser, Debug, Default)]
#[command(name = "edge-origin", version, about = "Caching origin server for course releases")]
pub struct Args {
    /// TOML file with any of the settings below (keys as the long flags, with `_`).
    #[arg(long, env = "EDGE_ORIGIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// The store: a directory as `course build` writes it, or s3://bucket/prefix.
    #[arg(long, env = "EDGE_ORIGIN_STORE")]
    pub store: Option<String>,
    /// S3 endpoint URL (Garage, MinIO, R2...); path-style addressing is used with it.
    #[arg(long, env = "EDGE_ORIGIN_ENDPOINT")]
    pub endpoint: Option<String>,
    /// S3 region (otherwise from the AWS environment).
    #[arg(long, env = "EDGE_ORIGIN_REGION")]
    pub region: Option<String>,
    /// The channel to follow [default: live].
    #[arg(long, env = "EDGE_ORIGIN_CHANNEL")]
    pub channel: Option<String>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "EDGE_ORIGIN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Object cache size, e.g. 256MiB [default: 256MiB].
    #[arg(long, env = "EDGE_ORIGIN_CACHE_BYTES", value_parser = parse_bytes)]
    pub cache_bytes: Option<u64>,
    /// How often to check the channel for a new release, e.g. 2s, 500ms [default: 2s].
    #[arg(long, env = "EDGE_ORIGIN_POLL", value_parser = humantime::parse_duration)]
    pub poll: Option<Duration>,
    /// Timeout of one store call [default: 5s].
    #[arg(long, env = "EDGE_ORIGIN_STORE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub store_timeout: Option<Duration>,
    /// Bearer token for POST /_origin/invalidate (admin endpoints are off without one).
    #[arg(long, env = "EDGE_ORIGIN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// The config file: the same settings as the flags.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    store: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    channel: Option<String>,
    listen: Option<SocketAddr>,
    cache_bytes: Option<String>,
    poll: Option<String>,
    store_timeout: Option<String>,
    admin_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config file {0}: {1}")]
    Parse(PathBuf, String),
    #[error("no store given: pass --store DIR|s3://bucket/prefix (or set it in the config file)")]
    NoStore,
    #[error("{0}")]
    Invalid(String),
}

impl Args {
    /// Merges flags/env with the config file (if any) and defaults.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.clone(), e))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError::Parse(path.clone(), e.to_string()))?
            }
            None => FileConfig::default(),
        };
        let invalid = |what: &str, e: String| ConfigError::Invalid(format!("{what}: {e}"));
        let parse_duration = |what: &str, s: Option<String>| -> Result<Option<Duration>, ConfigError> {
            s.map(|s| humantime::parse_duration(&s).map_err(|e| invalid(what, e.to_string()))).transpose()
        };
        let store = self.store.or(file.store).ok_or(ConfigError::NoStore)?;
        let file_cache =
            file.cache_bytes.map(|s| parse_bytes(&s).map_err(|e| invalid("cache_bytes", e))).transpose()?;
        let admin_token = self.admin_token.or(file.admin_token).filter(|t| !t.is_empty());
        Ok(Config {
            store: StoreSpec::parse(&store).map_err(ConfigError::Invalid)?,
            s3: S3Options { endpoint: self.endpoint.or(file.endpoint), region: self.region.or(file.region) },
            channel: self.channel.or(file.channel).unwrap_or_else(|| "live".into()),
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            cache_bytes: self.cache_bytes.or(file_cache).unwrap_or(DEFAULT_CACHE),
            poll: self.poll.or(parse_duration("poll", file.poll)?).unwrap_or(DEFAULT_POLL),
            store_timeout: self
                .store_timeout
                .or(parse_duration("store_timeout", file.store_timeout)?)
                .unwrap_or(DEFAULT_STORE_TIMEOUT),
            admin_token,
        })
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

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("origin.toml");
        std::fs::write(
            &file,
            "store = \"s3://bucket/site\"\nendpoint = \"http://127.0.0.1:3900\"\npoll = \"500ms\"\ncache_bytes = \"64MiB\"\nchannel = \"preview\"\n",
        )
        .expect("write");
        let args = Args { config: Some(file.clone()), channel: Some("live".into()), ..Args::default() };
        let config = args.resolve().expect("resolves");
        assert_eq!(config.store, StoreSpec::S3 { bucket: "bucket".into(), prefix: "site".into() });
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(config.poll, Duration::from_millis(500));
        assert_eq!(config.cache_bytes, 64 << 20);
        assert_eq!(config.channel, "live", "the flag wins");
        assert_eq!(config.store_timeout, DEFAULT_STORE_TIMEOUT);

        std::fs::write(&file, "stor = \"x\"\n").expect("write");
        let err = Args { config: Some(file), ..Args::default() }.resolve().expect_err("unknown key");
        assert!(err.to_string().contains("unknown field"), "{err}");
        assert!(matches!(Args::default().resolve(), Err(ConfigError::NoStore)));
    }
}
