//! Accepting connections, and stopping gracefully: on SIGTERM or Ctrl-C no new
//! connection is taken and in-flight requests finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use bundle::grant::{SigningKey, TrustedKeys, VerifyingKey};

use crate::access::{AccessConfig, AccessControl};
use crate::access_log::AccessLog;
use crate::cache::ObjectCache;
use crate::config::{Config, GrantSettings};
use crate::grants::{Issuer, Rosters};
use crate::handler::{handle, State};
use crate::metrics::Metrics;
use crate::release::Current;
use crate::store::Store;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// A bound, not yet serving, origin.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    poll: Duration,
}

impl Server {
    /// Binds the listener and loads the live release (serving starts even if the channel
    /// is not there yet: `/_origin/ready` says 503 until it is).
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let store = Store::open(&config.store, &config.s3, config.store_timeout).await;
        let metrics = Arc::new(Metrics::default());
        let current = Arc::new(Current::new(
            store.clone(),
            config.channel.clone(),
            config.store_timeout,
            metrics.clone(),
        ));
        match current.refresh(true).await {
            Ok(Some(id)) => tracing::info!(release = %id, store = %config.store, "loaded release"),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, store = %config.store, "no release yet; will keep polling")
            }
        }
        let objects = ObjectCache::new(store, config.cache_bytes, config.store_timeout, metrics.clone());
        let (access, issuer) = load_grants(&config.grants)?;
        if !config.grants.enforce {
            tracing::warn!("preview mode: enrolled-only courses open without a grant");
        }
        // `RUST_LOG` (e.g. `warn`) still silences the access log, as it did when it was a tracing event.
        let access_log = if tracing::enabled!(target: "access", tracing::Level::INFO) {
            AccessLog::open(&config.access_log)?
        } else {
            AccessLog::off()
        };
        let state = Arc::new(State {
            current,
            objects,
            metrics,
            admin_token: config.admin_token,
            access,
            enforce_grants: config.grants.enforce,
            issuer,
            access_log,
        });
        Ok(Server { listener, state, poll: config.poll })
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

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let follower = tokio::spawn(self.state.current.clone().follow(self.poll));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let state = self.state.clone();
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req, peer.ip()).await) }
                    });
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(err) = connection.await {
                            tracing::debug!(error = %err, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        follower.abort();
        drop(self.listener);
        tracing::info!("shutting down: finishing in-flight requests");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(DRAIN) => tracing::warn!("gave up waiting for in-flight requests"),
        }
        self.state.access_log.flush();
    }
}

/// Reads the trusted public keys, and the signing key and rosters when issuing is on.
fn load_grants(settings: &GrantSettings) -> anyhow::Result<(AccessControl, Option<Issuer>)> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading key {}: {e}", path.display()))
    };
    let mut trusted = TrustedKeys::new();
    for (id, path) in &settings.trusted_keys {
        let key = VerifyingKey::from_pem(&read(path)?)
            .map_err(|e| anyhow::anyhow!("key {}: {e}", path.display()))?;
        trusted.insert(id, key);
    }
    let access = AccessControl::new(AccessConfig {
        trusted,
        public_url: settings.public_url.clone(),
        skew: settings.skew,
        origin_verify_secret: settings.origin_verify_secret.clone(),
    })
    .map_err(anyhow::Error::msg)?;
    let issuer =
        match (&settings.api_key, &settings.signing_key, &settings.signing_key_pair_id, &settings.rosters) {
            (Some(api_key), Some(key), Some(key_pair_id), Some(rosters)) => Some(Issuer {
                api_key: api_key.clone(),
                key: SigningKey::from_pem(&read(key)?)
                    .map_err(|e| anyhow::anyhow!("key {}: {e}", key.display()))?,
                key_pair_id: key_pair_id.clone(),
                rosters: Rosters::new(rosters.clone()),
            }),
            _ => None,
        };
    Ok((access, issuer))
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
