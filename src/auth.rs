//! Inbound credentials, for HTTP and SOCKS clients alike: who must present them, and
//! checks in constant time (RFC 1929 user/password, HTTP Basic `Proxy-Authorization`).

use std::net::SocketAddr;

use base64::Engine as _;
use http::HeaderValue;
use subtle::ConstantTimeEq;

use crate::config::InboundAuth;

/// The credentials `peer` must present: none without inbound auth, and none for clients
/// on this machine when they are exempt (an OS proxy setting cannot carry credentials).
pub fn required_of(auth: Option<&InboundAuth>, peer: SocketAddr) -> Option<&InboundAuth> {
    auth.filter(|a| !(a.exempt_loopback && peer.ip().is_loopback()))
}

/// Compares credentials without leaking, through timing, how much of them matched.
pub fn credentials_match(auth: &InboundAuth, username: &[u8], password: &[u8]) -> bool {
    let user_ok = auth.username.as_bytes().ct_eq(username);
    let pass_ok = auth.password.expose().as_bytes().ct_eq(password);
    bool::from(user_ok & pass_ok)
}

/// True when a `Proxy-Authorization` header carries the configured Basic credentials.
pub fn basic_matches(auth: &InboundAuth, header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    match decoded.iter().position(|b| *b == b':') {
        Some(colon) => credentials_match(auth, &decoded[..colon], &decoded[colon + 1..]),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_must_authenticate() {
        let auth = |exempt_loopback| InboundAuth {
            username: "u".into(),
            password: "p".into(),
            exempt_loopback,
        };
        let cases = [
            (None, "127.0.0.1:5", false),
            (None, "192.168.1.9:5", false),
            (Some(auth(false)), "127.0.0.1:5", true),
            (Some(auth(false)), "192.168.1.9:5", true),
            (Some(auth(true)), "127.0.0.1:5", false),
            (Some(auth(true)), "[::1]:5", false),
            (Some(auth(true)), "192.168.1.9:5", true),
            (Some(auth(true)), "[fd00::9]:5", true),
        ];
        for (auth, peer, required) in cases {
            let peer: SocketAddr = peer.parse().unwrap();
            assert_eq!(
                required_of(auth.as_ref(), peer).is_some(),
                required,
                "{auth:?} {peer}"
            );
        }
    }

    #[test]
    fn basic_table() {
        let auth = InboundAuth {
            username: "alice".into(),
            password: "pa:ss".into(),
            exempt_loopback: false,
        };
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            (Some(format!("Basic {}", b64("alice:pa:ss"))), true),
            (Some(format!("basic  {} ", b64("alice:pa:ss"))), true),
            (Some(format!("Basic {}", b64("alice:pa:sx"))), false),
            (Some(format!("Basic {}", b64("alic:pa:ss"))), false),
            (Some(format!("Basic {}", b64("alice"))), false),
            (Some(format!("Bearer {}", b64("alice:pa:ss"))), false),
            (Some("Basic !!!".to_string()), false),
            (Some("Basic".to_string()), false),
            (None, false),
        ];
        for (header, expected) in cases {
            let value = header.as_deref().map(|h| HeaderValue::from_str(h).unwrap());
            assert_eq!(basic_matches(&auth, value.as_ref()), expected, "{header:?}");
        }
    }
}
