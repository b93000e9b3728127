//! The TUN device (tun-rs): a network interface whose packets this process reads and
//! writes. It exists only while the process holds it open — a crash takes it, and the
//! route in our table that points at it, away with the process.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The device's own addresses: the first of the fake-IP ranges (never handed out).
pub const ADDRESS_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x1095, 0, 0, 0, 0, 0, 1);
pub const MTU: u16 = 1500;

/// One packet per read and per write, as the userspace stack expects.
pub struct Device(Arc<tun_rs::AsyncDevice>);

/// A second way into the device beside the stack's: packets the stack does not make
/// (ICMP errors) written straight in. The device stays open while one is held.
#[derive(Clone)]
pub struct Injector(Arc<tun_rs::AsyncDevice>);

impl std::fmt::Debug for Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Injector")
    }
}

impl Injector {
    /// Writes one IP packet into the device, as if it had arrived from the network.
    pub async fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.0.send(packet).await.map(drop)
    }
}

impl Device {
    pub fn injector(&self) -> Injector {
        Injector(Arc::clone(&self.0))
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Device")
    }
}

/// Creates and brings up the device `name` with [`ADDRESS_V4`] and [`ADDRESS_V6`].
pub fn open(name: &str) -> io::Result<Device> {
    tun_rs::DeviceBuilder::new()
        .name(name)
        .mtu(MTU)
        .ipv4(ADDRESS_V4, 15u8, None)
        .ipv6(ADDRESS_V6, 96u8)
        .build_async()
        .map(|device| Device(Arc::new(device)))
}

impl AsyncRead for Device {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.0.poll_recv(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Device {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
