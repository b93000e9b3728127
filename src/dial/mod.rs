//! Opening a TCP stream to a target: directly, or through the upstream SOCKS server.
//!
//! Every dial resolves names asynchronously, tries each address in turn under the connect
//! timeout, and sets `TCP_NODELAY`; SOCKS handshakes run on a socket we connected ourselves
//! (tokio-socks' own connect resolves with blocking calls and tries one address only).

mod connector;
mod socks;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

pub use connector::{uri_target, SocksConnector};

use crate::config::{ProxyConfig, Upstream};
use crate::error::ProxyError;
use crate::route::DirectRules;
use crate::target::{Host, Target};

/// Dials targets according to one config: upstream, `--direct` rules and timeout.
#[derive(Debug, Clone)]
pub struct Dialer {
    upstream: Upstream,
    direct: DirectRules,
    connect_timeout: Duration,
}

impl Dialer {
    pub fn new(config: &ProxyConfig) -> Dialer {
        Dialer {
            upstream: config.upstream.clone(),
            direct: config.direct.clone(),
            connect_timeout: config.timeouts.connect,
        }
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// True when `target` skips the upstream.
    pub fn is_direct(&self, target: &Target) -> bool {
        self.upstream.is_direct() || self.direct.matches(target)
    }

    /// True when the host of `target` is resolved and connected on this machine, so a
    /// loopback target would come back to us.
    pub fn connects_from_here(&self, target: &Target) -> bool {
        self.is_direct(target)
            || Host::parse(&self.upstream.host)
                .map(|h| h.is_loopback())
                .unwrap_or(false)
    }

    pub async fn dial(&self, target: &Target) -> Result<TcpStream, ProxyError> {
        if self.is_direct(target) {
            let addrs = resolve(target, self.connect_timeout).await?;
            connect_any(&addrs, self.connect_timeout)
                .await
                .map_err(|e| {
                    e.into_error(
                        |source| ProxyError::TargetUnreachable {
                            target: target.to_string(),
                            source,
                        },
                        || format!("connecting to {target}"),
                    )
                })
        } else {
            socks::dial(&self.upstream, target, self.connect_timeout).await
        }
    }

    /// Connects to the SOCKS server and completes a handshake for `target`, measuring how
    /// long it took: the settings window's Test button.
    pub async fn probe(&self, target: &Target) -> Result<Duration, ProxyError> {
        let start = std::time::Instant::now();
        self.dial(target).await?;
        Ok(start.elapsed())
    }
}

/// Resolves a target's host (IP literals skip DNS) under a timeout.
pub(crate) async fn resolve(
    target: &Target,
    limit: Duration,
) -> Result<Vec<SocketAddr>, ProxyError> {
    let name = match &target.host {
        Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, target.port)]),
        Host::Domain(name) => name,
    };
    let lookup = tokio::net::lookup_host((name.as_str(), target.port));
    match tokio::time::timeout(limit, lookup).await {
        Err(_) => Err(ProxyError::timeout(format!("resolving {name}"), limit)),
        Ok(Err(e)) => Err(ProxyError::Resolve {
            host: name.clone(),
            detail: e.to_string(),
        }),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(ProxyError::Resolve {
                    host: name.clone(),
                    detail: "no addresses".into(),
                })
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Why [`connect_any`] failed: the last I/O error, or the deadline.
pub(crate) enum ConnectFailure {
    Io(std::io::Error),
    TimedOut(Duration),
}

impl ConnectFailure {
    pub(crate) fn into_error(
        self,
        io: impl FnOnce(std::io::Error) -> ProxyError,
        during: impl FnOnce() -> String,
    ) -> ProxyError {
        match self {
            ConnectFailure::Io(e) => io(e),
            ConnectFailure::TimedOut(after) => ProxyError::timeout(during(), after),
        }
    }
}

/// Tries each address in order within one overall deadline; the first that connects wins.
pub(crate) async fn connect_any(
    addrs: &[SocketAddr],
    limit: Duration,
) -> Result<TcpStream, ConnectFailure> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectFailure::TimedOut(limit)),
            Ok(Err(e)) => last = e,
            Ok(Ok(stream)) => {
                // Without NODELAY small writes wait for ACKs: fatal for request latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
        }
    }
    Err(ConnectFailure::Io(last))
}
