//! The firewall mark on every socket the proxy opens toward the network (Linux): while
//! the whole-desktop mode captures the machine's traffic, its first rule lets marked
//! sockets use the main table, so our own connections to the SOCKS server (and direct
//! ones) go out of the real interface instead of back into the TUN. No mark (0) until a
//! capture sets one; other systems have none.

use std::io;
use std::net::SocketAddr;
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use tokio::net::{TcpSocket, TcpStream, UdpSocket};

#[cfg(target_os = "linux")]
static MARK: AtomicU32 = AtomicU32::new(0);

/// Marks every outbound socket opened from now on with `mark` (0: none).
#[cfg(target_os = "linux")]
pub fn set(mark: u32) {
    MARK.store(mark, Relaxed);
}

/// Connects to `addr` from a socket carrying the mark.
pub(crate) async fn tcp_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    apply(socket2::SockRef::from(&socket))?;
    socket.connect(addr).await
}

/// A UDP socket for talking to `peer`: bound to any address of its family, carrying the
/// mark.
pub(crate) fn udp_socket_for(peer: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match peer {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(local),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    apply(socket2::SockRef::from(&socket))?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(target_os = "linux")]
fn apply(socket: socket2::SockRef<'_>) -> io::Result<()> {
    match MARK.load(Relaxed) {
        0 => Ok(()),
        mark => socket.set_mark(mark),
    }
}

#[cfg(not(target_os = "linux"))]
fn apply(_socket: socket2::SockRef<'_>) -> io::Result<()> {
    Ok(())
}
