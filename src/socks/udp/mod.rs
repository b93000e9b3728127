//! UDP over SOCKS5 (RFC 1928 §7) on the mixed port: a client's UDP ASSOCIATE gets a relay
//! socket on the listener's address; its datagrams go through the upstream SOCKS5
//! server's own relay, or straight from this machine for targets on the direct list and
//! with `direct://`. Where the server in use cannot carry UDP (SOCKS4, an HTTP(S) proxy,
//! anything behind `via`, a SOCKS5 server that refuses command 3 such as `ssh -D`) the
//! ASSOCIATE is refused with a reply and a log line that say so: nothing is ever sent
//! directly behind the user's back.
//!
//! The association lives as long as the client's TCP control connection (and the
//! server's, upstream), and ends after the idle timeout. Only datagrams from the client's
//! own address are relayed; fragments are dropped. One datagram is handled at a time, so
//! a flood waits in the kernel's socket buffer and is dropped there: memory stays flat.

pub(crate) mod datagram;
pub(crate) mod upstream;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::config::{HttpProxy, SocksServer, SocksVersion, Upstream};
use crate::connections::{Counters, Kind, UdpSeen, TARGETS_LISTED};
use crate::engine::{Conn, Engine};
use crate::error::ProxyError;
use crate::socks::parse;
use crate::target::{Host, Target};

/// The largest datagram relayed (the most a UDP/IPv4 packet carries, with our header).
const MAX_DATAGRAM: usize = 65_535;
/// Names resolved for direct datagrams, kept per association.
const NAMES_KEPT: usize = 64;

/// How this association's datagrams leave.
enum Way {
    Direct,
    Through(upstream::Association),
}

/// Serves a UDP ASSOCIATE whose request named `hint` (the address the client says it
/// will send from; `0.0.0.0:0` for "not known yet"). Replies on `control`, then relays
/// until the association ends.
pub(crate) async fn associate(mut control: TcpStream, conn: Arc<Conn>, hint: Target) {
    let engine = conn.shared.engine();
    let way = match open_way(&engine).await {
        Ok(way) => way,
        Err(error) => {
            let _ = control
                .write_all(&parse::reply5(error.socks5_reply()))
                .await;
            return conn.report("SOCKS UDP ASSOCIATE", &error);
        }
    };
    // The relay listens where the client reached us.
    let bind_ip = control
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(conn.local.ip());
    let relay = match UdpSocket::bind((bind_ip, 0)).await {
        Ok(relay) => relay,
        Err(e) => {
            let _ = control.write_all(&parse::reply5(0x01)).await;
            let error = ProxyError::BadRequest(format!("cannot open a UDP relay: {e}"));
            return conn.report("SOCKS UDP ASSOCIATE", &error);
        }
    };
    let Ok(bound) = relay.local_addr() else {
        return;
    };
    let mut reply = vec![0x05, 0x00, 0x00];
    parse::encode_address(&Target::new(Host::Ip(bound.ip()), bound.port()), &mut reply);
    if control.write_all(&reply).await.is_err() {
        return;
    }
    let via = match &way {
        Way::Direct => None,
        Way::Through(_) => engine.via_upstream(),
    };
    let tracked = conn.track(Kind::Udp, &"UDP", via);
    // Always there: the registry gives every UDP association its counts.
    let Some(udp) = tracked.live.udp.as_ref() else {
        return;
    };
    let mut relaying = Relay {
        engine: &engine,
        conn: &conn,
        relay,
        client: expected_client(&hint, conn.peer),
        client_ip: conn.peer.ip(),
        connected: false,
        direct: Sockets::default(),
        names: HashMap::new(),
        bytes: &tracked.live.bytes,
        udp,
        seen: Vec::new(),
    };
    let end = relaying.run(&mut control, way).await;
    tracing::debug!(peer = %conn.peer, "UDP association ended: {end}");
}

/// An IPv4-mapped IPv6 source (`::ffff:127.0.0.1`) as the IPv4 address it is.
fn unmapped(source: &Target) -> Option<Target> {
    match source.host {
        Host::Ip(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| Target::new(Host::Ip(IpAddr::V4(v4)), source.port)),
        _ => None,
    }
}

/// The client's address when the request named a usable one, else learnt from its first
/// datagram (which must come from the control connection's IP).
fn expected_client(hint: &Target, peer: SocketAddr) -> Option<SocketAddr> {
    match hint.host {
        Host::Ip(ip) if !ip.is_unspecified() && hint.port != 0 => {
            Some(SocketAddr::new(ip, hint.port))
        }
        _ if hint.port != 0 => Some(SocketAddr::new(peer.ip(), hint.port)),
        _ => None,
    }
}

/// The upstream's UDP relay, or direct, or why UDP cannot go.
async fn open_way(engine: &Engine) -> Result<Way, ProxyError> {
    Ok(match upstream_relay(engine).await? {
        None => Way::Direct,
        Some(association) => Way::Through(association),
    })
}

/// An association with the UDP relay of the server in use; `None` where datagrams leave
/// from this machine (`direct://`); or why UDP cannot go (turned off, or a server that
/// cannot carry it).
pub(crate) async fn upstream_relay(
    engine: &Engine,
) -> Result<Option<upstream::Association>, ProxyError> {
    let config = &engine.config;
    if !config.udp {
        return Err(ProxyError::UdpRefused {
            server: "this proxy".into(),
            reason: "UDP is turned off in the settings".into(),
        });
    }
    match carrier(&config.upstream, config.via.as_ref())? {
        None => Ok(None),
        Some(server) => upstream::associate(server, config.timeouts.connect)
            .await
            .map(Some),
    }
}

/// The SOCKS5 server whose relay carries a server entry's UDP (`None`: `direct://`, from
/// this machine), or why that entry cannot carry UDP at all.
fn carrier<'a>(
    upstream: &'a Upstream,
    via: Option<&HttpProxy>,
) -> Result<Option<&'a SocksServer>, ProxyError> {
    let refused = |server: String, reason: String| ProxyError::UdpRefused { server, reason };
    match (upstream, via) {
        (Upstream::Direct, _) => Ok(None),
        (Upstream::Socks(server), None)
            if matches!(server.version, SocksVersion::Socks5 { .. }) =>
        {
            Ok(Some(server))
        }
        (Upstream::Socks(server), Some(via)) => Err(refused(
            format!("SOCKS server {}", server.address),
            format!(
                "it is reached through the HTTP proxy {}, which carries only TCP",
                via.address
            ),
        )),
        (Upstream::Socks(server), None) => Err(refused(
            format!("SOCKS server {}", server.address),
            "SOCKS4 has no UDP".into(),
        )),
        (Upstream::Http(proxy), _) => Err(refused(
            format!("HTTP proxy {}", proxy.address),
            "an HTTP proxy carries only TCP".into(),
        )),
    }
}

/// Whether a server entry carries UDP: for a SOCKS5 server, one UDP ASSOCIATE within
/// `limit`, ended at once (the server says yes or refuses command 3, as `ssh -D` does).
pub(crate) async fn probe(
    upstream: &Upstream,
    via: Option<&HttpProxy>,
    limit: std::time::Duration,
) -> Result<(), ProxyError> {
    match carrier(upstream, via)? {
        None => Ok(()),
        Some(server) => upstream::associate(server, limit).await.map(drop),
    }
}

/// Sockets for direct datagrams, one per address family, opened on first use.
#[derive(Default)]
struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl Sockets {
    async fn for_target(&mut self, target: SocketAddr) -> std::io::Result<&UdpSocket> {
        let slot = if target.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        if slot.is_none() {
            *slot = Some(crate::dial::mark::udp_socket_for(target)?);
        }
        Ok(slot.as_ref().expect("just opened"))
    }
}

/// Waits for a datagram on a socket that may not be open yet (never, then); its buffer
/// is allocated with the socket's first use.
async fn recv_opt(
    socket: Option<&UdpSocket>,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => {
            if buf.is_empty() {
                buf.resize(MAX_DATAGRAM, 0);
            }
            socket.recv_from(buf).await
        }
        None => std::future::pending().await,
    }
}

struct Relay<'a> {
    engine: &'a Engine,
    conn: &'a Conn,
    relay: UdpSocket,
    /// Where the client sends from, once known.
    client: Option<SocketAddr>,
    client_ip: IpAddr,
    /// The relay socket is connected to the client (after its first datagram).
    connected: bool,
    direct: Sockets,
    names: HashMap<Target, SocketAddr>,
    bytes: &'a Counters,
    udp: &'a UdpSeen,
    /// The targets already listed in the Connections view (the first few; one more
    /// stands for "and others").
    seen: Vec<Target>,
}

impl Relay<'_> {
    /// Relays until the control connection (or the upstream's) closes, the idle timeout
    /// passes, or the proxy stops. Returns why it ended.
    async fn run(&mut self, control: &mut TcpStream, mut way: Way) -> &'static str {
        let idle = self.engine.config.timeouts.idle;
        let hard_stop = self.conn.shared.hard_stop.clone();
        let mut from_client = vec![0u8; MAX_DATAGRAM];
        let mut from_upstream = match way {
            Way::Through(_) => vec![0u8; MAX_DATAGRAM],
            Way::Direct => Vec::new(),
        };
        let (mut from_v4, mut from_v6) = (Vec::new(), Vec::new());
        let mut scratch = [0u8; 64];
        let mut upstream_scratch = [0u8; 64];
        let mut wrapped = Vec::with_capacity(MAX_DATAGRAM);
        // One timer for the association, moved only when it fires: a datagram just notes
        // the time (a timer per datagram cost a tenth of the round-trip rate).
        let mut last = tokio::time::Instant::now();
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        loop {
            let upstream = match &mut way {
                Way::Through(association) => Some(association),
                Way::Direct => None,
            };
            let (up_control, up_socket) = match upstream {
                Some(a) => (Some(&mut a.control), Some(&a.socket)),
                None => (None, None),
            };
            tokio::select! {
                _ = hard_stop.cancelled() => return "the proxy stopped",
                _ = &mut idle_timer => {
                    if last.elapsed() >= idle {
                        return "idle timeout";
                    }
                    idle_timer.as_mut().reset(last + idle);
                }
                read = control.read(&mut scratch) => match read {
                    Ok(0) | Err(_) => return "the client closed its control connection",
                    Ok(_) => {}
                },
                read = async {
                    match up_control {
                        Some(c) => c.read(&mut upstream_scratch).await,
                        None => std::future::pending().await,
                    }
                } => match read {
                    Ok(0) | Err(_) => return "the SOCKS server ended the association",
                    Ok(_) => {}
                },
                received = self.relay.recv_from(&mut from_client) => {
                    let Ok((n, source)) = received else { continue };
                    if self.accept_source(source) {
                        if !self.connected {
                            // The kernel filters strangers from now on, and answers go
                            // out without a route lookup each.
                            self.connected = self.relay.connect(source).await.is_ok();
                        }
                        last = tokio::time::Instant::now();
                        self.relay_out(&from_client[..n], up_socket).await;
                    }
                }
                received = async {
                    match up_socket {
                        Some(s) => s.recv(&mut from_upstream).await,
                        None => std::future::pending().await,
                    }
                } => {
                    // The server's datagrams carry the header the client reads; only an
                    // IPv4 source the server spelt IPv4-mapped (a dual-stack socket) is
                    // given back its own spelling, which clients compare with what they sent to.
                    let Ok(n) = received else { continue };
                    let Ok(from) = datagram::parse(&from_upstream[..n]) else { continue };
                    last = tokio::time::Instant::now();
                    let payload = from.payload.len();
                    match unmapped(&from.target) {
                        Some(source) => {
                            datagram::encode(&source, from.payload, &mut wrapped);
                            self.relay_back(&wrapped, payload).await;
                        }
                        None => self.relay_back(&from_upstream[..n], payload).await,
                    }
                }
                received = recv_opt(self.direct.v4.as_ref(), &mut from_v4) => {
                    let Ok((n, source)) = received else { continue };
                    last = tokio::time::Instant::now();
                    self.relay_direct_back(source, &from_v4[..n], &mut wrapped).await;
                }
                received = recv_opt(self.direct.v6.as_ref(), &mut from_v6) => {
                    let Ok((n, source)) = received else { continue };
                    last = tokio::time::Instant::now();
                    self.relay_direct_back(source, &from_v6[..n], &mut wrapped).await;
                }
            }
        }
    }

    /// Only the client's own address is relayed: its IP is the control connection's, and
    /// its port the one it named or first sent from.
    fn accept_source(&mut self, source: SocketAddr) -> bool {
        if source.ip() != self.client_ip {
            tracing::debug!(peer = %self.conn.peer, "UDP from {source} dropped: not the client");
            return false;
        }
        match self.client {
            Some(client) if client != source => {
                tracing::debug!(peer = %self.conn.peer, "UDP from {source} dropped: the client sends from {client}");
                false
            }
            Some(_) => true,
            None => {
                self.client = Some(source);
                true
            }
        }
    }

    async fn relay_out(&mut self, bytes: &[u8], upstream: Option<&UdpSocket>) {
        let datagram = match datagram::parse(bytes) {
            Ok(datagram) => datagram,
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, "UDP datagram dropped: {e}");
                return;
            }
        };
        let payload = datagram.payload.len() as u64;
        let sent = match upstream {
            Some(socket) if !self.engine.goes_direct(&datagram.target) => {
                // Forwarded as it came: the header is the same between us and the server.
                socket.send(bytes).await.is_ok()
            }
            _ => match self.resolve(&datagram.target).await {
                Some(to) => match self.direct.for_target(to).await {
                    Ok(socket) => socket.send_to(datagram.payload, to).await.is_ok(),
                    Err(_) => false,
                },
                None => false,
            },
        };
        if sent {
            self.bytes.up.fetch_add(payload, Relaxed);
            self.conn.shared.stats.add_up(payload);
            self.udp.datagrams.up.fetch_add(1, Relaxed);
            if self.seen.len() <= TARGETS_LISTED && !self.seen.contains(&datagram.target) {
                self.udp.new_target(&datagram.target);
                self.seen.push(datagram.target);
            }
        }
    }

    /// A datagram a direct socket received from `source`, given our header for the client.
    async fn relay_direct_back(&mut self, source: SocketAddr, payload: &[u8], out: &mut Vec<u8>) {
        let source = Target::new(Host::Ip(source.ip()), source.port());
        datagram::encode(&unmapped(&source).unwrap_or(source), payload, out);
        self.relay_back(out, payload.len()).await;
    }

    /// Sends a whole datagram (header included) carrying `payload` bytes to the client.
    async fn relay_back(&mut self, bytes: &[u8], payload: usize) {
        let Some(client) = self.client else {
            return;
        };
        let payload = payload as u64;
        let sent = match self.connected {
            true => self.relay.send(bytes).await,
            false => self.relay.send_to(bytes, client).await,
        };
        if sent.is_ok() {
            self.bytes.down.fetch_add(payload, Relaxed);
            self.conn.shared.stats.add_down(payload);
            self.udp.datagrams.down.fetch_add(1, Relaxed);
        }
    }

    /// The address a direct datagram goes to (names resolved here, remembered a while).
    async fn resolve(&mut self, target: &Target) -> Option<SocketAddr> {
        if let Host::Ip(ip) = target.host {
            return Some(SocketAddr::new(ip, target.port));
        }
        if let Some(addr) = self.names.get(target) {
            return Some(*addr);
        }
        let limit = self.engine.config.timeouts.connect;
        match crate::dial::resolve(target, limit).await {
            Ok(addrs) => {
                let addr = *addrs.first()?;
                if self.names.len() >= NAMES_KEPT {
                    self.names.clear();
                }
                self.names.insert(target.clone(), addr);
                Some(addr)
            }
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, "UDP datagram dropped: {e}");
                None
            }
        }
    }
}
