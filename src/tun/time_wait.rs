//! The stack's TIME-WAIT, ended from outside it. When the origin closes first (an HTTP/1.0
//! answer, `Connection: close`), smoltcp's side of the connection ends in TIME-WAIT for a
//! fixed 10 s, and netstack-smoltcp walks every socket it holds on each poll: at 2,400 new
//! flows a second that is 24,000 sockets walked per packet, and the flow rate fell from
//! 2,402/s in a first 3 s run to 520/s in the next (bench/tun.sh). TIME-WAIT guards a
//! tuple against old duplicates of a connection crossing a network; between the app's
//! kernel and this process there is none, so once both FINs are acknowledged the stack's
//! socket is closed by an RST at the sequence number it expects next (accepted in
//! TIME-WAIT, RFC 793's reset processing), and it leaves the stack's set at once.
//!
//! A new SYN on a tuple whose close was not seen to the end (a packet lost in a full queue)
//! is preceded by the same RST: smoltcp answers a SYN in TIME-WAIT with a challenge ACK and
//! restarts its timer, which left 8 of 7,000 short flows in SYN-SENT for 5 s; RFC 1122
//! §4.2.2.13 lets a TIME-WAIT connection be reopened by a new SYN.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

/// Longer than smoltcp's TIME-WAIT (10 s, restarted by a stray segment at most once here).
const REMEMBER: Duration = Duration::from_secs(30);
/// Tuples remembered at most; beyond that the oldest half is forgotten.
const MAX_TUPLES: usize = 65_536;
const TTL: u8 = 64;

type Tuple = (SocketAddr, SocketAddr);

/// How far one connection's close has gone, as seen from the device.
#[derive(Debug, Clone, Copy)]
struct Ends {
    /// The sequence number after the app's FIN.
    app_fin: Option<u32>,
    /// The sequence number after the stack's FIN.
    stack_fin: Option<u32>,
    /// The app's FIN came before the stack's: the stack closes second, with no TIME-WAIT.
    app_first: bool,
    app_fin_acked: bool,
    stack_fin_acked: bool,
    since: Instant,
}

/// RSTs to put into the stack around a packet an app sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Resets {
    /// Before the packet: the SYN reopens a tuple the stack may still hold.
    pub before: Option<Vec<u8>>,
    /// After it: it acknowledged the stack's FIN, the last step of the close.
    pub after: Option<Vec<u8>>,
}

/// The closes in progress, by (app, destination).
#[derive(Debug, Default)]
pub(super) struct Closes {
    tuples: HashMap<Tuple, Ends>,
}

impl Closes {
    /// Looks at a packet an app sent into the device, before it goes into the stack.
    pub(super) fn app_sent(&mut self, packet: &[u8], now: Instant) -> Resets {
        let mut resets = Resets::default();
        let Some(segment) = Segment::of(packet) else {
            return resets;
        };
        let key = (segment.from, segment.to);
        if segment.rst {
            self.tuples.remove(&key);
            return resets;
        }
        if segment.syn && !segment.ack {
            if let Some(ends) = self.tuples.remove(&key) {
                if let (Some(seq), true) =
                    (ends.app_fin, now.duration_since(ends.since) <= REMEMBER)
                {
                    resets.before = reset(key, seq);
                }
            }
            return resets;
        }
        if segment.fin {
            let ends = self.entry(key, now);
            ends.app_fin = Some(segment.seq_after);
            ends.app_first = ends.stack_fin.is_none();
        }
        let Some(ends) = self.tuples.get_mut(&key) else {
            return resets;
        };
        if segment.ack && ends.stack_fin == Some(segment.ack_number) {
            ends.stack_fin_acked = true;
            resets.after = self.finished(key);
        }
        resets
    }

    /// Looks at a packet the stack sent to an app: the RST to put into the stack once it
    /// has gone out, when it acknowledged the app's FIN, the last step of the close.
    pub(super) fn stack_sent(&mut self, packet: &[u8], now: Instant) -> Option<Vec<u8>> {
        let segment = Segment::of(packet)?;
        let key = (segment.to, segment.from);
        if segment.rst {
            self.tuples.remove(&key);
            return None;
        }
        if segment.fin {
            let ends = self.entry(key, now);
            ends.stack_fin = Some(segment.seq_after);
        }
        let ends = self.tuples.get_mut(&key)?;
        if segment.ack && ends.app_fin.is_some_and(|seq| seq == segment.ack_number) {
            ends.app_fin_acked = true;
            return self.finished(key);
        }
        None
    }

    /// With both FINs acknowledged the close is over: the RST that ends the stack's
    /// TIME-WAIT, or nothing where the stack closed second and has none.
    fn finished(&mut self, key: Tuple) -> Option<Vec<u8>> {
        let ends = *self.tuples.get(&key)?;
        if !(ends.app_fin_acked && ends.stack_fin_acked) {
            return None;
        }
        self.tuples.remove(&key);
        match ends.app_first {
            true => None,
            false => reset(key, ends.app_fin?),
        }
    }

    fn entry(&mut self, key: Tuple, now: Instant) -> &mut Ends {
        if self.tuples.len() >= MAX_TUPLES && !self.tuples.contains_key(&key) {
            self.forget_oldest();
        }
        self.tuples.entry(key).or_insert(Ends {
            app_fin: None,
            stack_fin: None,
            app_first: false,
            app_fin_acked: false,
            stack_fin_acked: false,
            since: now,
        })
    }

    fn forget_oldest(&mut self) {
        let mut times: Vec<Instant> = self.tuples.values().map(|e| e.since).collect();
        times.sort_unstable();
        let cut = times[times.len() / 2];
        self.tuples.retain(|_, e| e.since > cut);
    }
}

/// What of a TCP segment matters here.
struct Segment {
    from: SocketAddr,
    to: SocketAddr,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    ack_number: u32,
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
            from: SocketAddr::new(from, tcp.source_port()),
            to: SocketAddr::new(to, tcp.destination_port()),
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            ack_number: tcp.acknowledgment_number(),
            seq_after: tcp.sequence_number().wrapping_add(length),
        })
    }
}

/// An RST from the app to the destination of `tuple` at `seq`, as the app would send it.
fn reset((app, destination): Tuple, seq: u32) -> Option<Vec<u8>> {
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

    const APP: &str = "198.18.0.1:40000";
    const DST: &str = "198.51.100.7:8080";

    /// A TCP segment from `from` to `to`; `flags` among "SYN", "FIN", "RST"; `ack` sets
    /// the ACK flag and number.
    fn segment(
        from: &str,
        to: &str,
        seq: u32,
        flags: &str,
        ack: Option<u32>,
        payload: &[u8],
    ) -> Vec<u8> {
        let (from, to): (SocketAddr, SocketAddr) = (from.parse().unwrap(), to.parse().unwrap());
        let mut out = Vec::new();
        let builder = match (from.ip(), to.ip()) {
            (IpAddr::V4(a), IpAddr::V4(d)) => PacketBuilder::ipv4(a.octets(), d.octets(), TTL),
            (IpAddr::V6(a), IpAddr::V6(d)) => PacketBuilder::ipv6(a.octets(), d.octets(), TTL),
            _ => unreachable!(),
        };
        let mut tcp = builder.tcp(from.port(), to.port(), seq, 65535);
        for flag in flags.split('|').filter(|f| !f.is_empty()) {
            tcp = match flag {
                "SYN" => tcp.syn(),
                "FIN" => tcp.fin(),
                "RST" => tcp.rst(),
                other => panic!("{other}"),
            };
        }
        if let Some(ack) = ack {
            tcp = tcp.ack(ack);
        }
        tcp.write(&mut out, payload).unwrap();
        out
    }

    /// (source, destination, RST?, ACK?, seq) of a packet made here.
    type Seen = (SocketAddr, SocketAddr, bool, bool, u32);

    fn read(packet: &[u8]) -> Seen {
        let segment = Segment::of(packet).unwrap();
        (
            segment.from,
            segment.to,
            segment.rst,
            segment.ack,
            segment.seq_after,
        )
    }

    fn rst_at(app: &str, dst: &str, seq: u32) -> Option<Seen> {
        Some((app.parse().unwrap(), dst.parse().unwrap(), true, false, seq))
    }

    #[test]
    fn a_syn_on_a_tuple_the_app_ended_is_preceded_by_a_reset_at_the_next_sequence_number() {
        let now = Instant::now();
        let later = |s| now + Duration::from_secs(s);
        // name, (packet the app sent, second it arrives), the RST's sequence number
        type Case = (&'static str, Vec<(Vec<u8>, u64)>, Option<u32>);
        let fin = |from, to, seq, payload| segment(from, to, seq, "FIN", Some(1), payload);
        let cases: Vec<Case> = vec![
            (
                "FIN then SYN",
                vec![(fin(APP, DST, 1000, b""), 0)],
                Some(1001),
            ),
            (
                "FIN with data: counted",
                vec![(fin(APP, DST, 1000, b"last"), 0)],
                Some(1005),
            ),
            (
                "sequence numbers wrap",
                vec![(fin(APP, DST, u32::MAX, b""), 0)],
                Some(0),
            ),
            (
                "the newest FIN counts",
                vec![(fin(APP, DST, 1000, b""), 0), (fin(APP, DST, 5000, b""), 1)],
                Some(5001),
            ),
            ("no FIN seen", vec![], None),
            (
                "data without a FIN",
                vec![(segment(APP, DST, 1000, "", Some(1), b"data"), 0)],
                None,
            ),
            (
                "another destination",
                vec![(fin(APP, "198.51.100.7:8081", 1000, b""), 0)],
                None,
            ),
            (
                "another app port",
                vec![(fin("198.18.0.1:40001", DST, 1000, b""), 0)],
                None,
            ),
            (
                "reset since",
                vec![
                    (fin(APP, DST, 1000, b""), 0),
                    (segment(APP, DST, 1001, "RST", None, b""), 1),
                ],
                None,
            ),
            ("too long ago", vec![(fin(APP, DST, 1000, b""), 0)], None),
        ];
        for (name, before, expected) in cases {
            let mut closes = Closes::default();
            for (packet, at) in &before {
                assert_eq!(
                    closes.app_sent(packet, later(*at)),
                    Resets::default(),
                    "{name}"
                );
            }
            let at = if name == "too long ago" { 31 } else { 2 };
            let syn = segment(APP, DST, 77, "SYN", None, b"");
            let resets = closes.app_sent(&syn, later(at));
            assert_eq!(resets.after, None, "{name}");
            let want = expected.and_then(|seq| rst_at(APP, DST, seq));
            assert_eq!(resets.before.as_deref().map(read), want, "{name}");
            assert_eq!(
                closes.app_sent(&syn, later(at)),
                Resets::default(),
                "{name}: once"
            );
        }
    }

    /// The packets of one close in the order the device sees them, and where the RST that
    /// ends the stack's TIME-WAIT appears: ("app", packet) went in, ("stack", packet) came out.
    fn close(steps: &[(&str, Vec<u8>)]) -> Vec<Option<Seen>> {
        let now = Instant::now();
        let mut closes = Closes::default();
        let out = steps
            .iter()
            .map(|(side, packet)| {
                let reset = match *side {
                    "app" => {
                        let resets = closes.app_sent(packet, now);
                        assert_eq!(resets.before, None);
                        resets.after
                    }
                    _ => closes.stack_sent(packet, now),
                };
                reset.as_deref().map(read)
            })
            .collect();
        assert!(closes.tuples.is_empty(), "a finished close is forgotten");
        out
    }

    #[test]
    fn the_stacks_time_wait_ends_once_both_fins_are_acknowledged_and_only_where_it_has_one() {
        let app = |seq, flags, ack| ("app", segment(APP, DST, seq, flags, Some(ack), b""));
        let stack = |seq, flags, ack| ("stack", segment(DST, APP, seq, flags, Some(ack), b""));
        // The origin ends first: the stack's FIN, the app's ACK, its FIN, the stack's ACK.
        assert_eq!(
            close(&[
                stack(5000, "FIN", 1000),
                app(1000, "", 5001),
                app(1000, "FIN", 5001),
                stack(5001, "", 1001)
            ]),
            [None, None, None, rst_at(APP, DST, 1001)]
        );
        // The app's FIN acknowledges the stack's in the same segment.
        assert_eq!(
            close(&[
                stack(5000, "FIN", 1000),
                app(1000, "FIN", 5001),
                stack(5001, "", 1001)
            ]),
            [None, None, rst_at(APP, DST, 1001)]
        );
        // The app half-closes while the stack's last data and FIN are still unacknowledged:
        // nothing until the app has them all, then the RST goes in after that ACK.
        assert_eq!(
            close(&[
                stack(5000, "FIN", 1000),
                app(1000, "FIN", 4000),
                stack(5001, "", 1001),
                app(1001, "", 5001)
            ]),
            [None, None, None, rst_at(APP, DST, 1001)]
        );
        // The app ends first: the stack closes second, from LAST-ACK, with no TIME-WAIT.
        assert_eq!(
            close(&[
                app(1000, "FIN", 5000),
                stack(5000, "", 1001),
                stack(5000, "FIN", 1001),
                app(1001, "", 5001)
            ]),
            [None, None, None, None]
        );
        // An RST either way ends the close at once.
        assert_eq!(
            close(&[
                stack(5000, "FIN", 1000),
                ("app", segment(APP, DST, 1000, "RST", None, b""))
            ]),
            [None, None]
        );
        assert_eq!(
            close(&[
                app(1000, "FIN", 5000),
                ("stack", segment(DST, APP, 5000, "RST", None, b""))
            ]),
            [None, None]
        );
    }

    #[test]
    fn ipv6_works_the_same_and_only_an_opening_syn_reopens() {
        let app = "[fd00:1095::1]:40000";
        let dst = "[2001:db8::7]:443";
        let now = Instant::now();
        let mut closes = Closes::default();
        closes.stack_sent(&segment(dst, app, 70, "FIN", Some(9), b""), now);
        closes.app_sent(&segment(app, dst, 9, "FIN", Some(71), b""), now);
        let reset = closes.stack_sent(&segment(dst, app, 71, "", Some(10), b""), now);
        assert_eq!(reset.as_deref().map(read), rst_at(app, dst, 10));

        closes.app_sent(&segment(app, dst, 9, "FIN", Some(1), b""), now);
        let synack = segment(app, dst, 9, "SYN", Some(1), b"");
        assert_eq!(closes.app_sent(&synack, now), Resets::default());
        let reset = closes
            .app_sent(&segment(app, dst, 500, "SYN", None, b""), now)
            .before;
        assert_eq!(reset.as_deref().map(read), rst_at(app, dst, 10));
        assert_eq!(closes.app_sent(b"not a packet", now), Resets::default());
        assert_eq!(closes.stack_sent(b"not a packet", now), None);
    }

    #[test]
    fn the_memory_is_bounded() {
        let now = Instant::now();
        let mut closes = Closes::default();
        for i in 0..(MAX_TUPLES as u32 + 10) {
            let app = format!("198.18.{}.{}:{}", i >> 16, (i >> 8) & 255, 1024 + (i & 255));
            let fin = segment(&app, "198.51.100.7:80", 1, "FIN", Some(1), b"");
            closes.app_sent(&fin, now + Duration::from_millis(u64::from(i)));
        }
        assert!(closes.tuples.len() <= MAX_TUPLES);
        assert!(closes.tuples.len() > MAX_TUPLES / 3);
    }
}
