//! Accepting connections under the limits (`admission.rs`, `conn_guard.rs`), naming
//! each request's client (`client_ip.rs`), and stopping gracefully: on SIGTERM or Ctrl-C
//! no new connection is taken and in-flight requests finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use store::{Store, Timeouts};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use bundle::grant::{SigningKey, TrustedKeys, VerifyingKey};

use crate::access_log::AccessLog;
use crate::admission::{refuse, AcceptBackoff, ConnectionSlots, Slot};
use crate::cache::ObjectCache;
use crate::client_ip::ClientIp;
use crate::config::{Config, GrantSettings};
use crate::conn_guard::{Exchange, Guard, GuardedStream, TimedBody, TrackedBody};
use crate::dispatch::handle;
use crate::grants::issue::{Issuer, Rosters};
use crate::grants::verify::{Verifier, VerifierConfig};
use crate::limits::{ConnectionLimits, DEFAULT_MAX_HEADERS};
use crate::live::{Live, LiveHandle};
use crate::metrics::Metrics;
use crate::release::Current;
use crate::state::State;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// A bound, not yet serving, origin.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    poll: Duration,
    client_ip: Arc<ClientIp>,
    slots: Arc<ConnectionSlots>,
    guard: Arc<Guard>,
    http: http1::Builder,
}

impl Server {
    /// Binds the listener and loads the live release (serving starts even if the channel
    /// is not there yet: `/_origin/ready` says 503 until it is).
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let limits = config.limits.clone();
        let listener =
            listen(config.listen).map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let store = Store::open(&config.store, &config.s3, Timeouts::origin(config.store_timeout)).await;
        let metrics = Arc::new(Metrics::default());
        let current = Arc::new(Current::new(
            store.clone(),
            config.channel.clone(),
            config.store_timeout,
            metrics.clone(),
        ));
        // A failure is logged (once) by the follower's bookkeeping in `refresh`.
        if let Ok(Some(id)) = current.refresh(true).await {
            tracing::info!(release = %id, store = %config.store, "loaded release");
        }
        let objects = Arc::new(ObjectCache::new(
            store,
            config.cache_bytes,
            config.store_timeout,
            config.store_concurrency,
            metrics.clone(),
        ));
        let live = config.live_reload.then(|| Live::new(current.clone(), objects.clone()));
        let (verifier, issuer) = load_grants(&config.grants)?;
        if !config.grants.enforce {
            tracing::warn!("preview mode: enrolled-only courses open without a grant");
        }
        // `RUST_LOG` (e.g. `warn`) still silences the access log, as it did when it was a tracing event.
        let access_log = if tracing::enabled!(target: "access", tracing::Level::INFO) {
            AccessLog::open(&config.access_log)?
        } else {
            AccessLog::off()
        };
        let client_ip = Arc::new(ClientIp::new(config.proxies.trusted, config.proxies.real_ip_header));
        let slots = ConnectionSlots::new(
            limits.max_connections,
            limits.max_connections_per_ip,
            client_ip.clone(),
            metrics.clone(),
        );
        let http = http1_builder(&limits);
        let guard = Arc::new(Guard::new(limits, metrics.clone()));
        let state = Arc::new(State {
            current,
            objects,
            metrics,
            admin_token: config.admin_token.map(|t| t.expose().to_owned()),
            verifier,
            enforce_grants: config.grants.enforce,
            issuer,
            access_log,
            live,
        });
        Ok(Server { listener, state, poll: config.poll, client_ip, slots, guard, http })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn release_id(&self) -> Option<String> {
        self.state.current.get().map(|r| r.id.to_string())
    }

    /// The release loaded at bind time, if any.
    pub fn release(&self) -> Option<Arc<crate::release::Release>> {
        self.state.current.get()
    }

    /// The live preview's handle (with `Config::live_reload` only).
    pub fn live(&self) -> Option<LiveHandle> {
        self.state.live.clone().map(|live| LiveHandle { live })
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let follower = tokio::spawn(self.state.current.clone().follow(self.poll));
        let graceful = GracefulShutdown::new();
        let mut backoff = AcceptBackoff::default();
        tokio::pin!(shutdown);
        loop {
            // At the cap nothing is accepted: the kernel's backlog queues the rest, while
            // idle and slow connections are closed to make room (see `conn_guard`).
            let permit = match self.slots.try_free_slot() {
                Some(permit) => permit,
                None => {
                    self.guard.press();
                    let permit = tokio::select! {
                        permit = self.slots.free_slot() => permit,
                        () = &mut shutdown => break,
                    };
                    self.guard.relax();
                    permit
                }
            };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(connection) => {
                    backoff.accepted();
                    connection
                }
                Err(err) => {
                    drop(permit);
                    if let Some(delay) = backoff.failed(&err, &self.state.metrics) {
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            };
            match self.slots.admit(peer.ip(), permit) {
                Ok(slot) => self.serve_connection(stream, peer, slot, &graceful),
                Err(permit) => {
                    tokio::spawn(refuse(stream, permit));
                }
            }
        }
        follower.abort();
        drop(self.listener);
        if let Some(live) = &self.state.live {
            live.close();
        }
        tracing::info!("shutting down: finishing in-flight requests");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(DRAIN) => tracing::warn!("gave up waiting for in-flight requests"),
        }
        self.state.access_log.flush();
    }
}

impl Server {
    /// Serves one admitted connection on its own task, under the guard.
    fn serve_connection(&self, stream: TcpStream, peer: SocketAddr, slot: Slot, graceful: &GracefulShutdown) {
        let _ = stream.set_nodelay(true);
        let exchange = Arc::new(Exchange::default());
        let io = GuardedStream::new(stream, self.guard.clone(), exchange.clone());
        let (state, client_ip, guard) = (self.state.clone(), self.client_ip.clone(), self.guard.clone());
        let service = service_fn(move |req: http::Request<Incoming>| {
            exchange.head_complete(&guard);
            // Resolved before the handler runs: the grant check sees the real client.
            let client = client_ip.resolve(peer.ip(), req.headers());
            let req = req.map(|body| TimedBody::new(body, guard.limits.body_timeout));
            let (state, exchange) = (state.clone(), exchange.clone());
            async move {
                let response = handle(&state, req, client).await;
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, exchange)))
            }
        });
        let connection = graceful.watch(self.http.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// Connections the kernel queues for accept (it caps this at `net.core.somaxconn`).
/// tokio's `bind` asks for 128; at the connection cap, or out of descriptors, the queue
/// is where the rest wait, so it is as deep as nginx's (511) and then some.
const BACKLOG: u32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As tokio's `bind` does: a restarted origin can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// hyper's HTTP/1 settings: head size limits (431 beyond them). Its own header-read
/// timer stays off (it needs `.timer()`): the guard keeps head and idle time apart.
fn http1_builder(limits: &ConnectionLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.max_header_size(limits.max_header_bytes);
    // Setting it at all moves header parsing to the heap; hyper's default is the same.
    if limits.max_headers != DEFAULT_MAX_HEADERS {
        builder.max_headers(limits.max_headers);
    }
    builder
}

/// Reads the trusted public keys, and the signing key and rosters when issuing is on.
fn load_grants(settings: &GrantSettings) -> anyhow::Result<(Verifier, Option<Issuer>)> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading key {}: {e}", path.display()))
    };
    let mut trusted = TrustedKeys::new();
    for (id, path) in &settings.trusted_keys {
        let key = VerifyingKey::from_pem(&read(path)?)
            .map_err(|e| anyhow::anyhow!("key {}: {e}", path.display()))?;
        trusted.insert(id, key);
    }
    let verifier = Verifier::new(VerifierConfig {
        trusted,
        public_url: settings.public_url.clone(),
        skew: settings.skew,
        origin_verify_secret: settings.origin_verify_secret.as_ref().map(|s| s.expose().to_owned()),
    })
    .map_err(anyhow::Error::msg)?;
    if !settings.trusted_keys.is_empty() && settings.public_url.is_none() {
        tracing::warn!(
            "no --public-url: grants are checked against each request's own host; in production set \
             --public-url to the site's address so a grant for another host sharing the key opens nothing here"
        );
    }
    let issuer =
        match (&settings.api_key, &settings.signing_key, &settings.signing_key_pair_id, &settings.rosters) {
            (Some(api_key), Some(key_path), Some(key_pair_id), Some(rosters)) => {
                let key = SigningKey::from_pem(&read(key_path)?)
                    .map_err(|e| anyhow::anyhow!("key {}: {e}", key_path.display()))?;
                if key.is_rsa() && !settings.allow_rsa_signing {
                    anyhow::bail!(
                        "--signing-key {} is an RSA key: signing with it online is not constant-time \
                         (RUSTSEC-2023-0071); use a P-256 key (`course keys new`), or pass \
                         --allow-rsa-signing to accept the risk",
                        key_path.display()
                    );
                }
                let rosters = Rosters::new(rosters.clone());
                rosters.check().map_err(anyhow::Error::msg)?;
                Some(Issuer {
                    api_key: api_key.expose().to_owned(),
                    key,
                    key_pair_id: key_pair_id.clone(),
                    rosters,
                })
            }
            _ => None,
        };
    Ok((verifier, issuer))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
