//! A new connection on the 4-tuple of one the stack still holds in TIME-WAIT. When the
//! origin closes first (an HTTP/1.0 answer, `Connection: close`), the stack's side ends
//! in TIME-WAIT for 10 s, while the app's kernel, which closed second, may hand the same
//! local port to the app's next connection at once. smoltcp answers that SYN with a
//! challenge ACK and restarts its timer, so the app waits in SYN-SENT for seconds
//! (measured: 8 of 7,000 short flows, 8 at a time, hung 5 s). RFC 1122 §4.2.2.13 lets a
//! TIME-WAIT connection be reopened by a new SYN; this does it from outside the stack:
//! the app's FIN is noted as it goes in, and a SYN on the same tuple is preceded by an RST
//! at the sequence number the old connection expects next, which closes it, so the SYN
//! finds a listening socket.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

/// Longer than smoltcp's TIME-WAIT (10 s, restarted by a stray segment at most once here).
const REMEMBER: Duration = Duration::from_secs(30);
/// Tuples remembered at most; beyond that the oldest half is forgotten.
const MAX_TUPLES: usize = 65_536;
const TTL: u8 = 64;

/// The apps' FINs, by (app, destination): the sequence number after each.
#[derive(Debug, Default)]
pub(super) struct Reopener {
    after_fin: HashMap<(SocketAddr, SocketAddr), (u32, Instant)>,
}

impl Reopener {
    /// Looks at a packet an app sent into the device: the RST to put into the stack
    /// before it, when it opens a connection on a tuple whose last one the app ended.
    pub(super) fn before(&mut self, packet: &[u8], now: Instant) -> Option<Vec<u8>> {
        let segment = Segment::of(packet)?;
        let key = (segment.app, segment.destination);
        if segment.fin {
            if self.after_fin.len() >= MAX_TUPLES {
                self.forget_oldest();
            }
            self.after_fin.insert(key, (segment.seq_after, now));
            return None;
        }
        if !segment.syn || segment.ack {
            return None;
        }
        let (seq, when) = self.after_fin.remove(&key)?;
        if now.duration_since(when) > REMEMBER {
            return None;
        }
        reset(segment.app, segment.destination, seq)
    }

    fn forget_oldest(&mut self) {
        let mut times: Vec<Instant> = self.after_fin.values().map(|(_, t)| *t).collect();
        times.sort_unstable();
        let cut = times[times.len() / 2];
        self.after_fin.retain(|_, (_, t)| *t > cut);
    }
}

/// What of a TCP segment from an app matters here.
struct Segment {
    app: SocketAddr,
    destination: SocketAddr,
    syn: bool,
    ack: bool,
    fin: bool,
    /// The sequence number after this segment (its data, SYN and FIN counted).
    seq_after: u32,
}

impl Segment {
    fn of(packet: &[u8]) -> Option<Segment> {
        let sliced = SlicedPacket::from_ip(packet).ok()?;
        let (from, to): (IpAddr, IpAddr) = match sliced.net? {
            NetSlice::Ipv4(ip) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            NetSlice::Ipv6(ip) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            NetSlice::Arp(_) => return None,
        };
        let TransportSlice::Tcp(tcp) = sliced.transport? else {
            return None;
        };
        let length = tcp.payload().len() as u32 + u32::from(tcp.syn()) + u32::from(tcp.fin());
        Some(Segment {
            app: SocketAddr::new(from, tcp.source_port()),
            destination: SocketAddr::new(to, tcp.destination_port()),
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            seq_after: tcp.sequence_number().wrapping_add(length),
        })
    }
}

/// An RST from `app` to `destination` at `seq`, as the app would send it.
fn reset(app: SocketAddr, destination: SocketAddr, seq: u32) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match (app.ip(), destination.ip()) {
        (IpAddr::V4(from), IpAddr::V4(to)) => PacketBuilder::ipv4(from.octets(), to.octets(), TTL)
            .tcp(app.port(), destination.port(), seq, 0)
            .rst()
            .write(&mut out, &[])
            .ok()?,
        (IpAddr::V6(from), IpAddr::V6(to)) => PacketBuilder::ipv6(from.octets(), to.octets(), TTL)
            .tcp(app.port(), destination.port(), seq, 0)
            .rst()
            .write(&mut out, &[])
            .ok()?,
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Flags {
        Syn,
        SynAck,
        Ack,
        Fin,
    }

    fn segment(app: &str, dst: &str, seq: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
        let (app, dst): (SocketAddr, SocketAddr) = (app.parse().unwrap(), dst.parse().unwrap());
        let mut out = Vec::new();
        let builder = match (app.ip(), dst.ip()) {
            (IpAddr::V4(a), IpAddr::V4(d)) => PacketBuilder::ipv4(a.octets(), d.octets(), TTL),
            (IpAddr::V6(a), IpAddr::V6(d)) => PacketBuilder::ipv6(a.octets(), d.octets(), TTL),
            _ => unreachable!(),
        };
        let tcp = builder.tcp(app.port(), dst.port(), seq, 65535);
        let tcp = match flags {
            Flags::Syn => tcp.syn(),
            Flags::SynAck => tcp.syn().ack(1),
            Flags::Ack => tcp.ack(1),
            Flags::Fin => tcp.fin().ack(1),
        };
        tcp.write(&mut out, payload).unwrap();
        out
    }

    /// (source, destination, RST?, ACK?, seq) of a packet made here.
    fn read(packet: &[u8]) -> (SocketAddr, SocketAddr, bool, bool, u32) {
        let sliced = SlicedPacket::from_ip(packet).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = sliced.transport else {
            panic!("not TCP")
        };
        let segment = Segment::of(packet).unwrap();
        (
            segment.app,
            segment.destination,
            tcp.rst(),
            tcp.ack(),
            tcp.sequence_number(),
        )
    }

    #[test]
    fn a_syn_on_a_tuple_the_app_ended_is_preceded_by_a_reset_at_the_next_sequence_number() {
        let now = Instant::now();
        let later = |s| now + Duration::from_secs(s);
        let app = "198.18.0.1:40000";
        let dst = "198.51.100.7:8080";
        // name, (packet, second it arrives), the RST's sequence number
        type Case = (&'static str, Vec<(Vec<u8>, u64)>, Option<u32>);
        let cases: Vec<Case> = vec![
            (
                "FIN then SYN",
                vec![(segment(app, dst, 1000, Flags::Fin, b""), 0)],
                Some(1001),
            ),
            (
                "FIN with data: counted",
                vec![(segment(app, dst, 1000, Flags::Fin, b"last"), 0)],
                Some(1005),
            ),
            (
                "sequence numbers wrap",
                vec![(segment(app, dst, u32::MAX, Flags::Fin, b""), 0)],
                Some(0),
            ),
            (
                "the newest FIN counts",
                vec![
                    (segment(app, dst, 1000, Flags::Fin, b""), 0),
                    (segment(app, dst, 5000, Flags::Fin, b""), 1),
                ],
                Some(5001),
            ),
            ("no FIN seen", vec![], None),
            (
                "data without a FIN",
                vec![(segment(app, dst, 1000, Flags::Ack, b"data"), 0)],
                None,
            ),
            (
                "another destination",
                vec![(segment(app, "198.51.100.7:8081", 1000, Flags::Fin, b""), 0)],
                None,
            ),
            (
                "another app port",
                vec![(segment("198.18.0.1:40001", dst, 1000, Flags::Fin, b""), 0)],
                None,
            ),
            (
                "too long ago",
                vec![(segment(app, dst, 1000, Flags::Fin, b""), 0)],
                None,
            ),
        ];
        for (name, before, expected) in cases {
            let mut reopener = Reopener::default();
            for (packet, at) in &before {
                assert_eq!(reopener.before(packet, later(*at)), None, "{name}");
            }
            let at = if name == "too long ago" { 31 } else { 2 };
            let syn = segment(app, dst, 77, Flags::Syn, b"");
            let reset = reopener.before(&syn, later(at));
            let seen = reset.as_deref().map(read);
            let want =
                expected.map(|seq| (app.parse().unwrap(), dst.parse().unwrap(), true, false, seq));
            assert_eq!(seen, want, "{name}");
            assert_eq!(reopener.before(&syn, later(at)), None, "{name}: once");
        }
    }

    #[test]
    fn only_an_opening_syn_reopens_and_ipv6_works_the_same() {
        let app = "[fd00:1095::1]:40000";
        let dst = "[2001:db8::7]:443";
        let now = Instant::now();
        let mut reopener = Reopener::default();
        reopener.before(&segment(app, dst, 9, Flags::Fin, b""), now);
        assert_eq!(
            reopener.before(&segment(app, dst, 9, Flags::SynAck, b""), now),
            None
        );
        assert_eq!(
            reopener.before(&segment(app, dst, 9, Flags::Ack, b""), now),
            None
        );
        let reset = reopener
            .before(&segment(app, dst, 500, Flags::Syn, b""), now)
            .unwrap();
        assert_eq!(
            read(&reset),
            (app.parse().unwrap(), dst.parse().unwrap(), true, false, 10)
        );
        assert_eq!(reopener.before(b"not a packet", now), None);
    }

    #[test]
    fn the_memory_is_bounded() {
        let now = Instant::now();
        let mut reopener = Reopener::default();
        for i in 0..(MAX_TUPLES as u32 + 10) {
            let app = format!("198.18.{}.{}:{}", i >> 16, (i >> 8) & 255, 1024 + (i & 255));
            let fin = segment(&app, "198.51.100.7:80", 1, Flags::Fin, b"");
            reopener.before(&fin, now + Duration::from_millis(u64::from(i)));
        }
        assert!(reopener.after_fin.len() <= MAX_TUPLES);
        assert!(reopener.after_fin.len() > MAX_TUPLES / 3);
    }
}
