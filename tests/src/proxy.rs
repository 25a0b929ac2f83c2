//! A TCP proxy on loopback in front of a real server, for faults a test must force at one
//! exact request: it can hold every request that contains a given text (say `PUT
//! /courses/site/channels/live.json`) for a while and then forward it, also after the
//! client gave up and hung up (as a slow network or store would), and it can be "down"
//! (closing every new connection at once). It can also rewrite a text in the server's
//! answers (say a `Cache-Control` lifetime) for the same number of bytes, or cut an answer
//! after its first bytes (a server killed mid-response). Stopped when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a connection whose client hung up stays open for the server's answer.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    hold: Mutex<Option<(Vec<u8>, Duration)>>,
    rewrite: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
    down: AtomicBool,
    /// Requests containing this text get only the first bytes of their answer, then the
    /// connection is cut; the count says for how many more of them.
    cut: Mutex<Option<(Vec<u8>, usize)>>,
    cuts_left: AtomicUsize,
    stopped: AtomicBool,
    held: AtomicUsize,
    released: AtomicUsize,
}

pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<State>,
}

impl Proxy {
    /// Starts forwarding a free loopback port to `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let base = format!("http://{}", listener.local_addr().expect("proxy address"));
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if shared.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (state, upstream) = (shared.clone(), upstream.clone());
                std::thread::spawn(move || relay(client, &upstream, &state));
            }
        });
        Proxy { base, state }
    }

    /// From now on, holds each request containing `text` for `hold` before forwarding it
    /// (and everything after it on that connection).
    pub fn hold(&self, text: &str, hold: Duration) {
        *self.state.hold.lock().expect("hold") = Some((text.as_bytes().to_vec(), hold));
    }

    /// From now on, replaces every `from` in the server's answers with `to`, which must be
    /// as long (so `Content-Length` and chunk sizes stay right).
    pub fn rewrite_answers(&self, from: &str, to: &str) {
        assert_eq!(from.len(), to.len(), "a rewrite keeps the length");
        assert!(!from.is_empty(), "a rewrite of nothing");
        *self.state.rewrite.lock().expect("rewrite") =
            Some((from.as_bytes().to_vec(), to.as_bytes().to_vec()));
    }

    /// The next `times` requests containing `text` get only the first `keep` bytes of their
    /// answer (headers and part of the body), then both connections are closed, as when
    /// the server is `kill -9`ed mid-response.
    pub fn cut_answers(&self, text: &str, keep: usize, times: usize) {
        *self.state.cut.lock().expect("cut") = Some((text.as_bytes().to_vec(), keep));
        self.state.cuts_left.store(times, Ordering::SeqCst);
    }

    /// How many answers were cut so far is `times` minus this.
    pub fn cuts_left(&self) -> usize {
        self.state.cuts_left.load(Ordering::SeqCst)
    }

    /// While down, every new connection is closed at once.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Requests held so far, and how many of them were forwarded after their hold.
    pub fn held(&self) -> (usize, usize) {
        (self.state.held.load(Ordering::SeqCst), self.state.released.load(Ordering::SeqCst))
    }

    /// Waits (at most `within`) until `count` held requests were forwarded.
    pub fn wait_released(&self, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.held().1 < count {
            assert!(
                Instant::now() < deadline,
                "the proxy forwarded {:?} held requests, not {count}",
                self.held()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
    }
}

/// Copies client -> upstream (holding what matches) and upstream -> client, until both
/// ends are done.
fn relay(mut client: TcpStream, upstream: &str, state: &State) {
    let Ok(mut server) = TcpStream::connect(upstream) else { return };
    let rewrite = state.rewrite.lock().expect("rewrite").clone();
    let (Ok(mut client_out), Ok(mut server_in)) = (client.try_clone(), server.try_clone()) else { return };
    let client_gone = Arc::new(AtomicBool::new(false));
    let gone = client_gone.clone();
    // Bytes of the answer still to forward before cutting (usize::MAX: no cut).
    let cut_after = Arc::new(AtomicUsize::new(usize::MAX));
    let cut_in_answers = cut_after.clone();
    let answers = std::thread::spawn(move || {
        let cut_after = cut_in_answers;
        let _ = server_in.set_read_timeout(Some(Duration::from_millis(200)));
        let mut quiet_since = Instant::now();
        let mut buf = [0u8; 16 * 1024];
        // Bytes that may be the start of a text to rewrite, kept until the next read.
        let mut pending: Vec<u8> = Vec::new();
        let mut send = |bytes: &[u8]| {
            // A client that hung up no longer reads: keep draining the server.
            if client_out.write_all(bytes).is_err() {
                gone.store(true, Ordering::SeqCst);
            }
        };
        loop {
            match server_in.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    quiet_since = Instant::now();
                    let budget = cut_after.load(Ordering::SeqCst);
                    if budget != usize::MAX {
                        send(&buf[..n.min(budget)]);
                        if n >= budget {
                            // As a killed server: the connection ends mid-answer.
                            let _ = client_out.shutdown(Shutdown::Both);
                            let _ = server_in.shutdown(Shutdown::Both);
                            return;
                        }
                        cut_after.store(budget - n, Ordering::SeqCst);
                        continue;
                    }
                    match &rewrite {
                        None => send(&buf[..n]),
                        Some((from, to)) => {
                            pending.extend_from_slice(&buf[..n]);
                            let keep = rewrite_in_place(&mut pending, from, to);
                            let rest = pending.split_off(pending.len() - keep);
                            send(&pending);
                            pending = rest;
                        }
                    }
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    send(&std::mem::take(&mut pending));
                    if gone.load(Ordering::SeqCst) && quiet_since.elapsed() > DRAIN {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        send(&pending);
        let _ = client_out.shutdown(Shutdown::Both);
    });

    let mut held_until: Option<Instant> = None;
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if held_until.is_none() {
            if let Some((text, hold)) = state.hold.lock().expect("hold").clone() {
                // The text may straddle two reads: look at the end of the last one too.
                let mut window = std::mem::take(&mut tail);
                window.extend_from_slice(&buf[..n]);
                if window.windows(text.len()).any(|w| w == text.as_slice()) {
                    state.held.fetch_add(1, Ordering::SeqCst);
                    held_until = Some(Instant::now() + hold);
                } else {
                    let keep = window.len().saturating_sub(text.len());
                    tail = window.split_off(keep);
                }
            }
        }
        if let Some((text, keep)) = state.cut.lock().expect("cut").clone() {
            if buf[..n].windows(text.len()).any(|w| w == text.as_slice())
                && state
                    .cuts_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
                    .is_ok()
            {
                cut_after.store(keep, Ordering::SeqCst);
            }
        }
        if let Some(until) = held_until {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
        if held_until.take().is_some() {
            state.released.fetch_add(1, Ordering::SeqCst);
        }
    }
    // The client is done (or hung up): the server still answers what it was sent.
    client_gone.store(true, Ordering::SeqCst);
    let _ = answers.join();
    let _ = server.shutdown(Shutdown::Both);
}

/// Replaces every `from` in `bytes` with `to` (as long); returns how many bytes at the end
/// are a proper prefix of `from`, which the next read may complete.
fn rewrite_in_place(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    (1..from.len()).rev().find(|&k| k <= bytes.len() && bytes[bytes.len() - k..] == from[..k]).unwrap_or(0)
}
