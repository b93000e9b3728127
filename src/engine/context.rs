//! The context a protocol handler runs in: [`Shared`] across the whole proxy (the current
//! engine, stats, tasks, shutdown) and [`Conn`] for one client connection, with the one
//! place a failure is counted and logged.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Engine;
use crate::auth;
use crate::config::InboundAuth;
use crate::connections::{Kind, Registry, Tracked};
use crate::error::ProxyError;
use crate::stats::{ActiveGuard, Stats};

#[derive(Debug)]
pub(crate) struct Shared {
    engine: RwLock<Arc<Engine>>,
    pub stats: Arc<Stats>,
    /// The open connections and the last failures, for the Connections view.
    pub connections: Arc<Registry>,
    /// Every connection and tunnel task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Stop accepting; let connections finish.
    pub graceful: CancellationToken,
    /// Drain time is over: close what is left.
    pub hard_stop: CancellationToken,
}

impl Shared {
    pub fn new(engine: Engine) -> Shared {
        Shared {
            engine: RwLock::new(Arc::new(engine)),
            stats: Arc::new(Stats::default()),
            connections: Arc::new(Registry::default()),
            tasks: TaskTracker::new(),
            graceful: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        }
    }

    pub fn engine(&self) -> Arc<Engine> {
        Arc::clone(&crate::sync::read(&self.engine))
    }

    pub fn set_engine(&self, engine: Engine) {
        *crate::sync::write(&self.engine) = Arc::new(engine);
    }

    /// Counts a failure of `peer`'s and logs it once: server-side failures as warnings,
    /// the client's own mistakes as info.
    pub fn report(&self, peer: SocketAddr, what: impl fmt::Display, error: &ProxyError) {
        self.stats.error(error.kind());
        self.connections.failed(peer, what.to_string(), error);
        if error.status().is_server_error() {
            tracing::warn!(peer = %peer, "{what}: {error}");
        } else {
            tracing::info!(peer = %peer, "{what}: {error}");
        }
    }
}

/// One accepted client connection. It counts as active, and holds its slot under the
/// connection cap, until the last task serving it (the HTTP connection, or a tunnel or
/// upgrade it turned into) drops its reference.
#[derive(Debug)]
pub(crate) struct Conn {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    /// The address the client reached us on: requests for it would loop.
    pub local: SocketAddr,
    pub _permit: tokio::sync::OwnedSemaphorePermit,
    pub _active: ActiveGuard,
}

impl Conn {
    /// The credentials this client must present under `engine`'s config, if any.
    pub fn required_auth<'a>(&self, engine: &'a Engine) -> Option<&'a InboundAuth> {
        auth::required_of(engine.config.auth.as_ref(), self.peer)
    }

    /// Lists this client's connection to `target` (through the server `via`, `None` for
    /// direct) in the Connections view until the returned entry drops.
    pub fn track(&self, kind: Kind, target: &impl ToString, via: Option<Arc<str>>) -> Tracked {
        let client = crate::socket_owner::ClientSocket::tcp(self.peer, self.local);
        self.shared.connections.open(kind, client, target, via)
    }

    /// Counts a failed request or handshake and logs it once ([`Shared::report`]).
    pub fn report(&self, what: impl fmt::Display, error: &ProxyError) {
        self.shared.report(self.peer, what, error);
    }
}
