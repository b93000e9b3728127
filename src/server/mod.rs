//! The listener and its lifecycle: `ProxyServer::bind` → `local_addr()` → `run(shutdown)`,
//! with a cloneable [`ProxyHandle`] for live stats, reloads and shutdown. Accepted
//! connections go to the protocol handlers (`http/`, `socks/`) by their first byte.

mod accept;
mod connection;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

use crate::config::ProxyConfig;
use crate::engine::{Engine, Shared, POOL_IDLE};
use crate::error::ProxyError;
use crate::stats::StatsSnapshot;
use crate::target::Target;

/// A new listening socket for the accept loop, and the signal that the old one is closed.
type Rebind = (TcpListener, tokio::sync::oneshot::Sender<()>);

/// The listener's own state next to what connections share: where it listens, the
/// connection cap, and the lock that serialises reloads.
#[derive(Debug)]
struct Listener {
    shared: Arc<Shared>,
    local_addr: RwLock<SocketAddr>,
    permits: Arc<Semaphore>,
    limit: AtomicUsize,
    apply_lock: tokio::sync::Mutex<()>,
}

impl Listener {
    fn local_addr(&self) -> SocketAddr {
        *crate::sync::read(&self.local_addr)
    }

    fn set_local_addr(&self, addr: SocketAddr) {
        *crate::sync::write(&self.local_addr) = addr;
    }
}

/// The listen address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("port {port} is already in use")]
    InUse { port: u16 },
    #[error("not allowed to listen on {addr} (ports below 1024 need privileges)")]
    PermissionDenied { addr: SocketAddr },
    #[error("{addr} is not an address of this machine")]
    NotLocal { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Other { addr: SocketAddr, source: io::Error },
}

pub(crate) async fn bind_listener(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| match source.kind() {
            io::ErrorKind::AddrInUse => BindError::InUse { port: addr.port() },
            io::ErrorKind::PermissionDenied => BindError::PermissionDenied { addr },
            io::ErrorKind::AddrNotAvailable => BindError::NotLocal { addr },
            _ => BindError::Other { addr, source },
        })
}

/// A bound, not yet running proxy.
#[derive(Debug)]
pub struct ProxyServer {
    listener: TcpListener,
    state: Arc<Listener>,
    rebind_tx: mpsc::UnboundedSender<Rebind>,
    rebind_rx: mpsc::UnboundedReceiver<Rebind>,
}

impl ProxyServer {
    pub async fn bind(config: ProxyConfig) -> Result<ProxyServer, BindError> {
        let listener = bind_listener(config.listen).await?;
        let local = listener.local_addr().map_err(|source| BindError::Other {
            addr: config.listen,
            source,
        })?;
        if !local.ip().is_loopback() {
            if config.auth.is_none() {
                tracing::warn!("listening on {local} WITHOUT credentials: anyone who can reach it can use this proxy");
            } else {
                tracing::warn!(
                    "listening on {local}: reachable from other machines, credentials required"
                );
            }
        }
        let (rebind_tx, rebind_rx) = mpsc::unbounded_channel();
        let limit = config.max_connections;
        let state = Listener {
            shared: Arc::new(Shared::new(Engine::new(config, None))),
            local_addr: RwLock::new(local),
            permits: Arc::new(Semaphore::new(limit)),
            limit: limit.into(),
            apply_lock: tokio::sync::Mutex::new(()),
        };
        Ok(ProxyServer {
            listener,
            state: Arc::new(state),
            rebind_tx,
            rebind_rx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.local_addr()
    }

    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            state: Arc::clone(&self.state),
            rebind_tx: self.rebind_tx.clone(),
        }
    }

    /// Serves until `shutdown` completes or [`ProxyHandle::shutdown`] is called, then stops
    /// accepting, lets connections finish for the drain time, and closes the rest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let shared = Arc::clone(&self.state.shared);
        let stats = Arc::clone(&shared.stats);
        tokio::select! {
            () = accept::accept_loop(self.listener, self.rebind_rx, Arc::clone(&self.state)) => {}
            () = stats.bursts.trim_after_bursts(|| stats.active(), POOL_IDLE * 2 + Duration::from_secs(5)) => {}
            () = shutdown => {}
            () = shared.graceful.cancelled() => {}
        }
        shared.graceful.cancel();
        shared.tasks.close();
        let drain = shared.engine().config.timeouts.drain;
        if tokio::time::timeout(drain, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::info!(
                "{} connections still open after the {} ms drain time: closing them",
                shared.stats.snapshot().active_connections,
                drain.as_millis()
            );
            shared.hard_stop.cancel();
            shared.tasks.wait().await;
        }
    }
}

/// What [`ProxyHandle::apply`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The listener moved to a new address (running connections stay on the old socket
    /// until they end).
    pub rebound: bool,
}

/// Control of a running proxy, cheap to clone.
#[derive(Debug, Clone)]
pub struct ProxyHandle {
    state: Arc<Listener>,
    rebind_tx: mpsc::UnboundedSender<Rebind>,
}

impl ProxyHandle {
    /// The open connections (newest first) and the last failures.
    pub fn connections(&self) -> crate::connections::Connections {
        self.state.shared.connections.view()
    }

    /// How many connections are open: the view's count, without looking up programs.
    pub fn open_connections(&self) -> usize {
        self.state.shared.connections.open_count()
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.state.shared.stats.snapshot()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.local_addr()
    }

    pub fn config(&self) -> ProxyConfig {
        self.state.shared.engine().config.clone()
    }

    /// Dials `target` through the running router, as traffic would, and returns how long
    /// it took (the app's upstream check).
    pub async fn probe(&self, target: &Target) -> Result<Duration, ProxyError> {
        self.state.shared.engine().probe(target).await
    }

    /// Switches to a new config. New requests use it at once; running tunnels and
    /// in-flight requests finish on the old one. A new listen address is bound first, so a
    /// busy port leaves everything as it was.
    /// Drops the pooled upstream connections, which may have died with the network (after
    /// a resume or a network change): later requests dial afresh. Running tunnels and
    /// requests in flight keep theirs.
    pub async fn drop_pool(&self) {
        let _serial = self.state.apply_lock.lock().await;
        let old = self.state.shared.engine();
        self.state
            .shared
            .set_engine(Engine::new(old.config.clone(), None));
    }

    pub async fn apply(&self, config: ProxyConfig) -> Result<Applied, BindError> {
        let state = &self.state;
        let _serial = state.apply_lock.lock().await;
        let old = state.shared.engine();
        let moved = config.listen != old.config.listen && config.listen != state.local_addr();
        let listener = if moved {
            Some(bind_listener(config.listen).await?)
        } else {
            None
        };
        let new_limit = config.max_connections;
        state.shared.set_engine(Engine::new(config, Some(&old)));
        let old_limit = state.limit.swap(new_limit, Ordering::SeqCst);
        if new_limit > old_limit {
            state.permits.add_permits(new_limit - old_limit);
        } else {
            state.permits.forget_permits(old_limit - new_limit);
        }
        let rebound = match listener {
            Some(listener) => {
                if let Ok(addr) = listener.local_addr() {
                    state.set_local_addr(addr);
                }
                let (done, closed) = tokio::sync::oneshot::channel();
                self.rebind_tx.send((listener, done)).is_ok() && closed.await.is_ok()
            }
            None => false,
        };
        Ok(Applied { rebound })
    }

    /// What connections share: for traffic that arrives other than through the listener
    /// (the whole-desktop mode's TUN).
    #[cfg(target_os = "linux")]
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.state.shared)
    }

    /// Starts a graceful shutdown; [`ProxyServer::run`] returns once it is done.
    pub fn shutdown(&self) {
        self.state.shared.graceful.cancel();
    }

    /// Resolves when the server has stopped accepting.
    pub async fn stopped(&self) {
        self.state.shared.graceful.cancelled().await;
    }
}
