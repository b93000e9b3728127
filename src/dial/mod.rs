//! Opening a TCP stream to a target along a [`Route`]: directly, through a SOCKS server,
//! or through an HTTP proxy's CONNECT tunnel — and the server itself perhaps through an
//! HTTP proxy in front of it (a chain: our socket → office proxy → SOCKS server → target).
//!
//! Every dial resolves names asynchronously, tries each address in turn under the connect
//! timeout, and sets `TCP_NODELAY`; handshakes run on a socket we connected ourselves
//! (tokio-socks' own connect resolves with blocking calls and tries one address only), so
//! the result is a plain TCP socket for the pump's fast path — TLS over it only when an
//! HTTPS proxy is on the way.

mod http;
pub(crate) mod mark;
mod socks;
mod tls;

pub(crate) use crate::stream::Stream;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::{HttpProxy, Upstream};
use crate::error::ProxyError;
use crate::route::Route;
use crate::target::{Host, Target};

/// A stream to `target` along `route`, within `limit` per step.
pub(crate) async fn open(
    route: Route<'_>,
    target: &Target,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    match route {
        Route::Socks { server, via } => {
            let hop = Hop::socks(&server.address);
            let stream = reach(hop, via, limit).await?;
            socks::handshake(server, stream, target, limit).await
        }
        Route::Http { proxy, via } => {
            let hop = Hop::http(proxy);
            let stream = reach(hop, via, limit).await?;
            let stream = secure(stream, proxy, hop, limit).await?;
            http::tunnel(stream, proxy, hop, target, limit).await
        }
        Route::Direct => {
            let addrs = resolve(target, limit).await?;
            let stream = connect_any(&addrs, limit).await.map_err(|e| {
                e.into_error(
                    |source| ProxyError::TargetUnreachable {
                        target: target.to_string(),
                        source: source.into(),
                    },
                    || format!("connecting to {target}"),
                )
            })?;
            Ok(Stream::Tcp(stream))
        }
    }
}

/// TLS to `proxy` over `stream` when it is an HTTPS proxy; the stream as it is otherwise.
async fn secure(
    stream: Stream,
    proxy: &HttpProxy,
    hop: Hop<'_>,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    if proxy.tls {
        tls::connect(stream, &proxy.address.host, hop, limit).await
    } else {
        Ok(stream)
    }
}

/// A proxy server as errors name it ("SOCKS server h:p"); spelled out only for an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hop<'a> {
    kind: &'static str,
    address: &'a Target,
}

impl<'a> Hop<'a> {
    fn socks(address: &'a Target) -> Hop<'a> {
        Hop {
            kind: "SOCKS server",
            address,
        }
    }

    fn http(proxy: &'a HttpProxy) -> Hop<'a> {
        Hop {
            kind: if proxy.tls {
                "HTTPS proxy"
            } else {
                "HTTP proxy"
            },
            address: &proxy.address,
        }
    }
}

impl std::fmt::Display for Hop<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.address)
    }
}

/// A stream to the proxy server `hop`: connected from here, or through a CONNECT tunnel
/// of `via`.
async fn reach(
    hop: Hop<'_>,
    via: Option<&HttpProxy>,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    let first = match via {
        Some(via) => Hop::http(via),
        None => hop,
    };
    let addrs = resolve(first.address, limit).await?;
    let stream = connect_any(&addrs, limit).await.map_err(|e| {
        e.into_error(
            |source| ProxyError::UpstreamUnreachable {
                server: first.to_string(),
                source: source.into(),
            },
            || format!("connecting to {first}"),
        )
    })?;
    match via {
        Some(via) => {
            let stream = secure(stream.into(), via, first, limit).await?;
            http::tunnel(stream, via, first, hop.address, limit).await
        }
        None => Ok(stream.into()),
    }
}

/// Dials `target` through `upstream` (saved or not; reached through `via` when set) and
/// measures how long it took: the settings window's Test button.
pub async fn probe(
    upstream: &Upstream,
    via: Option<&HttpProxy>,
    target: &Target,
    limit: Duration,
) -> Result<Duration, ProxyError> {
    timed_open(Route::through(upstream, via), target, limit).await
}

/// How long opening a stream to `target` along `route` took (the stream is dropped).
pub(crate) async fn timed_open(
    route: Route<'_>,
    target: &Target,
    limit: Duration,
) -> Result<Duration, ProxyError> {
    let start = std::time::Instant::now();
    open(route, target, limit).await?;
    Ok(start.elapsed())
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
        match tokio::time::timeout_at(deadline, mark::tcp_connect(*addr)).await {
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
