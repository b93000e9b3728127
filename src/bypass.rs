//! The list of destinations that should not go through the proxy, and its spelling in
//! each consumer's own format. Entries are hosts, `*.suffix` patterns and CIDRs; never
//! `127.0.0.1/8`, which curl-style `no_proxy` parsers mishandle.

use std::net::IpAddr;

use ipnet::IpNet;

/// The default bypass list (plus `<local>` on Windows, added by its formatter).
pub fn default_bypass() -> Vec<String> {
    [
        "localhost",
        "127.0.0.0/8",
        "::1",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "*.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// GNOME `ignore-hosts`: hosts, `*.suffix` and CIDRs are all understood as they are.
pub fn for_gnome(entries: &[String]) -> Vec<String> {
    entries.to_vec()
}

/// KDE `NoProxyFor`: comma-separated; a leading dot matches a domain and its subdomains.
pub fn for_kde(entries: &[String]) -> String {
    entries
        .iter()
        .map(|e| suffix_as_dot(e))
        .collect::<Vec<_>>()
        .join(",")
}

/// `no_proxy` for terminals (curl ≥ 7.86, wget, Python, Go): comma-separated, `.suffix`.
pub fn for_env(entries: &[String]) -> String {
    for_kde(entries)
}

/// macOS `networksetup -setproxybypassdomains` arguments: wildcards and CIDRs as they are.
pub fn for_macos(entries: &[String]) -> Vec<String> {
    entries.to_vec()
}

/// Windows `ProxyOverride`: `;`-separated, `*` wildcards only (no CIDR), plus `<local>`.
pub fn for_windows(entries: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        match entry.parse::<IpNet>() {
            Ok(IpNet::V4(net)) => out.extend(ipv4_wildcards(net)),
            Ok(IpNet::V6(net)) => {
                if net.prefix_len() < 128 {
                    tracing::warn!(
                        "Windows' bypass list has no IPv6 ranges: {entry} bypasses only {}",
                        net.addr()
                    );
                }
                out.push(format!("[{}]", net.addr()))
            }
            Err(_) => match entry.parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) => out.push(format!("[{v6}]")),
                _ => out.push(entry.clone()),
            },
        }
    }
    out.push("<local>".to_string());
    out.join(";")
}

fn suffix_as_dot(entry: &str) -> String {
    match entry.strip_prefix("*.") {
        Some(suffix) => format!(".{suffix}"),
        None => entry.to_string(),
    }
}

/// `10.0.0.0/8` → `10.*`; prefixes that are not a multiple of 8 expand to each octet
/// value (`172.16.0.0/12` → `172.16.*` … `172.31.*`), and past /24 to each address
/// (`192.168.1.0/30` → `192.168.1.0` … `192.168.1.3`): WinINet's patterns match labels,
/// so `192.168.1.0.*` would match nothing. `0.0.0.0/0` is everything: `*`.
fn ipv4_wildcards(net: ipnet::Ipv4Net) -> Vec<String> {
    let prefix = net.prefix_len();
    let octets = net.network().octets();
    if prefix == 0 {
        return vec!["*".to_string()];
    }
    let whole = (prefix / 8) as usize;
    let spare = prefix % 8;
    let fixed: Vec<String> = octets[..whole].iter().map(|o| o.to_string()).collect();
    let pattern = |parts: &[String]| match parts.len() {
        4 => parts.join("."),
        _ => format!("{}.*", parts.join(".")),
    };
    if spare == 0 {
        return vec![pattern(&fixed)];
    }
    let base = octets[whole];
    let count = 1u16 << (8 - spare);
    (0..count)
        .map(|i| {
            let mut parts = fixed.clone();
            parts.push((u16::from(base) + i).to_string());
            pattern(&parts)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_table() {
        let d = default_bypass();
        assert_eq!(for_gnome(&d), d);
        assert_eq!(for_env(&d), "localhost,127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,.local");
        let windows = for_windows(&d);
        assert!(
            windows.starts_with("localhost;127.*;[::1];10.*;172.16.*;172.17.*;"),
            "{windows}"
        );
        assert!(
            windows.ends_with("172.31.*;192.168.*;169.254.*;*.local;<local>"),
            "{windows}"
        );
        assert!(!windows.contains('/'));
        assert_eq!(
            for_windows(&["1.2.3.4/32".into(), "fd00::/8".into()]),
            "1.2.3.4;[fd00::];<local>"
        );
        assert!(!d.iter().any(|e| e == "127.0.0.1/8"));
    }

    /// WinINet matches patterns label by label: a range past /24 must become addresses,
    /// never five-label patterns that match no host.
    #[test]
    fn windows_ranges_of_every_length_become_patterns_that_match() {
        let cases: [(&str, &[&str]); 7] = [
            ("0.0.0.0/0", &["*"]),
            ("10.0.0.0/8", &["10.*"]),
            ("192.168.1.0/24", &["192.168.1.*"]),
            (
                "192.168.1.4/30",
                &["192.168.1.4", "192.168.1.5", "192.168.1.6", "192.168.1.7"],
            ),
            ("192.168.1.9/31", &["192.168.1.8", "192.168.1.9"]),
            ("1.2.3.4/32", &["1.2.3.4"]),
            ("128.0.0.0/2", &["128.*", "129.*"]),
        ];
        for (range, want) in cases {
            let got = for_windows(&[range.to_string()]);
            let got: Vec<&str> = got.split(';').filter(|p| *p != "<local>").collect();
            if range == "128.0.0.0/2" {
                assert_eq!(got.len(), 64, "{range}");
                assert_eq!(&got[..2], want, "{range}");
                continue;
            }
            assert_eq!(got, want, "{range}");
        }
        let half = for_windows(&["192.168.1.0/25".into()]);
        let half: Vec<&str> = half.split(';').collect();
        assert_eq!(half.len(), 129);
        assert!(half.contains(&"192.168.1.0") && half.contains(&"192.168.1.127"));
        assert!(!half.contains(&"192.168.1.128"));
        assert!(half.iter().all(|p| p.split('.').count() <= 4), "{half:?}");
    }
}
