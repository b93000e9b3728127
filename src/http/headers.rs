//! Header rules for a forwarding proxy (RFC 9110 §7.6.1): hop-by-hop headers never cross
//! us, `Host` is rebuilt from the absolute-form target, and upgrades keep just enough of
//! `Connection`/`Upgrade` to reach the origin.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::target::Target;

const HOP_COUNT: usize = 9;

/// Headers that describe one hop, always removed in both directions. Typed names: removing
/// by `&str` would parse each name again on every request.
const HOP_BY_HOP: [HeaderName; HOP_COUNT] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Removes every hop-by-hop header, including each header named in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    // One pass over the (few) present names instead of nine hashed removals.
    let mut present = [false; HOP_COUNT];
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present[i] = true;
        }
    }
    for (name, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, p)| *p) {
        headers.remove(name);
    }
}

/// The `Upgrade` value when the request asks for a protocol switch (WebSocket).
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let wants_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if wants_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Rewrites request headers for the origin: hop-by-hop stripped, `Host` from the target
/// (the default port omitted), and, for upgrades, `Connection: upgrade` + `Upgrade` kept.
pub fn prepare_request(
    headers: &mut HeaderMap,
    target: &Target,
    default_port: u16,
    upgrade: Option<HeaderValue>,
) {
    strip_hop_by_hop(headers);
    let host = if target.port == default_port {
        target.host.to_string()
    } else {
        target.to_string()
    };
    if let Ok(value) = HeaderValue::from_str(&host) {
        headers.insert(header::HOST, value);
    }
    restore_upgrade(headers, upgrade);
}

/// Strips a response's hop-by-hop headers; a `101 Switching Protocols` keeps its upgrade.
pub fn prepare_response(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    strip_hop_by_hop(headers);
    restore_upgrade(headers, upgrade);
}

fn restore_upgrade(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Host;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        let mut v: Vec<String> = h.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    type Headers<'a> = Vec<(&'a str, &'a str)>;

    #[test]
    fn strips_hop_by_hop_table() {
        let cases: Vec<(Headers, Vec<&str>)> = vec![
            (
                vec![
                    ("accept", "*/*"),
                    ("connection", "keep-alive"),
                    ("keep-alive", "timeout=5"),
                ],
                vec!["accept"],
            ),
            (
                vec![
                    ("connection", "close, X-Secret ,x-other"),
                    ("x-secret", "1"),
                    ("X-Other", "2"),
                    ("x-kept", "3"),
                ],
                vec!["x-kept"],
            ),
            (
                vec![
                    ("connection", "a"),
                    ("connection", "b"),
                    ("a", "1"),
                    ("b", "2"),
                    ("c", "3"),
                ],
                vec!["c"],
            ),
            (
                vec![
                    ("proxy-connection", "keep-alive"),
                    ("te", "trailers"),
                    ("trailer", "x"),
                    ("transfer-encoding", "chunked"),
                    ("upgrade", "websocket"),
                    ("proxy-authorization", "Basic eA=="),
                    ("proxy-authenticate", "Basic"),
                    ("content-length", "5"),
                ],
                vec!["content-length"],
            ),
            (
                vec![("connection", "bad header name!, close"), ("cookie", "x")],
                vec!["cookie"],
            ),
        ];
        for (input, expected) in cases {
            let mut h = map(&input);
            strip_hop_by_hop(&mut h);
            assert_eq!(names(&h), expected, "{input:?}");
        }
    }

    #[test]
    fn rebuilds_host_from_target() {
        let cases = [
            ("example.com", 80, "example.com"),
            ("example.com", 8080, "example.com:8080"),
            ("::1", 80, "[::1]"),
            ("::1", 81, "[::1]:81"),
        ];
        for (host, port, expected) in cases {
            let mut h = map(&[("host", "attacker.example"), ("connection", "close")]);
            prepare_request(
                &mut h,
                &Target::new(Host::parse(host).unwrap(), port),
                80,
                None,
            );
            assert_eq!(h.get("host").unwrap(), expected);
            assert!(h.get("connection").is_none());
        }
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        let protocol = upgrade_protocol(&h);
        assert_eq!(protocol.as_ref().unwrap(), "websocket");
        prepare_request(
            &mut h,
            &Target::new(Host::parse("ws.test").unwrap(), 80),
            80,
            protocol,
        );
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("sec-websocket-key").unwrap(), "k");

        assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_protocol(&map(&[("connection", "upgrade")])).is_none());
    }
}
