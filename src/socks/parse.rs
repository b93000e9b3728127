//! Pure parsers for the inbound SOCKS handshake (RFC 1928, RFC 1929, SOCKS4/4a), over
//! whatever bytes have arrived so far: each returns `Ok(None)` until a message is complete.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::target::{Host, Target};

/// Longest handshake message we accept (a SOCKS4a request with a 255-byte user id and
/// a 255-byte name is the largest legitimate one).
pub const MAX_MESSAGE: usize = 600;

pub const NO_AUTH: u8 = 0x00;
pub const USER_PASS: u8 = 0x02;
pub const CMD_CONNECT: u8 = 0x01;
pub const CMD_UDP_ASSOCIATE: u8 = 0x03;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a SOCKS5 message (version {0:#04x})")]
    Version(u8),
    #[error("SOCKS5 greeting lists no methods")]
    NoMethods,
    #[error("bad username/password sub-negotiation version {0:#04x}")]
    AuthVersion(u8),
    #[error("reserved byte is {0:#04x}, not 0")]
    Reserved(u8),
    #[error("unknown address type {0:#04x}")]
    AddressType(u8),
    #[error("invalid target: {0}")]
    Target(String),
    #[error("SOCKS4 field not terminated within {MAX_MESSAGE} bytes")]
    Unterminated,
}

/// A parsed message and how many bytes it used.
pub type Parsed<T> = Result<Option<(T, usize)>, ParseError>;

/// SOCKS5 greeting: `05 NMETHODS METHODS…` → the offered methods.
pub fn greeting(buf: &[u8]) -> Parsed<Vec<u8>> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != 0x05 {
        return Err(ParseError::Version(version));
    }
    let Some(&n) = buf.get(1) else {
        return Ok(None);
    };
    if n == 0 {
        return Err(ParseError::NoMethods);
    }
    let end = 2 + n as usize;
    Ok(buf.get(2..end).map(|methods| (methods.to_vec(), end)))
}

/// RFC 1929: `01 ULEN UNAME PLEN PASSWD` → (username, password) as raw bytes.
pub fn user_pass(buf: &[u8]) -> Parsed<(Vec<u8>, Vec<u8>)> {
    let Some(&version) = buf.first() else {
        return Ok(None);
    };
    if version != 0x01 {
        return Err(ParseError::AuthVersion(version));
    }
    let Some(&ulen) = buf.get(1) else {
        return Ok(None);
    };
    let user_end = 2 + ulen as usize;
    let Some(&plen) = buf.get(user_end) else {
        return Ok(None);
    };
    let end = user_end + 1 + plen as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((
        (buf[2..user_end].to_vec(), buf[user_end + 1..end].to_vec()),
        end,
    )))
}

/// A SOCKS5 request: `05 CMD 00 ATYP ADDR PORT` → (command, target). Port 0 is refused
/// for CONNECT; a UDP ASSOCIATE names with it "any port" (RFC 1928 §7).
pub fn request5(buf: &[u8]) -> Parsed<(u8, Target)> {
    if buf.len() < 5 {
        if let Some(&v) = buf.first() {
            if v != 0x05 {
                return Err(ParseError::Version(v));
            }
        }
        return Ok(None);
    }
    if buf[0] != 0x05 {
        return Err(ParseError::Version(buf[0]));
    }
    if buf[2] != 0x00 {
        return Err(ParseError::Reserved(buf[2]));
    }
    let cmd = buf[1];
    let Some((target, used)) = address(&buf[3..])? else {
        return Ok(None);
    };
    if target.port == 0 && cmd != CMD_UDP_ASSOCIATE {
        return Err(ParseError::Target("port 0".into()));
    }
    Ok(Some(((cmd, target), 3 + used)))
}

/// `ATYP ADDR PORT`, as in a request, a reply and a UDP datagram's header → the address
/// (its port may be 0).
pub fn address(buf: &[u8]) -> Parsed<Target> {
    let Some(&atyp) = buf.first() else {
        return Ok(None);
    };
    let (host, addr_end) = match atyp {
        0x01 => {
            let Some(b) = buf.get(1..5) else {
                return Ok(None);
            };
            (
                Host::Ip(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
                5,
            )
        }
        0x04 => {
            let Some(b) = buf.get(1..17) else {
                return Ok(None);
            };
            let mut octets = [0u8; 16];
            octets.copy_from_slice(b);
            (Host::Ip(IpAddr::V6(Ipv6Addr::from(octets))), 17)
        }
        0x03 => {
            let Some(&len) = buf.get(1) else {
                return Ok(None);
            };
            let len = len as usize;
            let Some(name) = buf.get(2..2 + len) else {
                return Ok(None);
            };
            (parse_name(name)?, 2 + len)
        }
        other => return Err(ParseError::AddressType(other)),
    };
    let Some(p) = buf.get(addr_end..addr_end + 2) else {
        return Ok(None);
    };
    let port = u16::from_be_bytes([p[0], p[1]]);
    Ok(Some((Target::new(host, port), addr_end + 2)))
}

/// `ATYP ADDR PORT` for `target` (a name as ATYP 3).
pub fn encode_address(target: &Target, out: &mut Vec<u8>) {
    match &target.host {
        Host::Ip(IpAddr::V4(v4)) => {
            out.push(0x01);
            out.extend_from_slice(&v4.octets());
        }
        Host::Ip(IpAddr::V6(v6)) => {
            out.push(0x04);
            out.extend_from_slice(&v6.octets());
        }
        Host::Domain(name) => {
            out.push(0x03);
            // Names are at most 253 bytes (Host::parse).
            out.push(name.len().min(255) as u8);
            out.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
        }
    }
    out.extend_from_slice(&target.port.to_be_bytes());
}

/// A SOCKS4/4a request: `04 CMD PORT IPv4 USERID 00 [NAME 00]` → (command, target, user id).
pub fn request4(buf: &[u8]) -> Parsed<(u8, Target, Vec<u8>)> {
    if buf.len() < 8 {
        if let Some(&v) = buf.first() {
            if v != 0x04 {
                return Err(ParseError::Version(v));
            }
        }
        return Ok(None);
    }
    if buf[0] != 0x04 {
        return Err(ParseError::Version(buf[0]));
    }
    let cmd = buf[1];
    let port = u16::from_be_bytes([buf[2], buf[3]]);
    let ip = Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7]);
    let Some(user_len) = find_nul(&buf[8..])? else {
        return Ok(None);
    };
    let user_id = buf[8..8 + user_len].to_vec();
    let mut end = 8 + user_len + 1;
    let octets = ip.octets();
    // SOCKS4a: 0.0.0.x with x != 0 means "a name follows".
    let host = if octets[..3] == [0, 0, 0] && octets[3] != 0 {
        let Some(name_len) = find_nul(&buf[end..])? else {
            return Ok(None);
        };
        let host = parse_name(&buf[end..end + name_len])?;
        end += name_len + 1;
        host
    } else {
        Host::Ip(IpAddr::V4(ip))
    };
    if port == 0 {
        return Err(ParseError::Target("port 0".into()));
    }
    Ok(Some(((cmd, Target::new(host, port), user_id), end)))
}

fn find_nul(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    match buf.iter().position(|b| *b == 0) {
        Some(i) => Ok(Some(i)),
        None if buf.len() > MAX_MESSAGE => Err(ParseError::Unterminated),
        None => Ok(None),
    }
}

fn parse_name(raw: &[u8]) -> Result<Host, ParseError> {
    let name =
        std::str::from_utf8(raw).map_err(|_| ParseError::Target("name is not UTF-8".into()))?;
    Host::parse(name).map_err(|e| ParseError::Target(e.to_string()))
}

/// A SOCKS5 reply with an all-zero IPv4 bound address.
pub fn reply5(code: u8) -> [u8; 10] {
    [0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]
}

/// A SOCKS4 reply: 0x5A granted, 0x5B rejected or failed.
pub fn reply4(granted: bool) -> [u8; 8] {
    [0x00, if granted { 0x5a } else { 0x5b }, 0, 0, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: u16) -> Target {
        Target::new(Host::parse(host).unwrap(), port)
    }

    #[test]
    fn greeting_table() {
        assert_eq!(greeting(&[]), Ok(None));
        assert_eq!(greeting(&[5]), Ok(None));
        assert_eq!(greeting(&[5, 2, 0]), Ok(None));
        assert_eq!(greeting(&[5, 2, 0, 2, 9]), Ok(Some((vec![0, 2], 4))));
        assert_eq!(greeting(&[5, 0]), Err(ParseError::NoMethods));
        assert_eq!(greeting(&[4, 1]), Err(ParseError::Version(4)));
    }

    #[test]
    fn user_pass_table() {
        assert_eq!(user_pass(&[1, 1, b'u', 2, b'p']), Ok(None));
        assert_eq!(
            user_pass(&[1, 1, b'u', 2, b'p', b'w']),
            Ok(Some(((b"u".to_vec(), b"pw".to_vec()), 6)))
        );
        assert_eq!(user_pass(&[1, 0, 0]), Ok(Some(((vec![], vec![]), 3))));
        assert_eq!(user_pass(&[5, 1]), Err(ParseError::AuthVersion(5)));
    }

    #[test]
    fn request5_table() {
        type Case = (Vec<u8>, Parsed<(u8, Target)>);
        let cases: Vec<Case> = vec![
            (
                vec![5, 1, 0, 1, 127, 0, 0, 1, 0, 80],
                Ok(Some(((1, t("127.0.0.1", 80)), 10))),
            ),
            (vec![5, 1, 0, 1, 127, 0, 0, 1, 0], Ok(None)),
            (
                [&[5u8, 1, 0, 3, 11][..], b"example.com", &[1, 187]].concat(),
                Ok(Some(((1, t("example.com", 443)), 18))),
            ),
            (
                [&[5u8, 1, 0, 4][..], &[0; 15], &[1, 0, 22]].concat(),
                Ok(Some(((1, t("[::1]", 22)), 22))),
            ),
            (
                vec![5, 2, 0, 1, 1, 2, 3, 4, 0, 1],
                Ok(Some(((2, t("1.2.3.4", 1)), 10))),
            ),
            (
                vec![5, 1, 1, 1, 1, 2, 3, 4, 0, 1],
                Err(ParseError::Reserved(1)),
            ),
            (
                vec![5, 1, 0, 9, 1, 2, 3, 4, 0, 1],
                Err(ParseError::AddressType(9)),
            ),
            (
                vec![5, 1, 0, 1, 1, 2, 3, 4, 0, 0],
                Err(ParseError::Target("port 0".into())),
            ),
            // UDP ASSOCIATE from a client that does not know its address yet.
            (
                vec![5, 3, 0, 1, 0, 0, 0, 0, 0, 0],
                Ok(Some(((3, t("0.0.0.0", 0)), 10))),
            ),
            (
                vec![5, 2, 0, 1, 0, 0, 0, 0, 0, 0],
                Err(ParseError::Target("port 0".into())),
            ),
            (
                [&[5u8, 1, 0, 3, 3][..], b"a b", &[0, 80]].concat(),
                Err(ParseError::Target("invalid host 'a b'".into())),
            ),
            (vec![4, 1, 0, 80, 1], Err(ParseError::Version(4))),
            // Short messages: the version is judged from the first byte, the rest waits
            // for more bytes unless the five there already say it is wrong.
            (vec![4], Err(ParseError::Version(4))),
            (vec![5], Ok(None)),
            (vec![5, 1, 1, 1, 0], Err(ParseError::Reserved(1))),
        ];
        for (input, expected) in cases {
            assert_eq!(request5(&input), expected, "{input:?}");
        }
    }

    #[test]
    fn request4_table() {
        let socks4 = [&[4u8, 1, 0, 80, 10, 0, 0, 1][..], b"bob\0"].concat();
        assert_eq!(
            request4(&socks4),
            Ok(Some(((1, t("10.0.0.1", 80), b"bob".to_vec()), 12)))
        );
        let socks4a = [&[4u8, 1, 1, 187, 0, 0, 0, 1][..], b"\0example.com\0"].concat();
        assert_eq!(
            request4(&socks4a),
            Ok(Some(((1, t("example.com", 443), vec![]), 21)))
        );
        assert_eq!(request4(&socks4a[..15]), Ok(None));
        assert_eq!(request4(&[4, 1, 0, 80, 10, 0, 0, 1]), Ok(None));
        assert_eq!(request4(&[4]), Ok(None));
        assert_eq!(request4(&[5]), Err(ParseError::Version(5)));
        assert_eq!(
            request4(&[5, 1, 0, 80, 10, 0, 0, 1, 0]),
            Err(ParseError::Version(5))
        );
        let endless = [&[4u8, 1, 0, 80, 10, 0, 0, 1][..], &[b'x'; MAX_MESSAGE + 1]].concat();
        assert_eq!(request4(&endless), Err(ParseError::Unterminated));
        assert_eq!(
            request4(&endless[..8 + MAX_MESSAGE]),
            Ok(None),
            "at the cap: wait"
        );
    }
}
