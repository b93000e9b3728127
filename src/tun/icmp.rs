//! ICMP "port unreachable", written into the TUN as though the destination had answered:
//! how an app learns at once that its UDP cannot go (a connected socket's next call fails
//! with `ECONNREFUSED`), which makes a browser drop QUIC for TCP instead of waiting for
//! QUIC to time out.

use std::net::{IpAddr, SocketAddr};

use etherparse::{icmpv4, icmpv6, Icmpv4Type, Icmpv6Type, PacketBuilder};

/// The hop limit of the packets we write (they are "from" the destination).
const TTL: u8 = 64;
/// How much of the offending datagram an ICMPv4 error quotes: the error stays within
/// 576 bytes (RFC 1812 §4.3.2.3).
const QUOTE_V4: usize = 576 - 20 - 8;
/// The same for ICMPv6: within the minimum MTU of 1280 bytes (RFC 4443 §3.1).
const QUOTE_V6: usize = 1280 - 40 - 8;

/// The ICMP error answering a UDP datagram carrying `payload` from `app` to `dst`, as an
/// IP packet for the TUN. It quotes the datagram so the kernel finds the app's socket.
/// `None` when the two addresses are not of one family.
pub fn port_unreachable(app: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let mut quoted = Vec::new();
    let mut out = Vec::new();
    match (app.ip(), dst.ip()) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            PacketBuilder::ipv4(from.octets(), to.octets(), TTL)
                .udp(app.port(), dst.port())
                .write(&mut quoted, payload)
                .ok()?;
            quoted.truncate(QUOTE_V4);
            PacketBuilder::ipv4(to.octets(), from.octets(), TTL)
                .icmpv4(Icmpv4Type::DestinationUnreachable(
                    icmpv4::DestUnreachableHeader::Port,
                ))
                .write(&mut out, &quoted)
                .ok()?;
        }
        (IpAddr::V6(from), IpAddr::V6(to)) => {
            PacketBuilder::ipv6(from.octets(), to.octets(), TTL)
                .udp(app.port(), dst.port())
                .write(&mut quoted, payload)
                .ok()?;
            quoted.truncate(QUOTE_V6);
            PacketBuilder::ipv6(to.octets(), from.octets(), TTL)
                .icmpv6(Icmpv6Type::DestinationUnreachable(
                    icmpv6::DestUnreachableCode::Port,
                ))
                .write(&mut out, &quoted)
                .ok()?;
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv4Header, Icmpv6Header, NetSlice, SlicedPacket, TransportSlice};

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The ICMP packet's (source, destination, quoted datagram), its checksum checked.
    fn open(packet: &[u8]) -> (IpAddr, IpAddr, Vec<u8>) {
        let sliced = SlicedPacket::from_ip(packet).expect("an IP packet");
        let (src, dst) = match sliced.net.as_ref().expect("an IP header") {
            NetSlice::Ipv4(ip) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            ),
            NetSlice::Ipv6(ip) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            ),
            other => panic!("{other:?}"),
        };
        match sliced.transport.expect("a transport header") {
            TransportSlice::Icmpv4(icmp) => {
                let port = Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port);
                assert_eq!(icmp.icmp_type(), port);
                let expected = Icmpv4Header::with_checksum(port, icmp.payload());
                assert_eq!(icmp.checksum(), expected.checksum);
                (src, dst, icmp.payload().to_vec())
            }
            TransportSlice::Icmpv6(icmp) => {
                let port = Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port);
                assert_eq!(icmp.icmp_type(), port);
                let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
                    unreachable!()
                };
                let expected =
                    Icmpv6Header::with_checksum(port, s.octets(), d.octets(), icmp.payload())
                        .unwrap();
                assert_eq!(icmp.checksum(), expected.checksum);
                (src, dst, icmp.payload().to_vec())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_error_comes_from_the_destination_and_quotes_the_datagram() {
        let cases = [
            // app, destination, payload length, quoted length
            ("198.18.0.1:40000", "198.51.100.7:443", 100, 20 + 8 + 100),
            ("198.18.0.1:40000", "198.18.0.9:443", 1200, QUOTE_V4),
            (
                "[fd00:1095::1]:40000",
                "[2001:db8::7]:443",
                100,
                40 + 8 + 100,
            ),
            ("[fd00:1095::1]:40000", "[2001:db8::7]:443", 1400, QUOTE_V6),
            ("198.18.0.1:5", "198.51.100.7:9", 0, 20 + 8),
        ];
        for (app, dst, len, quoted_len) in cases {
            let (app, dst) = (addr(app), addr(dst));
            let payload = vec![0x5a; len];
            let packet = port_unreachable(app, dst, &payload).unwrap();
            let (src, to, quoted) = open(&packet);
            assert_eq!((src, to), (dst.ip(), app.ip()), "{app} → {dst}");
            assert_eq!(quoted.len(), quoted_len, "{app} → {dst}");
            // The quoted datagram is the app's own: its ports, then its first bytes.
            let header = if app.is_ipv4() { 20 } else { 40 };
            let port = |at: usize| u16::from_be_bytes([quoted[at], quoted[at + 1]]);
            assert_eq!((port(header), port(header + 2)), (app.port(), dst.port()));
            assert!(quoted[header + 8..].iter().all(|&b| b == 0x5a));
        }
    }

    #[test]
    fn addresses_of_two_families_get_no_error() {
        let v4 = addr("198.18.0.1:40000");
        let v6 = addr("[2001:db8::7]:443");
        assert_eq!(port_unreachable(v4, v6, b"x"), None);
        assert_eq!(port_unreachable(v6, v4, b"x"), None);
    }
}
