//! UDP ASSOCIATE with the upstream SOCKS5 server: the control connection that keeps the
//! association alive, and the server's relay address, corrected where the server names
//! one the client cannot use (`0.0.0.0`, or a private address behind its NAT: what
//! hev-socks5-tunnel's `udp-address` works around). tokio-socks has no UDP, and
//! fast-socks5's client connects to whatever address the server names, so this is the
//! handshake itself (RFC 1928, RFC 1929), a few lines over the parsers the inbound side
//! already has.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::config::SocksServer;
use crate::dial::{connect_any, resolve};
use crate::error::{socks5_reply_reason, ProxyError};
use crate::socks::parse::{self, CMD_UDP_ASSOCIATE, NO_AUTH, USER_PASS};
use crate::target::{Host, Target};

/// A live association with the upstream: dropping it ends it (the control connection
/// closes, and the server drops the relay).
#[derive(Debug)]
pub struct Association {
    /// Kept open for as long as the association lives; the server ends it when it closes.
    pub control: TcpStream,
    /// Connected to the server's relay: `send` and `recv` carry SOCKS5 UDP datagrams.
    pub socket: UdpSocket,
}

/// Where to send datagrams for an association whose reply named `bound`, with the
/// control connection to the server at `server`.
pub fn relay_address(bound: SocketAddr, server: SocketAddr) -> SocketAddr {
    let unusable = bound.ip().is_unspecified() || (is_local(bound.ip()) && !is_local(server.ip()));
    if unusable {
        SocketAddr::new(server.ip(), bound.port())
    } else {
        bound
    }
}

/// Private, link-local or loopback: reachable only from the server's side of a NAT.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Opens an association through `server` within `limit`.
pub async fn associate(server: &SocksServer, limit: Duration) -> Result<Association, ProxyError> {
    match tokio::time::timeout(limit, negotiate(server, limit)).await {
        Ok(result) => result,
        Err(_) => Err(ProxyError::timeout(
            format!(
                "waiting for SOCKS server {} to open a UDP relay",
                server.address
            ),
            limit,
        )),
    }
}

async fn negotiate(server: &SocksServer, limit: Duration) -> Result<Association, ProxyError> {
    let name = format!("SOCKS server {}", server.address);
    let protocol = |detail: &str| ProxyError::UpstreamProtocol {
        server: name.clone(),
        detail: detail.to_string(),
    };
    let io = |source: std::io::Error| ProxyError::UpstreamUnreachable {
        server: name.clone(),
        source: source.into(),
    };
    let addrs = resolve(&server.address, limit).await?;
    let mut control = connect_any(&addrs, limit)
        .await
        .map_err(|f| f.into_error(io, || format!("connecting to {name}")))?;
    let peer = control.peer_addr().map_err(io)?;

    let creds = server.credentials.as_ref();
    let greeting: &[u8] = if creds.is_some() {
        &[0x05, 0x02, NO_AUTH, USER_PASS]
    } else {
        &[0x05, 0x01, NO_AUTH]
    };
    control.write_all(greeting).await.map_err(io)?;
    let mut choice = [0u8; 2];
    control.read_exact(&mut choice).await.map_err(io)?;
    match (choice, creds) {
        ([0x05, NO_AUTH], _) => {}
        ([0x05, USER_PASS], Some(c)) => {
            let (user, pass) = (c.username.as_bytes(), c.password.expose().as_bytes());
            let mut message = vec![0x01, user.len() as u8];
            message.extend_from_slice(user);
            message.push(pass.len() as u8);
            message.extend_from_slice(pass);
            control.write_all(&message).await.map_err(io)?;
            let mut status = [0u8; 2];
            control.read_exact(&mut status).await.map_err(io)?;
            if status[1] != 0 {
                return Err(ProxyError::UpstreamAuthRejected { server: name });
            }
        }
        ([0x05, _], _) => return Err(ProxyError::UpstreamAuthRejected { server: name }),
        _ => return Err(protocol("not a SOCKS5 server")),
    }

    // DST 0.0.0.0:0: we do not know which address the server sees us send from.
    control
        .write_all(&[0x05, CMD_UDP_ASSOCIATE, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        .await
        .map_err(io)?;
    let mut reply = Vec::with_capacity(32);
    let bound = loop {
        if reply.len() >= 3 {
            if reply[0] != 0x05 {
                return Err(protocol("not a SOCKS5 reply"));
            }
            if reply[1] != 0 {
                return Err(ProxyError::UdpRefused {
                    server: name,
                    reason: socks5_reply_reason(reply[1]).to_string(),
                });
            }
            match parse::address(&reply[3..]) {
                Ok(Some((target, _))) => break target,
                Ok(None) => {}
                Err(e) => return Err(protocol(&e.to_string())),
            }
        }
        if reply.len() > parse::MAX_MESSAGE {
            return Err(protocol("reply too long"));
        }
        let mut chunk = [0u8; 64];
        let n = control.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(ProxyError::UdpRefused {
                server: name,
                reason: "it closed the connection instead of answering".into(),
            });
        }
        reply.extend_from_slice(&chunk[..n]);
    };
    let bound = match bound {
        Target {
            host: Host::Ip(ip),
            port,
        } => SocketAddr::new(ip, port),
        named => *resolve(&named, limit)
            .await?
            .first()
            .ok_or_else(|| protocol("its relay has no address"))?,
    };
    let relay = relay_address(bound, peer);
    let socket = crate::dial::mark::udp_socket_for(relay).map_err(io)?;
    socket.connect(relay).await.map_err(io)?;
    Ok(Association { control, socket })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_address_the_client_cannot_use_becomes_the_servers() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let cases = [
            ("0.0.0.0:4000", "203.0.113.5:1080", "203.0.113.5:4000"),
            ("[::]:4000", "[2001:db8::5]:1080", "[2001:db8::5]:4000"),
            ("10.0.0.7:4000", "203.0.113.5:1080", "203.0.113.5:4000"),
            ("192.168.1.2:4000", "198.51.100.9:1080", "198.51.100.9:4000"),
            ("10.0.0.7:4000", "10.0.0.8:1080", "10.0.0.7:4000"),
            ("127.0.0.1:4000", "127.0.0.1:1080", "127.0.0.1:4000"),
            ("203.0.113.6:4000", "203.0.113.5:1080", "203.0.113.6:4000"),
            ("[fd00::7]:4000", "[2001:db8::5]:1080", "[2001:db8::5]:4000"),
        ];
        for (bound, server, relay) in cases {
            assert_eq!(
                relay_address(addr(bound), addr(server)),
                addr(relay),
                "{bound} via {server}"
            );
        }
    }
}
