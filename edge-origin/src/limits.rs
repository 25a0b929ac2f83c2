//! What one client may take from the origin: how long a connection may wait or stall,
//! how many connections may be open (in all and per client address), and how large
//! request heads may grow, alone and all together. The defaults suit a public origin;
//! every value is a setting (see `config.rs`).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request head's first byte (or, for a new connection, from its accept) to
    /// the head's end (nginx `client_header_timeout`).
    pub header_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request. Longer than
    /// Varnish's `backend_idle_timeout` (60 s), so an edge's pool is not cut under it.
    pub idle_timeout: Duration,
    /// Longest a response write may make no progress: a client that stopped reading is
    /// dropped (nginx `send_timeout`).
    pub send_timeout: Duration,
    /// Longest a request body (the grants endpoint's) may take to arrive in full.
    pub body_timeout: Duration,
    /// Connections open at once; at the cap the origin stops accepting and the kernel's
    /// backlog queues the rest.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64); 0: no cap.
    /// Trusted proxies are exempt.
    pub max_connections_per_ip: usize,
    /// Largest request head (request line and headers); larger heads get 431.
    pub max_header_bytes: usize,
    /// Most header lines in a request head; more get 431.
    pub max_headers: usize,
    /// Bytes of unfinished request heads held across all connections (beyond the first
    /// [`HEAD_ALLOWANCE`] of each, which every connection's read buffer has anyway); a
    /// read that would exceed it closes its connection.
    pub header_budget: usize,
}

/// Bytes of each head not charged to the budget: the read buffer every connection gets
/// on its first read, so ordinary heads (a few hundred bytes) never touch the budget.
pub(crate) const HEAD_ALLOWANCE: usize = 8 * 1024;

pub(crate) const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
pub(crate) const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's own default, which keeps header parsing on the stack.
pub(crate) const DEFAULT_MAX_HEADERS: usize = 100;
pub(crate) const DEFAULT_HEADER_BUDGET: usize = 64 << 20;

/// Used when the open-files limit cannot be read (not Linux).
const FALLBACK_OPEN_FILES: u64 = 1024;
/// An open-files limit reported as unlimited.
const MOST_CONNECTIONS: u64 = 1 << 20;
/// The default cap whatever the open-files limit: each connection costs some 35 KB of
/// memory, so 10,000 stay around 350 MB. A CDN in front needs far fewer; raise it with
/// `--max-connections` on a big machine.
const DEFAULT_CONNECTION_CEILING: u64 = 10_000;

impl Default for ConnectionLimits {
    fn default() -> Self {
        let max_connections = default_max_connections(open_files_limit());
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections,
            max_connections_per_ip: default_per_ip(max_connections),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            header_budget: DEFAULT_HEADER_BUDGET,
        }
    }
}

/// Connections that fit the open-files limit with room left for what else the process
/// opens (store files and connections, logs, the runtime's own descriptors): a quarter
/// of the limit, between 32 and 4096 descriptors, is kept back; and at most
/// [`DEFAULT_CONNECTION_CEILING`].
pub(crate) fn default_max_connections(open_files: u64) -> usize {
    let reserve = (open_files / 4).clamp(32, 4096);
    let cap = open_files.saturating_sub(reserve).clamp(16, DEFAULT_CONNECTION_CEILING);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// One client address may hold at most an eighth of all connections: a handful of
/// addresses cannot fill the origin (trusted proxies, the edges, are exempt).
pub(crate) fn default_per_ip(max_connections: usize) -> usize {
    (max_connections / 8).max(1)
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits` (the workspace
/// forbids `unsafe`, so no `getrlimit`).
pub(crate) fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| parse_open_files(&text))
        .unwrap_or(FALLBACK_OPEN_FILES)
}

/// The soft limit in the `Max open files  <soft>  <hard>  files` line.
fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.trim_start_matches("Max open files").split_whitespace().next()?;
    match soft {
        "unlimited" => Some(MOST_CONNECTIONS),
        digits => digits.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_rest() {
        assert_eq!(default_max_connections(64), 32);
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(12_000), 9_000);
        assert_eq!(default_max_connections(20_000), 10_000, "the ceiling, whatever the fd limit");
        assert_eq!(default_max_connections(1 << 20), 10_000);
        assert_eq!(default_max_connections(10), 16, "never below a usable minimum");
        assert_eq!(default_per_ip(768), 96);
        assert_eq!(default_per_ip(1), 1);
    }

    #[test]
    fn reads_the_soft_open_files_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             95000                95000                processes \n\
                    Max open files            4096                 524288               files     \n";
        assert_eq!(parse_open_files(text), Some(4096));
        assert_eq!(parse_open_files("Max open files  unlimited  unlimited  files"), Some(MOST_CONNECTIONS));
        assert_eq!(parse_open_files("nothing here"), None);
        assert!(open_files_limit() >= 1);
    }
}
