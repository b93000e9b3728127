//! The PAC file served at `/proxy.pac`: bypass entries go DIRECT, everything else to us.
//! CIDR rules only test IP-literal hosts, so the PAC never triggers a DNS lookup of its own.
//! Plain host names (no dot) go DIRECT, but never an IPv6 literal: older browsers'
//! `isPlainHostName` looks only for a dot, and `2001:db8::1` has none.

use std::net::SocketAddr;

use ipnet::IpNet;

pub const PAC_PATH: &str = "/proxy.pac";

/// `http://host:port/proxy.pac?v=REVISION` for the OS setting; the revision changes with
/// the bypass list (the server ignores the query).
pub fn pac_url(listen: SocketAddr, bypass: &[String]) -> String {
    format!(
        "http://{}{PAC_PATH}?v={:08x}",
        reachable(listen),
        revision(bypass)
    )
}

/// FNV-1a over the entries: stable across runs and versions, unlike `std`'s hasher.
fn revision(bypass: &[String]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bypass.iter().flat_map(|e| e.bytes().chain([0])) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash
}

/// The address clients on this machine use for a listener (`0.0.0.0` → `127.0.0.1`).
pub fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Builds the PAC script for a proxy at `proxy` with `bypass` entries.
pub fn pac_file(proxy: SocketAddr, bypass: &[String]) -> String {
    let mut rules = Vec::new();
    for entry in bypass {
        let entry = entry.trim();
        if let Some(suffix) = entry.strip_prefix("*.") {
            rules.push(format!(
                "dnsDomainIs(host, {}) || host == {}",
                js_string(&format!(".{suffix}")),
                js_string(suffix)
            ));
        } else if let Ok(IpNet::V4(net)) = entry.parse::<IpNet>() {
            rules.push(format!(
                "(isIPv4(host) && isInNet(host, {}, {}))",
                js_string(&net.network().to_string()),
                js_string(&net.netmask().to_string())
            ));
        } else if let Ok(IpNet::V6(_)) = entry.parse::<IpNet>() {
            // PAC has no portable IPv6 CIDR test: skipped.
        } else if !entry.is_empty() {
            let bare = entry.trim_start_matches('[').trim_end_matches(']');
            rules.push(format!(
                "host == {} || host == {}",
                js_string(bare),
                js_string(&format!("[{bare}]"))
            ));
        }
    }
    let bypass_test = if rules.is_empty() {
        "false".to_string()
    } else {
        rules.join(" ||\n      ")
    };
    let proxy = reachable(proxy);
    format!(
        "// socksbridge: everything through {proxy} except the bypass list.\n\
         function isIPv4(host) {{ return /^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(host); }}\n\
         function FindProxyForURL(url, host) {{\n  \
           if ((isPlainHostName(host) && host.indexOf(\":\") < 0) ||\n      {bypass_test})\n    return \"DIRECT\";\n  \
           return \"PROXY {proxy}\";\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bypass::default_bypass;

    #[test]
    fn pac_contents() {
        let pac = pac_file("0.0.0.0:1095".parse().unwrap(), &default_bypass());
        assert!(pac.contains("return \"PROXY 127.0.0.1:1095\";"), "{pac}");
        assert!(
            pac.contains("isInNet(host, \"172.16.0.0\", \"255.240.0.0\")"),
            "{pac}"
        );
        assert!(
            pac.contains("dnsDomainIs(host, \".local\") || host == \"local\""),
            "{pac}"
        );
        assert!(
            pac.contains("host == \"::1\" || host == \"[::1]\""),
            "{pac}"
        );
        assert!(pac.contains("host == \"localhost\""), "{pac}");
        let quoted = pac_file("127.0.0.1:1".parse().unwrap(), &["a\"b".into()]);
        assert!(quoted.contains(r#"host == "a\"b""#), "{quoted}");
        assert_eq!(
            pac_url("0.0.0.0:1095".parse().unwrap(), &[]),
            "http://127.0.0.1:1095/proxy.pac?v=811c9dc5"
        );
        assert_eq!(
            pac_url("[::1]:8".parse().unwrap(), &[]),
            "http://[::1]:8/proxy.pac?v=811c9dc5"
        );
    }

    /// Only an unspecified address becomes loopback; any other listener is used as it is.
    #[test]
    fn reachable_turns_only_unspecified_addresses_into_loopback() {
        for (listen, reachable_at) in [
            ("0.0.0.0:1", "127.0.0.1:1"),
            ("[::]:1", "[::1]:1"),
            ("10.1.2.3:1", "10.1.2.3:1"),
            ("[2001:db8::1]:1", "[2001:db8::1]:1"),
            ("[::1]:1", "[::1]:1"),
        ] {
            assert_eq!(
                reachable(listen.parse().unwrap()).to_string(),
                reachable_at,
                "{listen}"
            );
        }
    }

    /// A changed bypass list must be a changed URL, or cached PAC files keep the old list.
    #[test]
    fn the_pac_url_changes_with_the_bypass_list_and_only_with_it() {
        let at = "127.0.0.1:1095".parse().unwrap();
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let urls: Vec<String> = [
            list(&[]),
            list(&["a"]),
            list(&["b"]),
            list(&["a", "b"]),
            list(&["b", "a"]),
            list(&["ab"]),
            list(&["a", ""]),
        ]
        .iter()
        .map(|l| pac_url(at, l))
        .collect();
        let distinct: std::collections::BTreeSet<&String> = urls.iter().collect();
        assert_eq!(distinct.len(), urls.len(), "{urls:?}");
        assert_eq!(pac_url(at, &list(&["a", "b"])), urls[3]);
    }
}
