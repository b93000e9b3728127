//! The engine room: what every protocol handler calls once it knows where a client wants
//! to go. [`Engine::open`] is the one way out of the proxy — loop guard, route, dial — and
//! [`Engine::admit`] is its first half for the pooled forwarder, whose connector dials.
//!
//! An [`Engine`] is one config generation: new requests take the newest, running tunnels
//! keep the one they started with. [`Shared`] and [`Conn`] are the proxy-wide and
//! per-connection context handlers run in.

mod connector;
mod context;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub(crate) use context::{Conn, Shared};

use crate::config::ProxyConfig;
use crate::error::ProxyError;
use crate::route::{Route, Router};
use crate::target::Target;
use crate::{dial, loop_guard};
use connector::RouteConnector;

/// The body of every request and response on the way through: streamed from a client or
/// an origin, or the proxy's own text.
pub(crate) type Body = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

pub(crate) type HttpClient = Client<RouteConnector, Body>;

/// How long an unused pooled connection to an origin is kept. The pool checks once per
/// this period, so one lives at most twice as long.
pub(crate) const POOL_IDLE: Duration = Duration::from_secs(90);

/// Everything derived from one config.
#[derive(Debug)]
pub(crate) struct Engine {
    pub config: ProxyConfig,
    /// The server in use, by name, as each connection through it shows.
    server: Arc<str>,
    router: Arc<Router>,
    /// Pooled keep-alive connections to origins, one pool per target, dialled through
    /// the router.
    pub client: HttpClient,
}

impl Engine {
    /// The engine for `config`. When `previous` dials the same way (same upstream, rules
    /// and connect timeout), its router and connection pool carry over: a change elsewhere
    /// (auth, timeouts, the PAC bypass list) costs no reconnects.
    pub fn new(config: ProxyConfig, previous: Option<&Engine>) -> Engine {
        if let Some(previous) = previous.filter(|p| p.config.dials_like(&config)) {
            return Engine {
                server: config.server.as_str().into(),
                config,
                router: Arc::clone(&previous.router),
                client: previous.client.clone(),
            };
        }
        let router = Arc::new(Router::new(
            config.upstream.clone(),
            config.via.clone(),
            config.direct.clone(),
        ));
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(64)
            .set_host(false)
            .build(RouteConnector::new(
                Arc::clone(&router),
                config.timeouts.connect,
            ));
        Engine {
            server: config.server.as_str().into(),
            config,
            router,
            client,
        }
    }

    /// The server in use, by name; `None` with `direct://`.
    pub fn via_upstream(&self) -> Option<Arc<str>> {
        (self.config.upstream != crate::config::Upstream::Direct).then(|| Arc::clone(&self.server))
    }

    /// `target` goes straight from this machine: the direct list, or `direct://`.
    pub fn goes_direct(&self, target: &Target) -> bool {
        self.router.route(target) == Route::Direct
    }

    /// The server a route goes through, by name; `None` for direct.
    pub fn via(&self, route: Route<'_>) -> Option<Arc<str>> {
        (route != Route::Direct).then(|| Arc::clone(&self.server))
    }

    /// Where `target` goes, unless it is this proxy itself (reached on `local`).
    pub async fn admit(&self, target: &Target, local: SocketAddr) -> Result<Route<'_>, ProxyError> {
        let route = self.router.route(target);
        loop_guard::check(target, local, route).await?;
        Ok(route)
    }

    /// A stream to `target`: refused if it loops back to us, else routed and dialled.
    /// Also says which server it goes through (`None`: direct).
    pub async fn open(
        &self,
        target: &Target,
        local: SocketAddr,
    ) -> Result<(dial::Stream, Option<Arc<str>>), ProxyError> {
        let route = self.admit(target, local).await?;
        let stream = dial::open(route, target, self.config.timeouts.connect).await?;
        Ok((stream, self.via(route)))
    }

    /// Dials `target` the way real traffic would and measures how long that took: the
    /// app's upstream check, through the running router.
    pub async fn probe(&self, target: &Target) -> Result<Duration, ProxyError> {
        let route = self.router.route(target);
        dial::timed_open(route, target, self.config.timeouts.connect).await
    }
}
