//! Which connections are taken: at most `max_connections` at once (the accept loop waits
//! for a free slot, so the kernel's backlog queues the rest instead of the process
//! running out of descriptors), at most `max_connections_per_ip` from one client
//! address (the rest get a quick 503; trusted proxies are exempt), and a backoff when
//! accept itself fails, so running out of descriptors never spins a core.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client_ip::{canonical, ClientIp};
use crate::metrics::Metrics;

pub(crate) struct ConnectionSlots {
    free: Arc<Semaphore>,
    per_ip_cap: usize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    proxies: Arc<ClientIp>,
    metrics: Arc<Metrics>,
}

/// An admitted connection's place; given back when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    counted_as: Option<IpAddr>,
    slots: Arc<ConnectionSlots>,
}

impl ConnectionSlots {
    pub(crate) fn new(
        max: usize,
        per_ip_cap: usize,
        proxies: Arc<ClientIp>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(ConnectionSlots {
            free: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            per_ip_cap,
            per_ip: Mutex::default(),
            proxies,
            metrics,
        })
    }

    /// A free slot now, if there is one.
    pub(crate) fn try_free_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.free.clone().try_acquire_owned().ok()
    }

    /// Waits until a connection may be accepted.
    pub(crate) async fn free_slot(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed.
        self.free.clone().acquire_owned().await.expect("the connection semaphore stays open")
    }

    /// Admits a connection from `peer`, or gives the permit back (`Err`) when that
    /// address already has its share.
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        permit: OwnedSemaphorePermit,
    ) -> Result<Slot, OwnedSemaphorePermit> {
        let counted_as = if self.per_ip_cap == 0 || self.proxies.is_trusted(peer) {
            None
        } else {
            let key = address_key(peer);
            let mut counts = self.counts();
            let count = counts.entry(key).or_insert(0);
            if *count >= self.per_ip_cap {
                drop(counts);
                self.metrics.limits.refused_per_ip.inc();
                return Err(permit);
            }
            *count += 1;
            Some(key)
        };
        self.metrics.connections_accepted.inc();
        self.metrics.connections_open.inc();
        Ok(Slot { _permit: permit, counted_as, slots: self.clone() })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.per_ip.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.metrics.connections_open.dec();
        if let Some(key) = self.counted_as {
            let mut counts = self.slots.counts();
            if let Some(count) = counts.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&key);
                }
            }
        }
    }
}

/// One client's key: its IPv4 address, or its IPv6 /64 (one subscriber's prefix).
fn address_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: text/plain; charset=utf-8\r\n\
    cache-control: no-store\r\n\
    retry-after: 5\r\n\
    connection: close\r\n\
    content-length: 39\r\n\r\n\
    too many connections from your address\n";

/// Answers a connection over its address's cap with 503 and closes it; bounded in time
/// (the slot is held meanwhile). The request is read briefly first, so closing with
/// unread bytes does not reset the connection before the client sees the answer.
pub(crate) async fn refuse(mut stream: TcpStream, permit: OwnedSemaphorePermit) {
    let _permit = permit;
    let answer = async {
        stream.write_all(TOO_MANY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Backoff after failed accepts: from 5 ms doubling to 1 s while they keep failing (as
/// Go's net/http does), logged once per burst and at most once a minute: out of
/// descriptors, a freed one lets a single accept through and starts a new burst at once.
#[derive(Default)]
pub(crate) struct AcceptBackoff {
    delay: Duration,
    failures: u64,
    last_warned: Option<Instant>,
}

const WARN_AT_MOST_EVERY: Duration = Duration::from_secs(60);

const FIRST_DELAY: Duration = Duration::from_millis(5);
const LONGEST_DELAY: Duration = Duration::from_secs(1);

impl AcceptBackoff {
    /// How long to wait before accepting again; `None` for an error of that one
    /// connection (it was reset or aborted while queued), which is retried at once.
    pub(crate) fn failed(&mut self, err: &io::Error, metrics: &Metrics) -> Option<Duration> {
        metrics.accept_errors.inc();
        if matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
        ) {
            tracing::debug!(error = %err, "a queued connection failed before it was accepted");
            return None;
        }
        if self.failures == 0 && self.may_warn(Instant::now()) {
            tracing::warn!(error = %err, "accepting connections failed; backing off (up to 1s) until it works again");
        }
        self.failures += 1;
        self.delay = if self.failures == 1 { FIRST_DELAY } else { (self.delay * 2).min(LONGEST_DELAY) };
        Some(self.delay)
    }

    /// Whether a new burst is worth a warning, noting that it was given.
    fn may_warn(&mut self, now: Instant) -> bool {
        let due = self.last_warned.is_none_or(|at| now.duration_since(at) >= WARN_AT_MOST_EVERY);
        if due {
            self.last_warned = Some(now);
        }
        due
    }

    /// An accept worked: ends a burst of failures.
    pub(crate) fn accepted(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
            *self = AcceptBackoff { last_warned: self.last_warned, ..AcceptBackoff::default() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let metrics = Metrics::default();
        let mut backoff = AcceptBackoff::default();
        let emfile = io::Error::other("Too many open files");
        let delays: Vec<_> = (0..10).map(|_| backoff.failed(&emfile, &metrics).expect("delay")).collect();
        assert_eq!(delays[0], Duration::from_millis(5));
        assert_eq!(delays[1], Duration::from_millis(10));
        assert_eq!(delays[7], Duration::from_millis(640));
        assert_eq!(delays[8], Duration::from_secs(1));
        assert_eq!(delays[9], Duration::from_secs(1));
        backoff.accepted();
        assert_eq!(backoff.failed(&emfile, &metrics), Some(Duration::from_millis(5)));
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.failed(&reset, &metrics), None, "one connection's error is retried at once");
    }

    #[test]
    fn bursts_are_warned_about_at_most_once_a_minute() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        assert!(backoff.may_warn(start));
        assert!(!backoff.may_warn(start + Duration::from_secs(1)), "a burst right after the last one");
        backoff.accepted();
        assert!(!backoff.may_warn(start + Duration::from_secs(59)));
        assert!(backoff.may_warn(start + WARN_AT_MOST_EVERY));
    }

    #[test]
    fn the_503_says_its_own_length() {
        let text = std::str::from_utf8(TOO_MANY).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
    }

    #[test]
    fn one_client_is_an_ipv4_address_or_an_ipv6_64() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(address_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(address_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
    }
}
