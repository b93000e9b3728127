//! The state connections share: the current config generation ([`Engine`]) behind a
//! lock that is only written on reload, live stats, and the shutdown tokens.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ProxyConfig;
use crate::dial::{Dialer, SocksConnector};
use crate::stats::Stats;

pub(crate) type HttpClient = Client<SocksConnector, Incoming>;

/// How long an unused pooled connection to an origin is kept. The pool checks once per
/// this period, so one lives at most twice as long.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(90);

/// Everything derived from one config: new requests take the newest; running tunnels
/// keep the one they started with.
#[derive(Debug)]
pub(crate) struct Engine {
    pub config: ProxyConfig,
    pub dialer: Arc<Dialer>,
    /// Pooled keep-alive connections to origins, one pool per target, dialled through
    /// the upstream.
    pub client: HttpClient,
}

impl Engine {
    pub fn new(config: ProxyConfig) -> Engine {
        let dialer = Arc::new(Dialer::new(&config));
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(64)
            .set_host(false)
            .build(SocksConnector::new(Arc::clone(&dialer)));
        Engine {
            config,
            dialer,
            client,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    engine: RwLock<Arc<Engine>>,
    local_addr: RwLock<SocketAddr>,
    pub stats: Arc<Stats>,
    /// Every connection and tunnel task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Stop accepting; let connections finish.
    pub graceful: CancellationToken,
    /// Drain time is over: close what is left.
    pub hard_stop: CancellationToken,
    pub permits: Arc<Semaphore>,
    pub limit: std::sync::atomic::AtomicUsize,
    /// Serialises reloads.
    pub apply_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(engine: Engine, local_addr: SocketAddr) -> Shared {
        let limit = engine.config.max_connections;
        Shared {
            engine: RwLock::new(Arc::new(engine)),
            local_addr: RwLock::new(local_addr),
            stats: Arc::new(Stats::default()),
            tasks: TaskTracker::new(),
            graceful: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            permits: Arc::new(Semaphore::new(limit)),
            limit: limit.into(),
            apply_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn engine(&self) -> Arc<Engine> {
        match self.engine.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set_engine(&self, engine: Engine) {
        let engine = Arc::new(engine);
        match self.engine.write() {
            Ok(mut guard) => *guard = engine,
            Err(poisoned) => *poisoned.into_inner() = engine,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        match self.local_addr.read() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    pub fn set_local_addr(&self, addr: SocketAddr) {
        match self.local_addr.write() {
            Ok(mut guard) => *guard = addr,
            Err(poisoned) => *poisoned.into_inner() = addr,
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
    pub _active: crate::stats::ActiveGuard,
}
