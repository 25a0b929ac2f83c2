//! The per-connection guard between the socket and hyper. hyper's own header-read timer
//! also runs while a kept-alive connection waits for its next request, so one value
//! would either cut an edge's keep-alive pool short or let slow heads linger; the guard
//! keeps the two apart by watching the socket and the request/response cycle:
//!
//! - waiting for a head (after accept, or once a response is out): a new connection must
//!   deliver its head within `header_timeout`; a kept-alive one may sit `idle_timeout`,
//!   and from its next request's first byte the head must be complete in `header_timeout`;
//! - bytes of an unfinished head beyond [`HEAD_ALLOWANCE`] are charged to one budget
//!   shared by all connections, so many connections with huge unfinished heads cannot
//!   grow memory without bound;
//! - a write that makes no progress for `send_timeout` (the client stopped reading)
//!   drops the connection;
//! - request bodies ([`TimedBody`]) must arrive within `body_timeout`.
//!
//! - at the connection cap (the accept loop has no free slot), the origin is *under
//!   pressure*: a kept-alive connection waiting for its next request is closed at once,
//!   and a connection that has not sent a whole head within [`PRESSURE_HEAD_TIMEOUT`] is
//!   closed too (a real client sends its head in one packet), so idle or dribbling
//!   connections cannot keep honest clients in the backlog (nginx likewise reuses idle
//!   keep-alive connections when it runs out).
//!
//! "A request is in progress" is told by the service ([`Exchange::head_complete`], when
//! hyper hands it the parsed head) and by the response body ([`TrackedBody`], dropped
//! once hyper has taken all of it).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::limits::{ConnectionLimits, HEAD_ALLOWANCE};
use crate::metrics::Metrics;

/// Under pressure, how long a connection may take to send a whole head.
pub(crate) const PRESSURE_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// What every connection's guard shares.
pub(crate) struct Guard {
    pub limits: ConnectionLimits,
    pub metrics: Arc<Metrics>,
    /// The accept loop found no free slot (see the module docs).
    pressure: AtomicBool,
    /// Connections waiting for a head, by id: woken when pressure starts, so their
    /// shorter deadlines apply at once.
    waiting: Mutex<HashMap<u64, Waker>>,
    next_id: AtomicU64,
}

impl Guard {
    pub(crate) fn new(limits: ConnectionLimits, metrics: Arc<Metrics>) -> Self {
        Guard {
            limits,
            metrics,
            pressure: AtomicBool::new(false),
            waiting: Mutex::default(),
            next_id: AtomicU64::new(0),
        }
    }

    /// No slot is free: idle and slow connections close to make room.
    pub(crate) fn press(&self) {
        if !self.pressure.swap(true, Ordering::Relaxed) {
            let waiting = std::mem::take(&mut *self.waiters());
            for waker in waiting.into_values() {
                waker.wake();
            }
        }
    }

    /// A slot was free again.
    pub(crate) fn relax(&self) {
        self.pressure.store(false, Ordering::Relaxed);
    }

    fn under_pressure(&self) -> bool {
        self.pressure.load(Ordering::Relaxed)
    }

    fn waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges `bytes` of unfinished heads to the budget; false (nothing charged) if that
    /// would exceed it.
    fn charge(&self, bytes: usize) -> bool {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let budget = i64::try_from(self.limits.header_budget).unwrap_or(i64::MAX);
        let before = self.metrics.header_bytes_in_flight.inc_by(bytes);
        if before.saturating_add(bytes) > budget {
            self.metrics.header_bytes_in_flight.dec_by(bytes);
            return false;
        }
        true
    }

    fn refund(&self, bytes: usize) {
        if bytes > 0 {
            self.metrics.header_bytes_in_flight.dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }
}

/// One connection's request/response cycle, shared by its stream, service and bodies.
#[derive(Default)]
pub(crate) struct Exchange {
    heads: AtomicU64,
    responses: AtomicU64,
    /// Head bytes this connection has charged to the budget.
    charged: AtomicUsize,
    /// The connection task, as last seen reading during a request: woken when the
    /// response is out, so the wait for the next head (and its timer) starts then even
    /// if hyper would not read again until the client sends something.
    reader: Mutex<Option<Waker>>,
}

impl Exchange {
    /// hyper parsed a head and calls the service: the head's bytes leave the budget and
    /// the head/idle timers rest until the response is out.
    pub(crate) fn head_complete(&self, guard: &Guard) {
        self.heads.fetch_add(1, Ordering::Relaxed);
        guard.refund(self.charged.swap(0, Ordering::Relaxed));
    }

    fn in_request(&self) -> bool {
        self.heads.load(Ordering::Relaxed) != self.responses.load(Ordering::Relaxed)
    }

    fn response_done(&self) {
        self.responses.fetch_add(1, Ordering::Relaxed);
        if let Some(waker) = self.reader().take() {
            waker.wake();
        }
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A socket under the guard (see the module docs).
pub(crate) struct GuardedStream<S> {
    inner: S,
    guard: Arc<Guard>,
    exchange: Arc<Exchange>,
    /// This connection's key among the guard's waiting connections.
    id: u64,
    /// Registered as waiting for a head (with the waker last seen).
    registered: bool,
    /// Responses finished when last looked: a change starts a new wait for a head.
    seen_responses: u64,
    /// No response yet: the wait for the first head is bounded by `header_timeout`.
    first_request: bool,
    /// When the current wait for a head began: accept, the end of a response, or the
    /// last write (a slow download is not idle).
    waiting_since: Instant,
    /// First byte of the head being read.
    head_started: Option<Instant>,
    head_bytes: usize,
    read_timer: Timer,
    write_stalled_since: Option<Instant>,
    write_timer: Timer,
    /// A limit closed the connection (counted once).
    closed: bool,
}

impl<S> GuardedStream<S> {
    pub(crate) fn new(inner: S, guard: Arc<Guard>, exchange: Arc<Exchange>) -> Self {
        let id = guard.next_id.fetch_add(1, Ordering::Relaxed);
        GuardedStream {
            inner,
            guard,
            exchange,
            id,
            registered: false,
            seen_responses: 0,
            first_request: true,
            waiting_since: Instant::now(),
            head_started: None,
            head_bytes: 0,
            read_timer: Timer::default(),
            write_stalled_since: None,
            write_timer: Timer::default(),
            closed: false,
        }
    }

    /// Whether the connection waits for (or reads) a head; resets the head's state when
    /// a request started or a new wait began.
    fn waiting_for_head(&mut self) -> bool {
        if self.exchange.in_request() {
            self.head_started = None;
            self.head_bytes = 0;
            return false;
        }
        let responses = self.exchange.responses.load(Ordering::Relaxed);
        if responses != self.seen_responses {
            self.seen_responses = responses;
            self.first_request = false;
            self.head_started = None;
            self.head_bytes = 0;
            self.waiting_since = Instant::now();
        }
        true
    }

    /// When the wait or head read must end, and the counter to blame then.
    fn read_deadline(&self) -> (Instant, Closed) {
        let limits = &self.guard.limits;
        if self.guard.under_pressure() {
            let head = limits.header_timeout.min(PRESSURE_HEAD_TIMEOUT);
            return match self.head_started {
                Some(first_byte) => (first_byte + head, Closed::Pressure),
                None if self.first_request => (self.waiting_since + head, Closed::Pressure),
                None => (self.waiting_since, Closed::Pressure),
            };
        }
        match self.head_started {
            Some(first_byte) => (first_byte + limits.header_timeout, Closed::HeaderTimeout),
            None if self.first_request => (self.waiting_since + limits.header_timeout, Closed::HeaderTimeout),
            None => (self.waiting_since + limits.idle_timeout, Closed::IdleTimeout),
        }
    }

    /// Waiting for a head: pressure must be able to wake this connection.
    fn register(&mut self, cx: &Context<'_>) {
        let mut waiting = self.guard.waiters();
        match waiting.get_mut(&self.id) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => *waker = cx.waker().clone(),
            None => {
                waiting.insert(self.id, cx.waker().clone());
            }
        }
        self.registered = true;
    }

    fn unregister(&mut self) {
        if std::mem::take(&mut self.registered) {
            self.guard.waiters().remove(&self.id);
        }
    }

    /// `n` more head bytes arrived; false when they would exceed the budget.
    fn head_read(&mut self, n: usize) -> bool {
        if self.head_started.is_none() {
            self.head_started = Some(Instant::now());
        }
        let chargeable = |bytes: usize| bytes.saturating_sub(HEAD_ALLOWANCE);
        let more = chargeable(self.head_bytes + n) - chargeable(self.head_bytes);
        self.head_bytes += n;
        if more == 0 {
            return true;
        }
        if !self.guard.charge(more) {
            return false;
        }
        self.exchange.charged.fetch_add(more, Ordering::Relaxed);
        true
    }

    fn close(&mut self, why: Closed) {
        if !std::mem::replace(&mut self.closed, true) {
            let limits = &self.guard.metrics.limits;
            match why {
                Closed::HeaderTimeout => limits.header_timeout.inc(),
                Closed::IdleTimeout => limits.idle_timeout.inc(),
                Closed::SendTimeout => limits.send_timeout.inc(),
                Closed::HeaderBudget => limits.header_budget.inc(),
                Closed::Pressure => limits.pressure.inc(),
            };
            tracing::debug!(reason = why.as_str(), "connection closed by a limit");
        }
    }

    fn wrote(&mut self, n: usize) {
        if n > 0 {
            self.write_stalled_since = None;
            self.waiting_since = Instant::now();
        }
    }

    /// A write could not proceed: fails once it has not for `send_timeout`.
    fn write_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let since = *self.write_stalled_since.get_or_insert_with(Instant::now);
        if self.write_timer.expired(since + self.guard.limits.send_timeout, cx) {
            self.close(Closed::SendTimeout);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")));
        }
        Poll::Pending
    }
}

impl<S> Drop for GuardedStream<S> {
    fn drop(&mut self) {
        self.unregister();
        self.guard.refund(self.exchange.charged.swap(0, Ordering::Relaxed));
    }
}

#[derive(Debug, Clone, Copy)]
enum Closed {
    HeaderTimeout,
    IdleTimeout,
    SendTimeout,
    HeaderBudget,
    Pressure,
}

impl Closed {
    fn as_str(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::SendTimeout => "send_timeout",
            Closed::HeaderBudget => "header_budget",
            Closed::Pressure => "pressure",
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        if !this.waiting_for_head() {
            this.unregister();
            // Body bytes (their own timeout), or a read-ahead while the response is written.
            let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
            if poll.is_pending() {
                let mut reader = this.exchange.reader();
                if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *reader = Some(cx.waker().clone());
                }
            }
            return poll;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 && !this.head_read(n) {
                    this.close(Closed::HeaderBudget);
                    return Poll::Ready(Err(io::Error::other(
                        "unfinished request heads exceed the header budget",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let (deadline, why) = this.read_deadline();
                if !this.read_timer.expired(deadline, cx) {
                    this.register(cx);
                    return Poll::Pending;
                }
                this.unregister();
                this.close(why);
                match why {
                    // A quiet end of keep-alive (or of a connection that never spoke).
                    Closed::IdleTimeout => Poll::Ready(Ok(())),
                    _ if this.head_started.is_none() => Poll::Ready(Ok(())),
                    _ => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow"))),
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.wrote(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => this.write_stalled(cx).map_ok(|()| 0),
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.wrote(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => this.write_stalled(cx).map_ok(|()| 0),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.write_stalled(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A lazily created, re-armable sleep.
#[derive(Default)]
struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    deadline: Option<Instant>,
}

impl Timer {
    /// Whether `deadline` has passed; if not, the task is woken when it does.
    fn expired(&mut self, deadline: Instant, cx: &mut Context<'_>) -> bool {
        if Instant::now() >= deadline {
            return true;
        }
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if self.deadline != Some(deadline) {
            sleep.as_mut().reset(deadline);
            self.deadline = Some(deadline);
        }
        sleep.as_mut().poll(cx).is_ready()
    }
}

/// A response body that marks the response as out when hyper is done with it.
pub(crate) struct TrackedBody<B> {
    inner: B,
    exchange: Arc<Exchange>,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(inner: B, exchange: Arc<Exchange>) -> Self {
        TrackedBody { inner, exchange }
    }
}

impl<B> Drop for TrackedBody<B> {
    fn drop(&mut self) {
        self.exchange.response_done();
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails with [`BodyTimeout`] unless it has arrived in full within
/// its time limit (counted from when the handler first has to wait for it).
pub(crate) struct TimedBody<B> {
    inner: B,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> TimedBody<B> {
    pub(crate) fn new(inner: B, limit: Duration) -> Self {
        TimedBody { inner, limit, timer: None }
    }
}

/// The request body did not arrive in time (the handler answers 408).
#[derive(Debug, thiserror::Error)]
#[error("request body not received within {0:?}")]
pub(crate) struct BodyTimeout(pub Duration);

impl<B> Body for TimedBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let limit = this.limit;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(limit))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
