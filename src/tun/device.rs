//! The TUN device (tun-rs): a network interface whose packets this process reads and
//! writes. It exists only while the process holds it open — a crash takes it, and the
//! route in our table that points at it, away with the process.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The device's own addresses: the first of the fake-IP ranges (never handed out).
pub const ADDRESS_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const ADDRESS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x1095, 0, 0, 0, 0, 0, 1);
pub const MTU: u16 = 1500;

/// The open device, one IP packet per read and per write. Clones are the same device,
/// which stays open while any is held: the stack reads and writes through one, ICMP
/// errors (packets the stack does not make) are written through another.
#[derive(Clone)]
pub struct Device(Arc<tun_rs::AsyncDevice>);

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Device")
    }
}

impl Device {
    /// Reads the next packet an app sent into the device.
    pub async fn recv(&self, packet: &mut [u8]) -> io::Result<usize> {
        self.0.recv(packet).await
    }

    /// Writes one IP packet into the device, as if it had arrived from the network.
    pub async fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.0.send(packet).await.map(drop)
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
