//! Settings of one origin process: flags, then `EDGE_ORIGIN_*` environment variables,
//! then the TOML config file, then defaults (earlier wins).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

pub use crate::access_log::AccessLogTarget;
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
    pub grants: GrantSettings,
    /// Where the one-line-per-request access log goes (`RUST_LOG` can still silence it).
    pub access_log: AccessLogTarget,
}

/// Access to enrolled-only courses (CloudFront signed URLs/cookies).
#[derive(Debug, Clone)]
pub struct GrantSettings {
    /// `false` only for local previews: enrolled courses open without a grant.
    pub enforce: bool,
    /// Key pair id -> public key PEM file; several at once for rotation.
    pub trusted_keys: Vec<(String, PathBuf)>,
    /// The CDN's scheme and host that grants name, e.g. `https://learn.example.org`.
    pub public_url: Option<String>,
    pub skew: Duration,
    /// Secret header value proving the CDN enforced grants (then pages may be cached there).
    pub origin_verify_secret: Option<String>,
    /// Issuing grants at `POST /_origin/grants`: all four, or none.
    pub api_key: Option<String>,
    pub signing_key: Option<PathBuf>,
    pub signing_key_pair_id: Option<String>,
    pub rosters: Option<PathBuf>,
}

impl Default for GrantSettings {
    fn default() -> Self {
        GrantSettings {
            enforce: true,
            trusted_keys: Vec::new(),
            public_url: None,
            skew: Duration::from_secs(30),
            origin_verify_secret: None,
            api_key: None,
            signing_key: None,
            signing_key_pair_id: None,
            rosters: None,
        }
    }
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
            grants: GrantSettings { enforce: false, ..GrantSettings::default() },
            access_log: AccessLogTarget::Stderr,
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
    /// A trusted CloudFront key pair: KEY_PAIR_ID=public.pem (repeatable, for rotation).
    #[arg(long = "trusted-key", value_name = "ID=PEM")]
    pub trusted_keys: Vec<String>,
    /// Public URL (scheme://host) that grants are scoped to; default http://<Host>.
    #[arg(long, env = "EDGE_ORIGIN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Clock skew allowed when checking grant times [default: 30s].
    #[arg(long, env = "EDGE_ORIGIN_GRANT_SKEW", value_parser = humantime::parse_duration)]
    pub grant_skew: Option<Duration>,
    /// The CDN enforces grants and sends this in X-Origin-Verify: such requests are trusted.
    #[arg(long, env = "EDGE_ORIGIN_ORIGIN_VERIFY_SECRET", hide_env_values = true)]
    pub origin_verify_secret: Option<String>,
    /// API key of callers of POST /_origin/grants (e.g. the LMS).
    #[arg(long, env = "EDGE_ORIGIN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Private key PEM used to sign issued grants.
    #[arg(long, env = "EDGE_ORIGIN_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Key pair id of --signing-key (as CloudFront knows it).
    #[arg(long, env = "EDGE_ORIGIN_SIGNING_KEY_PAIR_ID")]
    pub signing_key_pair_id: Option<String>,
    /// Enrollment rosters: TOML `[courses] <slug> = ["student", ...]`, re-read on change.
    #[arg(long, env = "EDGE_ORIGIN_ROSTERS")]
    pub rosters: Option<PathBuf>,
    /// Local preview for authors: enrolled-only courses open without a grant. Never in production.
    #[arg(long)]
    pub preview: bool,
    /// Access log, one line per request: stderr, off, or a file to append to [default: stderr].
    #[arg(long, env = "EDGE_ORIGIN_ACCESS_LOG", value_parser = AccessLogTarget::parse)]
    pub access_log: Option<AccessLogTarget>,
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
    #[serde(default)]
    trusted_keys: Vec<String>,
    public_url: Option<String>,
    grant_skew: Option<String>,
    origin_verify_secret: Option<String>,
    api_key: Option<String>,
    signing_key: Option<PathBuf>,
    signing_key_pair_id: Option<String>,
    rosters: Option<PathBuf>,
    access_log: Option<String>,
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
        let key_specs = if self.trusted_keys.is_empty() { file.trusted_keys } else { self.trusted_keys };
        let trusted_keys = key_specs
            .iter()
            .map(|spec| match spec.split_once('=') {
                Some((id, path)) if !id.is_empty() && !path.is_empty() => {
                    Ok((id.to_owned(), PathBuf::from(path)))
                }
                _ => Err(invalid("trusted key", format!("{spec:?} is not KEY_PAIR_ID=public.pem"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let grants = GrantSettings {
            enforce: !self.preview,
            trusted_keys,
            public_url: self.public_url.or(file.public_url),
            skew: self
                .grant_skew
                .or(parse_duration("grant_skew", file.grant_skew)?)
                .unwrap_or(Duration::from_secs(30)),
            origin_verify_secret: self
                .origin_verify_secret
                .or(file.origin_verify_secret)
                .filter(|s| !s.is_empty()),
            api_key: self.api_key.or(file.api_key).filter(|s| !s.is_empty()),
            signing_key: self.signing_key.or(file.signing_key),
            signing_key_pair_id: self.signing_key_pair_id.or(file.signing_key_pair_id),
            rosters: self.rosters.or(file.rosters),
        };
        let issuing = [
            grants.api_key.is_some(),
            grants.signing_key.is_some(),
            grants.signing_key_pair_id.is_some(),
            grants.rosters.is_some(),
        ];
        if issuing.iter().any(|set| *set) && !issuing.iter().all(|set| *set) {
            return Err(ConfigError::Invalid(
                "issuing grants needs all of api_key, signing_key, signing_key_pair_id and rosters".into(),
            ));
        }
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
            grants,
            access_log: match self.access_log {
                Some(target) => target,
                None => file
                    .access_log
                    .map(|s| AccessLogTarget::parse(&s).map_err(|e| invalid("access_log", e)))
                    .transpose()?
                    .unwrap_or(AccessLogTarget::Stderr),
            },
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
        assert_eq!(config.access_log, AccessLogTarget::Stderr, "on by default");

        std::fs::write(&file, "store = \"dist\"\naccess_log = \"off\"\n").expect("write");
        let config = Args { config: Some(file.clone()), ..Args::default() }.resolve().expect("resolves");
        assert_eq!(config.access_log, AccessLogTarget::Off);
        let args = Args::parse_from([
            "edge-origin",
            "--config",
            file.to_str().expect("utf-8"),
            "--access-log",
            "/tmp/a.log",
        ]);
        let config = args.resolve().expect("resolves");
        assert_eq!(config.access_log, AccessLogTarget::File("/tmp/a.log".into()), "the flag wins");

        std::fs::write(&file, "stor = \"x\"\n").expect("write");
        let err = Args { config: Some(file), ..Args::default() }.resolve().expect_err("unknown key");
        assert!(err.to_string().contains("unknown field"), "{err}");
        assert!(matches!(Args::default().resolve(), Err(ConfigError::NoStore)));
    }
}
