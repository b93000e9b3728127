//! UDP from the TUN other than DNS. Each flow the stack hands over (one app socket and one
//! destination) goes through the UDP relay of the server in use, on an association of its
//! own as hev-socks5-tunnel and tun2socks carry them, with the name behind a fake address
//! for the server to resolve; a destination on the direct list (or `direct://`) is sent
//! from a marked socket straight out. Where the server in use cannot carry UDP
//! (microsocks, `ssh -D`, SOCKS4, an HTTP proxy, UDP turned off) or cannot be reached,
//! nothing is sent anywhere: QUIC (UDP/443) is answered at once with ICMP
//! port-unreachable, so a browser takes TCP without waiting for QUIC to time out, and
//! other datagrams are dropped. That verdict is kept a while for the config it was learnt
//! with, so blocked traffic costs no dialling per packet.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::device::{Device, MTU};
use super::fake_ip::FakeIpPool;
use super::flows::target_of;
use super::icmp;
use super::stack::UdpFlow;
use crate::connections::Kind;
use crate::engine::{Engine, Shared};
use crate::error::ProxyError;
use crate::socks::udp::{datagram, upstream_relay};
use crate::target::{Host, Target};

/// How long "UDP cannot go" is believed before the next flow tries again.
const VERDICT_KEPT: Duration = Duration::from_secs(10);
/// The largest datagram read from an upstream relay (header included).
const MAX_DATAGRAM: usize = 65_535;
/// QUIC's port: refused with ICMP rather than dropped.
const QUIC: u16 = 443;

/// Why UDP cannot go now, for the engine (config generation) it was learnt with.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    blocked: Mutex<Option<(Weak<Engine>, Instant, String)>>,
}

impl Verdict {
    /// Whether UDP was found blocked with `engine` a moment ago.
    fn blocked(&self, engine: &Arc<Engine>) -> bool {
        matches!(&*crate::sync::lock(&self.blocked),
            Some((seen, at, _)) if seen.as_ptr() == Arc::as_ptr(engine) && at.elapsed() < VERDICT_KEPT)
    }

    /// Notes that UDP is blocked for `reason`; true when that is news (not the standing
    /// verdict), which is worth a log line.
    fn block(&self, engine: &Arc<Engine>, reason: &str) -> bool {
        let mut blocked = crate::sync::lock(&self.blocked);
        let news = !matches!(&*blocked, Some((seen, _, said)) if seen.as_ptr() == Arc::as_ptr(engine) && said == reason);
        *blocked = Some((Arc::downgrade(engine), Instant::now(), reason.to_string()));
        news
    }

    /// Why UDP is blocked, if it was found so a moment ago (for the capture's status).
    pub fn reason(&self) -> Option<String> {
        match &*crate::sync::lock(&self.blocked) {
            Some((_, at, reason)) if at.elapsed() < VERDICT_KEPT => Some(reason.clone()),
            _ => None,
        }
    }

    /// UDP went: a later failure is news again.
    fn clear(&self) {
        *crate::sync::lock(&self.blocked) = None;
    }
}

/// How one flow's datagrams leave.
enum Way {
    /// Straight out, on a marked socket connected to the destination.
    Direct(UdpSocket),
    /// Through the server's relay; the control connection keeps the association.
    Through {
        control: TcpStream,
        socket: UdpSocket,
    },
}

/// Carries one UDP flow until either side goes quiet (the stack's UDP timeout), the
/// association ends or the proxy stops.
pub(crate) async fn flow(
    mut udp: UdpFlow,
    shared: Arc<Shared>,
    pool: Arc<Mutex<FakeIpPool>>,
    device: Device,
    verdict: Arc<Verdict>,
    stop: CancellationToken,
) {
    let (app, dst) = (udp.app(), udp.destination());
    let Some(target) = target_of(dst, &pool) else {
        tracing::debug!("TUN UDP {app} → {dst}: a fake address no name holds");
        return;
    };
    let engine = shared.engine();
    let way = match open(&engine, &target, &verdict).await {
        Ok(way) => way,
        Err(Closed::Direct(error)) => {
            return shared.report(app, format_args!("TUN UDP {target}"), &error);
        }
        Err(closed) => {
            if let Closed::Upstream(error) = closed {
                if verdict.block(&engine, &error.to_string()) {
                    tracing::info!(
                        "UDP through the TUN is blocked: {error}. QUIC (UDP/443) is refused so browsers use TCP; other datagrams are dropped, none sent around the server"
                    );
                    shared.report(app, format_args!("TUN UDP {target}"), &error);
                }
            }
            if dst.port() == QUIC {
                refuse(&mut udp, &device).await;
            }
            return;
        }
    };
    let _active = shared.stats.connection();
    let via = match &way {
        Way::Direct(_) => None,
        Way::Through { .. } => engine.via_upstream(),
    };
    let client = crate::socket_owner::ClientSocket::udp(app, dst);
    let tracked = shared.connections.open(Kind::Udp, client, &target, via);
    let Some(seen) = tracked.live.udp.as_ref() else {
        return;
    };
    seen.new_target(&target);
    let (socket, mut control) = match way {
        Way::Direct(socket) => (socket, None),
        Way::Through { control, socket } => (socket, Some(control)),
    };
    let through = control.is_some();
    let mut from_app = vec![0u8; usize::from(MTU)];
    let mut from_out = vec![
        0u8;
        if through {
            MAX_DATAGRAM
        } else {
            usize::from(MTU)
        }
    ];
    let mut wrapped = Vec::with_capacity(usize::from(MTU) + 300);
    let mut scratch = [0u8; 64];
    let end = loop {
        tokio::select! {
            () = stop.cancelled() => break "the TUN or the proxy stopped",
            read = udp.read(&mut from_app) => {
                let n = match read {
                    Ok(0) | Err(_) => break "quiet for the UDP idle time",
                    Ok(n) => n,
                };
                let sent = if through {
                    datagram::encode(&target, &from_app[..n], &mut wrapped);
                    socket.send(&wrapped).await
                } else {
                    socket.send(&from_app[..n]).await
                };
                if sent.is_ok() {
                    tracked.live.bytes.up.fetch_add(n as u64, Relaxed);
                    shared.stats.add_up(n as u64);
                    seen.datagrams.up.fetch_add(1, Relaxed);
                }
            }
            received = socket.recv(&mut from_out) => {
                let Ok(n) = received else { continue };
                let payload = if through {
                    match datagram::parse(&from_out[..n]) {
                        Ok(datagram) => datagram.payload,
                        Err(e) => {
                            tracing::debug!("TUN UDP {app} → {target}: the relay's datagram dropped: {e}");
                            continue;
                        }
                    }
                } else {
                    &from_out[..n]
                };
                if udp.write_all(payload).await.is_err() {
                    break "the stack closed the flow";
                }
                tracked.live.bytes.down.fetch_add(payload.len() as u64, Relaxed);
                shared.stats.add_down(payload.len() as u64);
                seen.datagrams.down.fetch_add(1, Relaxed);
            }
            read = async {
                match control.as_mut() {
                    Some(control) => control.read(&mut scratch).await,
                    None => std::future::pending().await,
                }
            } => match read {
                Ok(0) | Err(_) => break "the SOCKS server ended the association",
                Ok(_) => {}
            },
        }
    };
    tracing::debug!("TUN UDP {app} → {target} ended: {end}");
}

/// Why a flow has no way out.
enum Closed {
    /// The server in use cannot carry UDP, or cannot be reached: news to log.
    Upstream(ProxyError),
    /// As found a moment ago.
    Standing,
    /// A destination on the direct list that cannot be sent to.
    Direct(ProxyError),
}

/// The way out for `target`: direct for the direct list, else the server's relay.
async fn open(engine: &Arc<Engine>, target: &Target, verdict: &Verdict) -> Result<Way, Closed> {
    if engine.config.udp && engine.goes_direct(target) {
        return direct(engine, target).await.map_err(Closed::Direct);
    }
    if verdict.blocked(engine) {
        return Err(Closed::Standing);
    }
    match upstream_relay(engine).await {
        Ok(Some(association)) => {
            verdict.clear();
            Ok(Way::Through {
                control: association.control,
                socket: association.socket,
            })
        }
        Ok(None) => direct(engine, target).await.map_err(Closed::Direct),
        Err(error) => Err(Closed::Upstream(error)),
    }
}

/// A marked socket connected to `target` (a name resolved here).
async fn direct(engine: &Engine, target: &Target) -> Result<Way, ProxyError> {
    let to = match &target.host {
        Host::Ip(ip) => SocketAddr::new(*ip, target.port),
        Host::Domain(name) => *crate::dial::resolve(target, engine.config.timeouts.connect)
            .await?
            .first()
            .ok_or_else(|| ProxyError::Resolve {
                host: name.clone(),
                detail: "no address".into(),
            })?,
    };
    let failed = |source: std::io::Error| ProxyError::TargetUnreachable {
        target: to.to_string(),
        source: source.into(),
    };
    let socket = crate::dial::mark::udp_socket_for(to).map_err(failed)?;
    socket.connect(to).await.map_err(failed)?;
    Ok(Way::Direct(socket))
}

/// Answers the flow's first datagram with ICMP port-unreachable.
async fn refuse(udp: &mut UdpFlow, device: &Device) {
    let mut first = vec![0u8; usize::from(MTU)];
    let Ok(n) = udp.read(&mut first).await else {
        return;
    };
    let Some(packet) = icmp::port_unreachable(udp.app(), udp.destination(), &first[..n]) else {
        return;
    };
    if let Err(e) = device.send(&packet).await {
        tracing::debug!("ICMP to {} not written: {e}", udp.app());
    }
}
