//! Where a client wants to go: a host (domain name or IP literal) and a port.
//!
//! Every inbound path (CONNECT authority, absolute-form URI, SOCKS request) ends in a
//! [`Target`], so parsing and validation live here once, as pure functions.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The host part of a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower-cased, without a trailing dot.
    Domain(String),
    Ip(IpAddr),
}

/// A destination `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

/// Why a host or authority was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty host")]
    EmptyHost,
    #[error("missing port")]
    MissingPort,
    #[error("invalid port '{0}'")]
    InvalidPort(String),
    #[error("invalid host '{0}'")]
    InvalidHost(String),
    #[error("host name longer than 253 characters")]
    HostTooLong,
}

impl Host {
    /// Parses a host as it appears in a URI or authority: a name, an IPv4 literal or a
    /// bracketed IPv6 literal (brackets optional when the caller already removed them).
    pub fn parse(raw: &str) -> Result<Host, TargetError> {
        if raw.is_empty() {
            return Err(TargetError::EmptyHost);
        }
        let unbracketed = raw
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(raw);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if unbracketed.len() != raw.len() {
            // Brackets around something that is not an IPv6 address.
            return Err(TargetError::InvalidHost(raw.to_string()));
        }
        let name = raw.strip_suffix('.').unwrap_or(raw);
        // "10.1.2.3." is still an address (found by fuzzing: it must not become a name
        // that slips past CIDR rules).
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if name.len() > 253 {
            return Err(TargetError::HostTooLong);
        }
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || !name.split('.').all(valid_label) {
            return Err(TargetError::InvalidHost(raw.to_string()));
        }
        Ok(Host::Domain(name.to_ascii_lowercase()))
    }

    /// True for `localhost`, `*.localhost` and loopback IP literals.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Ip(ip) => ip.is_loopback(),
            Host::Domain(name) => name == "localhost" || name.ends_with(".localhost"),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
        }
    }
}

impl Target {
    pub fn new(host: Host, port: u16) -> Target {
        Target { host, port }
    }

    /// Parses a CONNECT request target (`authority-form`, RFC 9110 §9.3.6): `host:port`,
    /// where the port is mandatory and IPv6 literals are bracketed.
    pub fn parse_authority(raw: &str) -> Result<Target, TargetError> {
        let (host, port) = split_host_port(raw)?;
        let port = port.ok_or(TargetError::MissingPort)?;
        Ok(Target::new(Host::parse(host)?, parse_port(port)?))
    }

    /// Builds the target of an absolute-form URI's authority; the port defaults by scheme.
    pub fn from_uri_parts(
        host: &str,
        port: Option<u16>,
        default_port: u16,
    ) -> Result<Target, TargetError> {
        let port = port.unwrap_or(default_port);
        if port == 0 {
            return Err(TargetError::InvalidPort("0".into()));
        }
        Ok(Target::new(Host::parse(host)?, port))
    }

    /// The target of an absolute-form URI (`http://host[:port]/…`); the port defaults to
    /// `default_port`. The scheme is the caller's to check.
    pub fn from_uri(uri: &http::Uri, default_port: u16) -> Result<Target, TargetError> {
        let host = uri.host().ok_or(TargetError::EmptyHost)?;
        Target::from_uri_parts(host, uri.port_u16(), default_port)
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Target {
        Target::new(Host::Ip(addr.ip()), addr.port())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Splits `host[:port]`, honouring `[v6]:port`. The port, when present, is returned raw.
pub fn split_host_port(raw: &str) -> Result<(&str, Option<&str>), TargetError> {
    if raw.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    if raw.starts_with('[') {
        let close = raw
            .find(']')
            .ok_or_else(|| TargetError::InvalidHost(raw.to_string()))?;
        let (host, rest) = raw.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(TargetError::InvalidHost(raw.to_string())),
            },
        };
    }
    match raw.rsplit_once(':') {
        // A bare IPv6 literal without brackets is ambiguous: reject it.
        Some((host, _)) if host.contains(':') => Err(TargetError::InvalidHost(raw.to_string())),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((raw, None)),
    }
}

/// Parses a decimal port in 1..=65535.
pub fn parse_port(raw: &str) -> Result<u16, TargetError> {
    if raw.is_empty() || raw.len() > 5 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::InvalidPort(raw.to_string()));
    }
    match raw.parse::<u16>() {
        Ok(0) | Err(_) => Err(TargetError::InvalidPort(raw.to_string())),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn parses_connect_authorities() {
        let ok: &[(&str, Host, u16)] = &[
            ("example.com:443", Host::Domain("example.com".into()), 443),
            (
                "Example.COM.:8443",
                Host::Domain("example.com".into()),
                8443,
            ),
            ("127.0.0.1:80", Host::Ip(Ipv4Addr::LOCALHOST.into()), 80),
            ("[::1]:443", Host::Ip(Ipv6Addr::LOCALHOST.into()), 443),
            (
                "[2001:db8::1]:22",
                Host::Ip("2001:db8::1".parse().unwrap()),
                22,
            ),
            (
                "under_score.local:65535",
                Host::Domain("under_score.local".into()),
                65535,
            ),
            (
                "xn--bcher-kva.example:1",
                Host::Domain("xn--bcher-kva.example".into()),
                1,
            ),
            // Fuzzing regression: a trailing dot does not turn an address into a name.
            ("0.5.6.5.:2", Host::Ip(Ipv4Addr::new(0, 5, 6, 5).into()), 2),
        ];
        for (raw, host, port) in ok {
            assert_eq!(
                Target::parse_authority(raw),
                Ok(Target::new(host.clone(), *port)),
                "{raw}"
            );
        }
    }

    #[test]
    fn rejects_bad_authorities() {
        let bad: &[(&str, TargetError)] = &[
            ("", TargetError::EmptyHost),
            ("example.com", TargetError::MissingPort),
            ("example.com:", TargetError::InvalidPort("".into())),
            ("example.com:0", TargetError::InvalidPort("0".into())),
            (
                "example.com:65536",
                TargetError::InvalidPort("65536".into()),
            ),
            ("example.com:+80", TargetError::InvalidPort("+80".into())),
            // Six digits are too many even when the number would fit.
            (
                "example.com:000080",
                TargetError::InvalidPort("000080".into()),
            ),
            (
                "example.com:080000",
                TargetError::InvalidPort("080000".into()),
            ),
            (":443", TargetError::EmptyHost),
            ("::1:443", TargetError::InvalidHost("::1:443".into())),
            ("[::1]443", TargetError::InvalidHost("[::1]443".into())),
            ("[::1", TargetError::InvalidHost("[::1".into())),
            (
                "[example.com]:80",
                TargetError::InvalidHost("[example.com]".into()),
            ),
            (
                "exa mple.com:80",
                TargetError::InvalidHost("exa mple.com".into()),
            ),
            ("a..b:80", TargetError::InvalidHost("a..b".into())),
            (
                "evil\r\nhost:80",
                TargetError::InvalidHost("evil\r\nhost".into()),
            ),
            ("user@host:80", TargetError::InvalidHost("user@host".into())),
        ];
        for (raw, err) in bad {
            assert_eq!(Target::parse_authority(raw).as_ref(), Err(err), "{raw:?}");
        }
        let long = format!("{}.com:80", "a.".repeat(130));
        assert_eq!(
            Target::parse_authority(&long),
            Err(TargetError::HostTooLong)
        );
        // 253 characters is the longest name DNS allows, and it is accepted.
        let longest = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
        assert_eq!(longest.len(), 253);
        assert!(Target::parse_authority(&format!("{longest}:80")).is_ok());
        assert_eq!(
            Target::parse_authority(&format!("a{longest}:80")),
            Err(TargetError::HostTooLong)
        );
    }

    #[test]
    fn splits_hosts_with_and_without_ports() {
        let cases = [
            ("[::1]", ("[::1]", None)),
            ("[::1]:80", ("[::1]", Some("80"))),
            ("h", ("h", None)),
            ("h:1", ("h", Some("1"))),
        ];
        for (raw, expected) in cases {
            assert_eq!(split_host_port(raw), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn displays_round_trip() {
        for raw in ["example.com:443", "127.0.0.1:80", "[::1]:443"] {
            assert_eq!(Target::parse_authority(raw).unwrap().to_string(), raw);
        }
    }

    #[test]
    fn loopback_hosts() {
        for (raw, expected) in [
            ("localhost", true),
            ("foo.localhost", true),
            ("127.0.0.2", true),
            ("[::1]", true),
            ("localhost.example", false),
            ("10.0.0.1", false),
        ] {
            assert_eq!(Host::parse(raw).unwrap().is_loopback(), expected, "{raw}");
        }
    }
}
