//! The header every SOCKS5 UDP datagram carries (RFC 1928 §7), both between a client and
//! us and between us and a SOCKS server: `RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA`.
//! Pure functions over one datagram's bytes.

use crate::socks::parse::{self, ParseError};
use crate::target::Target;

/// One datagram: where it goes (or, coming back, where it came from) and what it carries.
#[derive(Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub target: Target,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("shorter than a SOCKS5 UDP header")]
    Short,
    #[error("reserved bytes are not zero")]
    Reserved,
    /// Fragments are dropped, as RFC 1928 allows an implementation that does not
    /// reassemble to do.
    #[error("fragment {0} (fragments are not reassembled)")]
    Fragment(u8),
    #[error("bad address: {0}")]
    Address(ParseError),
    #[error("port 0")]
    PortZero,
}

/// Parses one datagram.
pub fn parse(buf: &[u8]) -> Result<Datagram<'_>, DatagramError> {
    let [r1, r2, frag, ..] = *buf else {
        return Err(DatagramError::Short);
    };
    if (r1, r2) != (0, 0) {
        return Err(DatagramError::Reserved);
    }
    if frag != 0 {
        return Err(DatagramError::Fragment(frag));
    }
    match parse::address(&buf[3..]).map_err(DatagramError::Address)? {
        None => Err(DatagramError::Short),
        Some((target, _)) if target.port == 0 => Err(DatagramError::PortZero),
        Some((target, used)) => Ok(Datagram {
            target,
            payload: &buf[3 + used..],
        }),
    }
}

/// The header for a datagram from (or to) `target`, then `payload`, into `out`.
pub fn encode(target: &Target, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0, 0, 0]);
    parse::encode_address(target, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Host;

    fn target(host: &str, port: u16) -> Target {
        Target::new(Host::parse(host).unwrap(), port)
    }

    #[test]
    fn datagrams_round_trip_for_every_address_type() {
        let mut buf = Vec::new();
        for t in [
            target("127.0.0.1", 7),
            target("::1", 53),
            target("example.com", 443),
        ] {
            encode(&t, b"hello", &mut buf);
            let parsed = parse(&buf).unwrap();
            assert_eq!(parsed.target, t);
            assert_eq!(parsed.payload, b"hello");
        }
        encode(&target("10.0.0.1", 9), b"", &mut buf);
        assert_eq!(buf, [0, 0, 0, 1, 10, 0, 0, 1, 0, 9]);
        assert_eq!(parse(&buf).unwrap().payload, b"");
    }

    #[test]
    fn malformed_and_fragmented_datagrams_are_refused() {
        let cases: [(&[u8], DatagramError); 7] = [
            (&[], DatagramError::Short),
            (&[0, 0], DatagramError::Short),
            (&[0, 1, 0, 1, 1, 2, 3, 4, 0, 9], DatagramError::Reserved),
            (&[0, 0, 1, 1, 1, 2, 3, 4, 0, 9], DatagramError::Fragment(1)),
            (&[0, 0, 0, 1, 1, 2, 3], DatagramError::Short),
            (&[0, 0, 0, 1, 1, 2, 3, 4, 0, 0], DatagramError::PortZero),
            (
                &[0, 0, 0, 9, 1, 2, 3, 4, 0, 9],
                DatagramError::Address(ParseError::AddressType(9)),
            ),
        ];
        for (bytes, error) in cases {
            assert_eq!(parse(bytes), Err(error), "{bytes:?}");
        }
    }
}
