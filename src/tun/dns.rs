//! The whole-desktop mode's DNS answers: a query for a name that goes through the SOCKS
//! server is answered at once with the name's fake addresses (A and AAAA), so the name —
//! not an address resolved on this machine — is what reaches the server; a query the
//! desktop needs answered for real (names on the direct list, LAN names, reverse lookups,
//! the OS's connectivity checks) is passed on to the server the app asked.
//!
//! With [`DnsMode::Real`] every other query is sent through the SOCKS server instead, over
//! TCP (any server carries it), and apps get the real addresses.
//!
//! Pure: bytes in, bytes out. The caller owns the sockets.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use super::fake_ip::FakeIpPool;

/// Fake answers live one second in caches: an app that asks again gets the same address
/// (the pool refreshes the name), and nothing holds a stale one for long after a stop.
pub const FAKE_TTL: u32 = 1;

/// What the apps' DNS queries are answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsMode {
    /// Fake addresses that stand for the names: the SOCKS server resolves each name
    /// (socks5h), nothing is resolved on this machine.
    #[default]
    FakeIp,
    /// Real addresses, the query sent through the SOCKS server to `resolver`, or to the
    /// server the app asked when `None`.
    Real {
        resolver: Option<std::net::SocketAddr>,
    },
}

/// What to do with one query.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send these bytes back to the app.
    Reply(Vec<u8>),
    /// Pass the query on, unchanged, to the server it was sent to.
    Forward,
    /// Send the query, unchanged, through the SOCKS server ([`DnsMode::Real`]).
    Upstream,
}

/// Names the OS and the LAN need real answers for, whatever the rules say: mDNS and
/// home-network suffixes, reverse lookups, and the connectivity checks that compare the
/// answer with a known address (Windows' NCSI reports "no internet" otherwise).
const REAL_SUFFIXES: &[&str] = &[
    "local",
    "lan",
    "home.arpa",
    "in-addr.arpa",
    "ip6.arpa",
    "localhost",
];
const REAL_NAMES: &[&str] = &[
    "dns.msftncsi.com",
    "www.msftncsi.com",
    "www.msftconnecttest.com",
    "ipv6.msftconnecttest.com",
    "captive.apple.com",
    "connectivitycheck.gstatic.com",
    "connectivitycheck.android.com",
    "nmcheck.gnome.org",
    "networkcheck.kde.org",
    "connectivity-check.ubuntu.com",
    "detectportal.firefox.com",
];

/// True for a name that must get its real answer: see [`REAL_SUFFIXES`], [`REAL_NAMES`],
/// and single-label names (LAN hosts).
pub fn needs_real_answer(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !name.contains('.')
        || REAL_NAMES.contains(&name.as_str())
        || REAL_SUFFIXES.iter().any(|suffix| {
            name == *suffix
                || name
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

/// The answer to `query` (a DNS message as it arrived over UDP): names for which
/// `goes_direct` or [`needs_real_answer`] holds are forwarded; every other A or AAAA
/// question gets the name's fake address, other types an empty answer (the name exists,
/// with no such record). A message that is not a standard query gets the error a
/// resolver would send; bytes that are not DNS at all, `None`.
pub fn answer(
    query: &[u8],
    pool: &mut FakeIpPool,
    goes_direct: impl Fn(&str) -> bool,
) -> Option<Answer> {
    let request = Message::from_vec(query).ok()?;
    let meta = &request.metadata;
    if meta.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(meta.id, meta.op_code);
    reply.metadata.recursion_desired = meta.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(request.queries.iter().cloned());
    let question = match (meta.op_code, request.queries.as_slice()) {
        (OpCode::Query, [question]) => question,
        (OpCode::Query, _) => return reply_with(reply, ResponseCode::FormErr),
        _ => return reply_with(reply, ResponseCode::NotImp),
    };
    let name = question.name().to_ascii();
    let name = name.trim_end_matches('.');
    if needs_real_answer(name) || goes_direct(name) {
        return Some(Answer::Forward);
    }
    if question.query_class() == DNSClass::IN {
        let (v4, v6) = pool.lookup(name);
        let data = match question.query_type() {
            RecordType::A => Some(RData::A(A(v4))),
            RecordType::AAAA => Some(RData::AAAA(AAAA(v6))),
            _ => None,
        };
        if let Some(data) = data {
            reply.add_answer(Record::from_rdata(question.name().clone(), FAKE_TTL, data));
        }
    }
    reply_with(reply, ResponseCode::NoError)
}

/// [`DnsMode::Real`]: the names [`answer`] forwards are forwarded the same way; every
/// other query goes [`Answer::Upstream`], whatever it asks (the resolver there answers it).
pub fn route_real(query: &[u8], goes_direct: impl Fn(&str) -> bool) -> Option<Answer> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let local = |name: &str| {
        let name = name.trim_end_matches('.');
        needs_real_answer(name) || goes_direct(name)
    };
    match request.queries.as_slice() {
        [question] if local(&question.name().to_ascii()) => Some(Answer::Forward),
        _ => Some(Answer::Upstream),
    }
}

fn reply_with(mut reply: Message, code: ResponseCode) -> Option<Answer> {
    reply.metadata.response_code = code;
    reply.to_vec().ok().map(Answer::Reply)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    use super::*;
    use crate::tun::fake_ip::{default_v4, default_v6};

    fn query(name: &str, kind: RecordType) -> Vec<u8> {
        let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_str(name).unwrap(), kind));
        message.to_vec().unwrap()
    }

    fn reply(answer: Option<Answer>) -> Message {
        match answer {
            Some(Answer::Reply(bytes)) => Message::from_vec(&bytes).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn pool() -> FakeIpPool {
        FakeIpPool::new(default_v4(), default_v6())
    }

    #[test]
    fn a_and_aaaa_get_the_names_fake_addresses() {
        let mut pool = pool();
        let a = reply(answer(
            &query("origin.test.", RecordType::A),
            &mut pool,
            |_| false,
        ));
        assert_eq!(a.metadata.id, 0x1234);
        assert_eq!(a.metadata.message_type, MessageType::Response);
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert!(a.metadata.recursion_desired && a.metadata.recursion_available);
        assert_eq!(a.queries.len(), 1);
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].ttl, FAKE_TTL);
        assert_eq!(a.answers[0].data, RData::A(A(Ipv4Addr::new(198, 18, 0, 4))));
        let aaaa = reply(answer(
            &query("ORIGIN.test.", RecordType::AAAA),
            &mut pool,
            |_| false,
        ));
        let v6 = Ipv6Addr::from_str("fd00:1095::4").unwrap();
        assert_eq!(aaaa.answers[0].data, RData::AAAA(AAAA(v6)));
        assert_eq!(pool.name_of(v6.into()).as_deref(), Some("origin.test"));
    }

    #[test]
    fn other_record_types_of_a_proxied_name_are_empty_answers() {
        let mut pool = pool();
        for kind in [RecordType::MX, RecordType::TXT, RecordType::HTTPS] {
            let m = reply(answer(&query("origin.test.", kind), &mut pool, |_| false));
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{kind}");
            assert!(m.answers.is_empty(), "{kind}");
        }
    }

    #[test]
    fn direct_lan_reverse_and_connectivity_names_are_forwarded() {
        let mut pool = pool();
        let direct = |name: &str| name.ends_with("corp.example");
        for name in [
            "wiki.corp.example.",
            "printer.local.",
            "nas.",
            "router.home.arpa.",
            "4.0.18.198.in-addr.arpa.",
            "www.msftconnecttest.com.",
            "nmcheck.gnome.org.",
        ] {
            let got = answer(&query(name, RecordType::A), &mut pool, direct);
            assert_eq!(got, Some(Answer::Forward), "{name}");
        }
        assert!(pool.is_empty(), "forwarded names take no slot");
    }

    #[test]
    fn real_answer_table() {
        let table = [
            ("local", true),
            ("printer.local", true),
            ("printerlocal.com", false),
            ("example.com", false),
            ("example.lan.example.com", false),
            ("LAPTOP", true),
            ("Captive.Apple.com.", true),
            ("apple.com", false),
        ];
        for (name, real) in table {
            assert_eq!(needs_real_answer(name), real, "{name}");
        }
    }

    #[test]
    fn malformed_and_unusual_messages() {
        let mut pool = pool();
        assert_eq!(answer(b"\x00\x01garbage", &mut pool, |_| false), None);
        assert_eq!(answer(&[], &mut pool, |_| false), None);
        // A response is not answered.
        let mut response = Message::response(7, OpCode::Query);
        response.add_query(Query::query(
            Name::from_str("a.test.").unwrap(),
            RecordType::A,
        ));
        assert_eq!(
            answer(&response.to_vec().unwrap(), &mut pool, |_| false),
            None
        );
        // No question: FORMERR; another opcode: NOTIMP.
        let empty = Message::new(8, MessageType::Query, OpCode::Query);
        let m = reply(answer(&empty.to_vec().unwrap(), &mut pool, |_| false));
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        let mut update = Message::new(9, MessageType::Query, OpCode::Update);
        update.add_query(Query::query(
            Name::from_str("a.test.").unwrap(),
            RecordType::SOA,
        ));
        let m = reply(answer(&update.to_vec().unwrap(), &mut pool, |_| false));
        assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
        assert_eq!(m.metadata.id, 9);
    }

    #[test]
    fn with_real_addresses_every_query_goes_upstream_but_those_answered_here() {
        let direct = |name: &str| name.ends_with("corp.example");
        let table = [
            ("origin.test.", RecordType::A, Some(Answer::Upstream)),
            ("origin.test.", RecordType::AAAA, Some(Answer::Upstream)),
            ("origin.test.", RecordType::MX, Some(Answer::Upstream)),
            ("wiki.corp.example.", RecordType::A, Some(Answer::Forward)),
            ("printer.local.", RecordType::A, Some(Answer::Forward)),
            (
                "4.0.18.198.in-addr.arpa.",
                RecordType::PTR,
                Some(Answer::Forward),
            ),
            ("nmcheck.gnome.org.", RecordType::A, Some(Answer::Forward)),
        ];
        for (name, kind, want) in table {
            assert_eq!(
                route_real(&query(name, kind), direct),
                want,
                "{name} {kind}"
            );
        }
        assert_eq!(route_real(b"\x00\x01garbage", direct), None);
        let empty = Message::new(8, MessageType::Query, OpCode::Query);
        assert_eq!(
            route_real(&empty.to_vec().unwrap(), direct),
            Some(Answer::Upstream),
            "the resolver upstream gives its own FORMERR"
        );
    }
}
