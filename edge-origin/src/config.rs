//! Settings of one origin process: flags, then `EDGE_ORIGIN_*` environment variables,
//! then the TOML config file, then defaults (earlier wins).

pub use bundle::size::parse_bytes;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use http::HeaderName;
use ipnet::IpNet;
use serde::Deserialize;

pub use crate::access_log::AccessLogTarget;
use crate::client_ip;
pub use crate::limits::ConnectionLimits;
use crate::limits::{default_per_ip, HEAD_ALLOWANCE};
pub use crate::secret::Secret;
pub use store::{S3Options, StoreSpec};

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
    /// Store reads in flight at most: a restarted origin (or one behind purged edges)
    /// queues its cold misses instead of sending thousands of GETs to the store at once.
    pub store_concurrency: usize,
    /// Bearer token for the admin endpoints; `None` disables them.
    pub admin_token: Option<Secret>,
    pub grants: GrantSettings,
    /// Where the one-line-per-request access log goes (`RUST_LOG` can still silence it).
    pub access_log: AccessLogTarget,
    /// Timeouts, connection caps and header limits per client.
    pub limits: ConnectionLimits,
    /// Whose forwarding header names the client (for grants' `IpAddress`).
    pub proxies: ProxySettings,
    /// `course serve`: pages get the live reload client and its event stream (`live.rs`).
    pub live_reload: bool,
}

/// Proxies (CDN edges, Varnish) whose forwarding header is believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// Empty: the client is always the TCP peer.
    pub trusted: Vec<IpNet>,
    /// The header they name the client in: `X-Forwarded-For` (a list, read from the
    /// right) or `CloudFront-Viewer-Address` (`ip:port`).
    pub real_ip_header: HeaderName,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings { trusted: Vec::new(), real_ip_header: HeaderName::from_static("x-forwarded-for") }
    }
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
    pub origin_verify_secret: Option<Secret>,
    /// Issuing grants at `POST /_origin/grants`: all four, or none.
    pub api_key: Option<Secret>,
    pub signing_key: Option<PathBuf>,
    pub signing_key_pair_id: Option<String>,
    pub rosters: Option<PathBuf>,
    /// Sign issued grants with an RSA key anyway (the `rsa` crate's signing is not
    /// constant-time, RUSTSEC-2023-0071); by default only P-256 keys sign online.
    pub allow_rsa_signing: bool,
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
            allow_rsa_signing: false,
        }
    }
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_CACHE: u64 = 256 << 20;
const DEFAULT_POLL: Duration = Duration::from_secs(2);
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// Enough to keep an S3 endpoint busy from one origin, far below what a cold restart
/// under load would otherwise send at once.
const DEFAULT_STORE_CONCURRENCY: usize = 64;

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
            store_concurrency: DEFAULT_STORE_CONCURRENCY,
            admin_token: None,
            grants: GrantSettings { enforce: false, ..GrantSettings::default() },
            access_log: AccessLogTarget::Stderr,
            limits: ConnectionLimits::default(),
            proxies: ProxySettings::default(),
            live_reload: false,
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
    /// Store reads in flight at most; more cold misses wait (within --store-timeout) [default: 64].
    #[arg(long, env = "EDGE_ORIGIN_STORE_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub store_concurrency: Option<u32>,
    /// Bearer token for POST /_origin/invalidate (admin endpoints are off without one).
    #[arg(long, env = "EDGE_ORIGIN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
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
    pub origin_verify_secret: Option<Secret>,
    /// API key of callers of POST /_origin/grants (e.g. the LMS).
    #[arg(long, env = "EDGE_ORIGIN_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,
    /// Private key PEM used to sign issued grants.
    #[arg(long, env = "EDGE_ORIGIN_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Key pair id of --signing-key (as CloudFront knows it).
    #[arg(long, env = "EDGE_ORIGIN_SIGNING_KEY_PAIR_ID")]
    pub signing_key_pair_id: Option<String>,
    /// Enrollment rosters: TOML `[courses] <slug> = ["student", ...]`, re-read on change.
    #[arg(long, env = "EDGE_ORIGIN_ROSTERS")]
    pub rosters: Option<PathBuf>,
    /// Let --signing-key be an RSA key (its signing is not constant-time: RUSTSEC-2023-0071).
    #[arg(long)]
    pub allow_rsa_signing: bool,
    /// Local preview for authors: enrolled-only courses open without a grant. Never in production.
    #[arg(long)]
    pub preview: bool,
    /// Access log, one line per request: stderr, off, or a file to append to [default: stderr].
    #[arg(long, env = "EDGE_ORIGIN_ACCESS_LOG", value_parser = AccessLogTarget::parse)]
    pub access_log: Option<AccessLogTarget>,
    /// A proxy (CDN edge, Varnish) whose --real-ip-header is believed: CIDR or address
    /// (repeatable, or comma-separated). Others' forwarding headers are ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR", env = "EDGE_ORIGIN_TRUSTED_PROXIES", value_delimiter = ',', value_parser = client_ip::parse_trusted)]
    pub trusted_proxies: Vec<IpNet>,
    /// Header naming the client, read only from trusted proxies [default: X-Forwarded-For;
    /// CloudFront-Viewer-Address is `ip:port`].
    #[arg(long, env = "EDGE_ORIGIN_REAL_IP_HEADER", value_parser = client_ip::parse_header)]
    pub real_ip_header: Option<HeaderName>,
    /// Time from a request head's first byte (or a new connection) to its end [default: 10s].
    #[arg(long, env = "EDGE_ORIGIN_HEADER_TIMEOUT", value_parser = humantime::parse_duration)]
    pub header_timeout: Option<Duration>,
    /// Time a kept-alive connection may wait for its next request [default: 75s].
    #[arg(long, env = "EDGE_ORIGIN_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Time a response write may make no progress before the client is dropped [default: 30s].
    #[arg(long, env = "EDGE_ORIGIN_SEND_TIMEOUT", value_parser = humantime::parse_duration)]
    pub send_timeout: Option<Duration>,
    /// Time a request body (POST /_origin/grants) may take to arrive [default: 10s].
    #[arg(long, env = "EDGE_ORIGIN_BODY_TIMEOUT", value_parser = humantime::parse_duration)]
    pub body_timeout: Option<Duration>,
    /// Connections open at once; beyond it the kernel backlog queues [default: fits the
    /// open-files limit, keeping a quarter (32..4096) of it for the rest].
    #[arg(long, env = "EDGE_ORIGIN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections open at once from one address (IPv6: one /64); more get 503; trusted
    /// proxies exempt; 0: no cap [default: half of --max-connections].
    #[arg(long, env = "EDGE_ORIGIN_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Largest request head, e.g. 64KiB; larger get 431 [default: 64KiB].
    #[arg(long, env = "EDGE_ORIGIN_MAX_HEADER_BYTES", value_parser = parse_bytes)]
    pub max_header_bytes: Option<u64>,
    /// Most header lines in a request; more get 431 [default: 100].
    #[arg(long, env = "EDGE_ORIGIN_MAX_HEADERS")]
    pub max_headers: Option<usize>,
    /// Bytes of unfinished request heads across all connections (beyond 8KiB of each);
    /// a read past it closes its connection [default: 64MiB].
    #[arg(long, env = "EDGE_ORIGIN_HEADER_BUDGET", value_parser = parse_bytes)]
    pub header_budget: Option<u64>,
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
    store_concurrency: Option<u32>,
    admin_token: Option<Secret>,
    #[serde(default)]
    trusted_keys: Vec<String>,
    public_url: Option<String>,
    grant_skew: Option<String>,
    origin_verify_secret: Option<Secret>,
    api_key: Option<Secret>,
    signing_key: Option<PathBuf>,
    signing_key_pair_id: Option<String>,
    rosters: Option<PathBuf>,
    #[serde(default)]
    allow_rsa_signing: bool,
    access_log: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    real_ip_header: Option<String>,
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    send_timeout: Option<String>,
    body_timeout: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_header_bytes: Option<String>,
    max_headers: Option<usize>,
    header_budget: Option<String>,
}

/// The keys of the config file, the only words of a parse error's message kept verbatim.
const FILE_KEYS: &[&str] = &[
    "store",
    "endpoint",
    "region",
    "channel",
    "listen",
    "cache_bytes",
    "poll",
    "store_timeout",
    "store_concurrency",
    "admin_token",
    "trusted_keys",
    "public_url",
    "grant_skew",
    "origin_verify_secret",
    "api_key",
    "signing_key",
    "signing_key_pair_id",
    "rosters",
    "access_log",
    "trusted_proxies",
    "real_ip_header",
    "header_timeout",
    "idle_timeout",
    "send_timeout",
    "body_timeout",
    "max_connections",
    "max_connections_per_ip",
    "max_header_bytes",
    "max_headers",
    "header_budget",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// Where the file does not parse; the message never quotes the file (a value on the
    /// line may be a secret).
    #[error("config file {}: line {line}, column {column}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
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
                toml::from_str::<FileConfig>(&text).map_err(|e| parse_error(path, &text, &e))?
            }
            None => FileConfig::default(),
        };
        let limits = resolve_limits(&self, &file)?;
        let invalid = |what: &str, e: String| ConfigError::Invalid(format!("{what}: {e}"));
        let parse_duration = |what: &str, s: Option<String>| -> Result<Option<Duration>, ConfigError> {
            s.map(|s| humantime::parse_duration(&s).map_err(|e| invalid(what, e.to_string()))).transpose()
        };
        let store = self.store.or(file.store).ok_or(ConfigError::NoStore)?;
        let file_cache =
            file.cache_bytes.map(|s| parse_bytes(&s).map_err(|e| invalid("cache_bytes", e))).transpose()?;
        let admin_token = self.admin_token.or(file.admin_token).filter(|t| !t.is_empty());
        let proxies = ProxySettings {
            trusted: if self.trusted_proxies.is_empty() {
                file.trusted_proxies
                    .iter()
                    .map(|t| client_ip::parse_trusted(t).map_err(|e| invalid("trusted_proxies", e)))
                    .collect::<Result<_, _>>()?
            } else {
                self.trusted_proxies
            },
            real_ip_header: match self.real_ip_header {
                Some(header) => header,
                None => match file.real_ip_header {
                    Some(text) => client_ip::parse_header(&text).map_err(|e| invalid("real_ip_header", e))?,
                    None => ProxySettings::default().real_ip_header,
                },
            },
        };
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
            allow_rsa_signing: self.allow_rsa_signing || file.allow_rsa_signing,
        };
        let ids = grants.trusted_keys.iter().map(|(id, _)| id).chain(&grants.signing_key_pair_id);
        if let Some(bad) = ids.into_iter().find(|id| !bundle::grant::is_valid_key_pair_id(id)) {
            return Err(invalid("key pair id", format!("{bad:?}: use 1 to 128 of A-Z a-z 0-9 - _")));
        }
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
            store_concurrency: match self.store_concurrency.or(file.store_concurrency) {
                Some(n @ 1..=4096) => n as usize,
                Some(n) => return Err(invalid("store_concurrency", format!("{n} is not within 1..=4096"))),
                None => DEFAULT_STORE_CONCURRENCY,
            },
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
            limits,
            proxies,
            live_reload: false,
        })
    }
}

/// The connection limits from flags, then the file, then the defaults; checked.
fn resolve_limits(args: &Args, file: &FileConfig) -> Result<ConnectionLimits, ConfigError> {
    let defaults = ConnectionLimits::default();
    let invalid = |what: &str, e: String| ConfigError::Invalid(format!("{what}: {e}"));
    let duration = |what: &str, flag: Option<Duration>, text: &Option<String>, default: Duration| {
        let value = match (flag, text) {
            (Some(d), _) => d,
            (None, Some(s)) => humantime::parse_duration(s).map_err(|e| invalid(what, e.to_string()))?,
            (None, None) => default,
        };
        if value.is_zero() {
            return Err(invalid(what, "must be more than 0".into()));
        }
        Ok(value)
    };
    let size = |what: &str, flag: Option<u64>, text: &Option<String>, default: usize| {
        let value = match (flag, text) {
            (Some(n), _) => n,
            (None, Some(s)) => parse_bytes(s).map_err(|e| invalid(what, e))?,
            (None, None) => return Ok(default),
        };
        usize::try_from(value).map_err(|_| invalid(what, format!("{value} is too large")))
    };
    let max_connections = args.max_connections.or(file.max_connections).unwrap_or(defaults.max_connections);
    if max_connections == 0 {
        return Err(invalid("max_connections", "must be at least 1".into()));
    }
    let limits = ConnectionLimits {
        header_timeout: duration(
            "header_timeout",
            args.header_timeout,
            &file.header_timeout,
            defaults.header_timeout,
        )?,
        idle_timeout: duration("idle_timeout", args.idle_timeout, &file.idle_timeout, defaults.idle_timeout)?,
        send_timeout: duration("send_timeout", args.send_timeout, &file.send_timeout, defaults.send_timeout)?,
        body_timeout: duration("body_timeout", args.body_timeout, &file.body_timeout, defaults.body_timeout)?,
        max_connections,
        max_connections_per_ip: args
            .max_connections_per_ip
            .or(file.max_connections_per_ip)
            .unwrap_or_else(|| default_per_ip(max_connections)),
        max_header_bytes: size(
            "max_header_bytes",
            args.max_header_bytes,
            &file.max_header_bytes,
            defaults.max_header_bytes,
        )?,
        max_headers: args.max_headers.or(file.max_headers).unwrap_or(defaults.max_headers),
        header_budget: size(
            "header_budget",
            args.header_budget,
            &file.header_budget,
            defaults.header_budget,
        )?,
    };
    if !(1024..=16 << 20).contains(&limits.max_header_bytes) {
        return Err(invalid("max_header_bytes", "must be between 1KiB and 16MiB".into()));
    }
    if !(1..=10_000).contains(&limits.max_headers) {
        return Err(invalid("max_headers", "must be between 1 and 10000".into()));
    }
    if limits.header_budget < limits.max_header_bytes.max(HEAD_ALLOWANCE) {
        return Err(invalid("header_budget", "must hold at least one head of max_header_bytes".into()));
    }
    Ok(limits)
}

/// A config file error as `line L, column C: message`, with any value the message
/// quotes replaced: toml's own rendering shows the source line, which may hold a secret,
/// and serde's messages quote values (`invalid type: string "..."`).
fn parse_error(path: &std::path::Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map_or(0, |span| span.start.min(text.len()));
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    ConfigError::Parse { path: path.to_owned(), line, column, message: redact(err.message()) }
}

/// Replaces quoted text in a parse message: `"..."` always, `` `...` `` unless it is a
/// config key, punctuation (`expected `=``) or the key of an `unknown field` (a key the
/// file has, never a value); other words stay.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let mut unknown_key = message.starts_with("unknown field `");
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // An unterminated quote hides everything after it.
        let Some(len) = closing_quote(after, quote) else {
            out.push(quote);
            out.push_str("<redacted>");
            return out;
        };
        let inner = &after[..len];
        let the_unknown_key = std::mem::take(&mut unknown_key)
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let keep = quote == '`'
            && (FILE_KEYS.contains(&inner) || !inner.chars().any(char::is_alphanumeric) || the_unknown_key);
        out.push(quote);
        out.push_str(if keep { inner } else { "<redacted>" });
        out.push(quote);
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// Byte length up to the closing `quote` (a `"` may be escaped with `\\`).
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
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
    fn store_concurrency_comes_from_the_file_or_a_flag_and_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("origin.toml");
        let resolve = |text: &str, flag: Option<u32>| {
            std::fs::write(&file, format!("store = \"s3://bucket/site\"\n{text}")).expect("write");
            Args { config: Some(file.clone()), store_concurrency: flag, ..Args::default() }.resolve()
        };
        assert_eq!(resolve("", None).expect("default").store_concurrency, DEFAULT_STORE_CONCURRENCY);
        assert_eq!(resolve("store_concurrency = 8\n", None).expect("file").store_concurrency, 8);
        assert_eq!(resolve("store_concurrency = 8\n", Some(2)).expect("flag").store_concurrency, 2);
        let err = resolve("store_concurrency = 0\n", None).expect_err("0 would stop every read");
        assert!(err.to_string().contains("store_concurrency"), "{err}");
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

    fn file_error(text: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("origin.toml");
        std::fs::write(&file, text).expect("write");
        let err = Args { config: Some(file), ..Args::default() }.resolve().expect_err("does not parse");
        format!("{err} / {err:?}")
    }

    #[test]
    fn config_errors_never_print_secrets() {
        let cases = [
            // A syntax error on the secret's own line.
            ("store = \"dist\"\nadmin_token = \"tok-SECRET-1\" trailing\n", "tok-SECRET-1", 2),
            ("admin_token = \"tok-SECRET-2\nstore = \"dist\"\n", "tok-SECRET-2", 1),
            ("admin_token = 'tok-SECRET-3\n", "tok-SECRET-3", 1),
            ("api_key = \"\"\"tok-SECRET-4\n", "tok-SECRET-4", 2),
            // Wrong types: serde's messages quote the value.
            ("store = \"dist\"\nadmin_token = 31415926535\n", "31415926535", 2),
            ("store = \"dist\"\napi_key = 2.7182818\n", "2.7182818", 2),
            ("store = \"dist\"\norigin_verify_secret = { v = \"tok-SECRET-5\" }\n", "tok-SECRET-5", 2),
            ("listen = \"tok-SECRET-6\"\n", "tok-SECRET-6", 1),
            // An unknown or repeated key next to a secret.
            ("admin_token = \"tok-SECRET-7\"\nadmin_tokn = \"tok-SECRET-8\"\n", "tok-SECRET-", 2),
            ("admin_token = \"tok-SECRET-9\"\nadmin_token = \"tok-SECRET-10\"\n", "tok-SECRET-", 2),
        ];
        for (text, secret, line) in cases {
            let err = file_error(text);
            assert!(!err.contains(secret), "{text:?} printed {secret}: {err}");
            assert!(err.contains(&format!("line {line}, column ")), "{text:?}: {err}");
            assert!(err.contains("origin.toml"), "names the file: {err}");
        }
        let unknown = file_error("admin_token = \"tok-SECRET-7\"\nadmin_tokn = 1\n");
        assert!(unknown.contains("unknown field `admin_tokn`"), "the unknown key is named: {unknown}");
        let typed = file_error("store = \"dist\"\nadmin_token = 31415926535\n");
        assert!(typed.contains("invalid type: integer"), "the kind of mistake stays: {typed}");
    }

    #[test]
    fn debug_of_the_config_redacts_secrets() {
        let args = Args::parse_from([
            "edge-origin",
            "--store",
            "dist",
            "--admin-token",
            "tok-SECRET-A",
            "--api-key",
            "tok-SECRET-B",
            "--origin-verify-secret",
            "tok-SECRET-C",
            "--signing-key",
            "k.pem",
            "--signing-key-pair-id",
            "K1",
            "--rosters",
            "r.toml",
        ]);
        assert!(!format!("{args:?}").contains("tok-SECRET"), "{args:?}");
        let config = args.resolve().expect("resolves");
        let shown = format!("{config:?}");
        assert!(!shown.contains("tok-SECRET"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(config.admin_token.as_ref().map(Secret::expose), Some("tok-SECRET-A"));
    }

    #[test]
    fn limits_and_proxies_from_flags_file_and_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("origin.toml");
        std::fs::write(
            &file,
            "store = \"dist\"\nheader_timeout = \"3s\"\nidle_timeout = \"2m\"\nmax_connections = 500\n\
             max_header_bytes = \"32KiB\"\nheader_budget = \"8MiB\"\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n\
             real_ip_header = \"CloudFront-Viewer-Address\"\n",
        )
        .expect("write");
        let config = Args { config: Some(file.clone()), ..Args::default() }.resolve().expect("resolves");
        let limits = &config.limits;
        assert_eq!(limits.header_timeout, Duration::from_secs(3));
        assert_eq!(limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(limits.send_timeout, crate::limits::DEFAULT_SEND_TIMEOUT);
        assert_eq!(
            (limits.max_connections, limits.max_connections_per_ip),
            (500, 62),
            "an eighth per address"
        );
        assert_eq!((limits.max_header_bytes, limits.header_budget), (32 << 10, 8 << 20));
        assert_eq!(config.proxies.trusted.len(), 2);
        assert_eq!(config.proxies.real_ip_header, "cloudfront-viewer-address");

        let args = Args::parse_from([
            "edge-origin",
            "--config",
            file.to_str().expect("utf-8"),
            "--header-timeout",
            "1s",
            "--max-connections-per-ip",
            "0",
            "--trusted-proxy",
            "192.0.2.1,2001:db8::/32",
        ]);
        let config = args.resolve().expect("resolves");
        assert_eq!(config.limits.header_timeout, Duration::from_secs(1), "the flag wins");
        assert_eq!(config.limits.max_connections_per_ip, 0, "0 turns the per-address cap off");
        assert_eq!(
            config.proxies.trusted,
            vec!["192.0.2.1/32".parse().expect("net"), "2001:db8::/32".parse().expect("net")]
        );

        let defaults = Args { store: Some("dist".into()), ..Args::default() }.resolve().expect("resolves");
        assert_eq!(defaults.limits, ConnectionLimits::default());
        assert!(defaults.proxies.trusted.is_empty());
        assert_eq!(defaults.proxies.real_ip_header, "x-forwarded-for");

        for bad in [
            "header_timeout = \"0s\"",
            "max_connections = 0",
            "max_header_bytes = \"100\"",
            "max_headers = 0",
            "header_budget = \"1KiB\"",
            "header_budget = \"32KiB\"",
            "trusted_proxies = [\"proxy.example\"]",
            "real_ip_header = \"X Forwarded\"",
        ] {
            std::fs::write(&file, format!("store = \"dist\"\n{bad}\n")).expect("write");
            let err = Args { config: Some(file.clone()), ..Args::default() }.resolve();
            assert!(matches!(err, Err(ConfigError::Invalid(_))), "{bad}: {err:?}");
        }
    }
}
