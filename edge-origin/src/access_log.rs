//! The access log: one line per request, in the same shape as the other log lines
//! (`<time>  INFO access: request method=GET path="/" status=200 micros=12`).
//!
//! Lines are formatted straight into a shared buffer that a background thread writes out
//! in batches (every 50 ms, or sooner when it fills), so a request costs a short lock and
//! no syscall; under overload, lines are dropped (and counted) rather than slowing requests.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stderr,
    File(PathBuf),
}

impl AccessLogTarget {
    /// `off`, `stderr` (or `-`), or a file path (appended to).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" => Err("empty access log target: use off, stderr or a file path".into()),
            "off" | "none" => Ok(AccessLogTarget::Off),
            "stderr" | "-" => Ok(AccessLogTarget::Stderr),
            path => Ok(AccessLogTarget::File(PathBuf::from(path))),
        }
    }
}

/// Flushed every this often (lines show up quickly enough for `tail -f`).
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// The writer is woken early when a batch reaches this size.
const BATCH: usize = 64 * 1024;
/// Lines beyond this many buffered bytes (a stuck stderr) are dropped.
const MAX_BUFFERED: usize = 8 << 20;

struct Pending {
    buf: Vec<u8>,
    dropped: u64,
    /// Second of the cached date prefix, and the prefix itself (`2025-01-02T03:04:05.`).
    second: u64,
    prefix: String,
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    sink: Mutex<Sink>,
}

enum Sink {
    Stderr,
    File(std::fs::File),
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) {
        let _ = match self {
            // Through std's stderr lock, so batches never interleave with other log lines.
            Sink::Stderr => std::io::stderr().lock().write_all(bytes),
            Sink::File(file) => file.write_all(bytes),
        };
    }
}

/// A handle to the access log; cheap to share, a no-op when off.
pub(crate) struct AccessLog {
    shared: Option<Arc<Shared>>,
}

impl AccessLog {
    pub(crate) fn off() -> Self {
        AccessLog { shared: None }
    }

    /// Opens the target and starts its writer thread (none when `Off`).
    pub(crate) fn open(target: &AccessLogTarget) -> std::io::Result<Self> {
        let sink = match target {
            AccessLogTarget::Off => return Ok(AccessLog::off()),
            AccessLogTarget::Stderr => Sink::Stderr,
            AccessLogTarget::File(path) => {
                Sink::File(std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("access log {}: {e}", path.display()))
                })?)
            }
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(BATCH),
                dropped: 0,
                second: u64::MAX,
                prefix: String::new(),
                closed: false,
            }),
            wake: Condvar::new(),
            sink: Mutex::new(sink),
        });
        let writer = shared.clone();
        std::thread::Builder::new().name("access-log".into()).spawn(move || writer_loop(&writer))?;
        Ok(AccessLog { shared: Some(shared) })
    }

    /// Appends one request's line.
    pub(crate) fn record(&self, method: &http::Method, path: &str, status: u16, micros: u64) {
        let Some(shared) = &self.shared else { return };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut pending = lock(&shared.pending);
        if pending.buf.len() >= MAX_BUFFERED {
            pending.dropped += 1;
            return;
        }
        let second = now.as_secs();
        if pending.second != second {
            pending.prefix = date_prefix(second);
            pending.second = second;
        }
        let Pending { buf, prefix, .. } = &mut *pending;
        let mut line = LineWriter(buf);
        let _ =
            write!(line, "{prefix}{:06}Z  INFO access: request method={method} path=\"", now.subsec_micros());
        escape_into(line.0, path);
        let _ = writeln!(line, "\" status={status} micros={micros}");
        if line.0.len() >= BATCH {
            shared.wake.notify_one();
        }
    }

    /// Writes out whatever is buffered now (at shutdown).
    pub(crate) fn flush(&self) {
        if let Some(shared) = &self.shared {
            write_batch(shared, Vec::new());
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            lock(&shared.pending).closed = true;
            shared.wake.notify_one();
            self.flush();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn writer_loop(shared: &Shared) {
    let mut spare = Vec::with_capacity(BATCH);
    loop {
        {
            let pending = lock(&shared.pending);
            let (pending, _) = shared
                .wake
                .wait_timeout_while(pending, FLUSH_EVERY, |p| p.buf.len() < BATCH && !p.closed)
                .unwrap_or_else(|e| e.into_inner());
            if pending.closed {
                return;
            }
        }
        spare = write_batch(shared, spare);
    }
}

/// Swaps the buffer out (leaving `spare` in its place) and writes it; returns the
/// written buffer, emptied, for reuse.
fn write_batch(shared: &Shared, spare: Vec<u8>) -> Vec<u8> {
    let (mut batch, dropped) = {
        let mut pending = lock(&shared.pending);
        if pending.buf.is_empty() && pending.dropped == 0 {
            return spare;
        }
        let batch = std::mem::replace(&mut pending.buf, spare);
        (batch, std::mem::take(&mut pending.dropped))
    };
    if dropped > 0 {
        let _ = writeln!(batch, "access log: {dropped} lines dropped (output too slow)");
    }
    lock(&shared.sink).write(&batch);
    batch.clear();
    batch
}

/// `fmt::Write` into a byte buffer.
struct LineWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The path as in a Rust string literal's body (it is already a valid URI path; this
/// only guards the line format against quotes, backslashes and control bytes).
fn escape_into(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x00..=0x1f | 0x7f => buf.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => buf.push(b),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` (UTC) for a Unix second.
fn date_prefix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = String::with_capacity(20);
    let _ =
        write!(out, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.", rem / 3600, rem / 60 % 60, rem % 60);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_prefix(0), "1970-01-01T00:00:00.");
        assert_eq!(date_prefix(951_782_400), "2000-02-29T00:00:00.");
        assert_eq!(date_prefix(1_763_790_000), "2025-11-22T05:40:00.");
    }

    #[test]
    fn targets() {
        assert_eq!(AccessLogTarget::parse("off"), Ok(AccessLogTarget::Off));
        assert_eq!(AccessLogTarget::parse("stderr"), Ok(AccessLogTarget::Stderr));
        assert_eq!(
            AccessLogTarget::parse("/var/log/a.log"),
            Ok(AccessLogTarget::File("/var/log/a.log".into()))
        );
        assert!(AccessLogTarget::parse(" ").is_err());
    }

    #[test]
    fn lines_reach_the_file_in_the_usual_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&AccessLogTarget::File(path.clone())).expect("open");
        log.record(&http::Method::GET, "/a\"b/", 200, 12);
        log.record(&http::Method::HEAD, "/x", 404, 3);
        drop(log);
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(" INFO access: request method=GET path=\"/a\\\"b/\" status=200 micros=12"));
        assert!(lines[1].ends_with("method=HEAD path=\"/x\" status=404 micros=3"), "{text}");
        assert_eq!(lines[0].find('Z'), Some(26), "{text}");
        let off = AccessLog::open(&AccessLogTarget::Off).expect("off");
        assert!(off.shared.is_none());
        off.record(&http::Method::GET, "/", 200, 1);
    }
}
