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
            Ok(IpNet::V6(net)) => out.push(format!("[{}]", net.addr())),
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
/// value (`172.16.0.0/12` → `172.16.*` … `172.31.*`).
fn ipv4_wildcards(net: ipnet::Ipv4Net) -> Vec<String> {
    let prefix = net.prefix_len();
    let octets = net.network().octets();
    if prefix == 32 {
        return vec![net.addr().to_string()];
    }
    let whole = (prefix / 8) as usize;
    let spare = prefix % 8;
    let fixed: Vec<String> = octets[..whole].iter().map(|o| o.to_string()).collect();
    if spare == 0 {
        return vec![format!("{}.*", fixed.join("."))];
    }
    let base = octets[whole];
    let count = 1u16 << (8 - spare);
    (0..count)
        .map(|i| {
            let mut parts = fixed.clone();
            parts.push((base as u16 + i).to_string());
            format!("{}.*", parts.join("."))
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
}
