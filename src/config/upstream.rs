//! The upstream server, given as a URL: `socks5h://user:pass@host:port`.
//!
//! The scheme picks protocol and where names are resolved: `socks5h` (the SOCKS server
//! resolves: the default, and what privacy users need), `socks5` (we resolve, send an IP),
//! `socks4a`, `socks4`; `http://user:pass@host:port` for an HTTP proxy (a CONNECT tunnel
//! for everything, Basic auth; the port is required, HTTP proxies have no common one),
//! `https://` for one spoken to over TLS; and `direct://` for no upstream at all. The URL is parsed once, here; the data path works on
//! the typed [`Upstream`].

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::message::Message;
use crate::target::{parse_port, split_host_port, Host, Target};

/// The default SOCKS port when the URL names none.
pub const DEFAULT_SOCKS_PORT: u16 = 1080;

/// Which SOCKS version the upstream speaks, and who resolves names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocksVersion {
    /// SOCKS5; `remote_dns` sends host names to the server (`socks5h`).
    Socks5 { remote_dns: bool },
    /// SOCKS4a: names resolved by the server.
    Socks4a,
    /// SOCKS4: IPv4 only, names resolved locally.
    Socks4,
}

impl SocksVersion {
    pub fn scheme(self) -> &'static str {
        match self {
            SocksVersion::Socks5 { remote_dns: true } => "socks5h",
            SocksVersion::Socks5 { remote_dns: false } => "socks5",
            SocksVersion::Socks4a => "socks4a",
            SocksVersion::Socks4 => "socks4",
        }
    }
}

/// Credentials for the upstream (SOCKS5 RFC 1929) or the SOCKS4 user id (username only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: crate::secret::Secret,
}

/// A SOCKS server, its address parsed once at validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksServer {
    pub version: SocksVersion,
    pub address: Target,
    pub credentials: Option<Credentials>,
}

/// An HTTP proxy that opens CONNECT tunnels: an upstream, or the hop an upstream is
/// reached through (an office proxy in front of the SOCKS server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProxy {
    pub address: Target,
    /// Sent as `Proxy-Authorization: Basic …`.
    pub credentials: Option<Credentials>,
    /// An HTTPS proxy: TLS to the proxy first, its certificate checked by the OS.
    pub tls: bool,
}

impl HttpProxy {
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

/// Where targets are dialled: straight from this machine, or through a proxy server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    Direct,
    Socks(SocksServer),
    Http(HttpProxy),
}

/// What is wrong with an upstream URL, in words a user can act on. Its `Display` is the
/// English of its [`Message`]: each sentence is written once, in `ui/i18n/en.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    MissingScheme(String),
    UnknownScheme(String),
    MissingHost,
    InvalidHost(String),
    InvalidPort(String),
    UnexpectedPath(String),
    BadEncoding,
    UserLength,
    PasswordLength,
    Socks4Password,
    DirectWithAddress,
    HttpWithoutPort,
    ViaNotHttp,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.message().fmt(f)
    }
}

impl std::error::Error for UpstreamError {}

impl UpstreamError {
    /// The sentence for people, in any language.
    pub fn message(&self) -> Message {
        let value = |key, v: &String| Message::new(key, [("value", v.clone())]);
        match self {
            UpstreamError::MissingScheme(v) => value("core.up_missing_scheme", v),
            UpstreamError::UnknownScheme(s) => {
                Message::new("core.up_unknown_scheme", [("scheme", s.clone())])
            }
            UpstreamError::MissingHost => Message::new("core.up_missing_host", []),
            UpstreamError::InvalidHost(v) => value("core.up_invalid_host", v),
            UpstreamError::InvalidPort(v) => value("core.up_invalid_port", v),
            UpstreamError::UnexpectedPath(v) => value("core.up_unexpected_path", v),
            UpstreamError::BadEncoding => Message::new("core.up_bad_encoding", []),
            UpstreamError::PasswordLength => Message::new("core.up_password_length", []),
            UpstreamError::UserLength => Message::new("core.up_user_length", []),
            UpstreamError::Socks4Password => Message::new("core.up_socks4_password", []),
            UpstreamError::DirectWithAddress => Message::new("core.up_direct_address", []),
            UpstreamError::HttpWithoutPort => Message::new("core.up_http_port", []),
            UpstreamError::ViaNotHttp => Message::new("core.up_via_not_http", []),
        }
    }
}

impl Upstream {
    pub fn parse(raw: &str) -> Result<Upstream, UpstreamError> {
        let raw = raw.trim();
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| UpstreamError::MissingScheme(raw.to_string()))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let scheme = scheme.to_ascii_lowercase();
        let version = match scheme.as_str() {
            "socks5h" => Some(SocksVersion::Socks5 { remote_dns: true }),
            "socks5" => Some(SocksVersion::Socks5 { remote_dns: false }),
            "socks4a" => Some(SocksVersion::Socks4a),
            "socks4" => Some(SocksVersion::Socks4),
            "http" | "https" => None,
            "direct" if rest.is_empty() => return Ok(Upstream::Direct),
            "direct" => return Err(UpstreamError::DirectWithAddress),
            other => return Err(UpstreamError::UnknownScheme(other.to_string())),
        };
        if let Some(at) = rest.find(['/', '?', '#']) {
            return Err(UpstreamError::UnexpectedPath(rest[at..].to_string()));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, rest),
        };
        if hostport.is_empty() {
            return Err(UpstreamError::MissingHost);
        }
        let (host, port) = split_host_port(hostport)
            .map_err(|_| UpstreamError::InvalidHost(hostport.to_string()))?;
        if host.is_empty() {
            return Err(UpstreamError::MissingHost);
        }
        let host = Host::parse(host).map_err(|_| UpstreamError::InvalidHost(host.to_string()))?;
        let port = match (port, version) {
            (None, Some(_)) => DEFAULT_SOCKS_PORT,
            (None, None) => return Err(UpstreamError::HttpWithoutPort),
            (Some(p), _) => parse_port(p).map_err(|_| UpstreamError::InvalidPort(p.to_string()))?,
        };
        let address = Target::new(host, port);
        let credentials = userinfo
            .map(|info| parse_userinfo(info, version))
            .transpose()?;
        Ok(match version {
            Some(version) => Upstream::Socks(SocksServer {
                version,
                address,
                credentials,
            }),
            None => Upstream::Http(HttpProxy {
                address,
                credentials,
                tls: scheme == "https",
            }),
        })
    }

    /// The hop in front of the upstream: an `http://` proxy.
    pub fn parse_via(raw: &str) -> Result<HttpProxy, UpstreamError> {
        match Upstream::parse(raw)? {
            Upstream::Http(proxy) => Ok(proxy),
            _ => Err(UpstreamError::ViaNotHttp),
        }
    }

    /// The SOCKS server, if the upstream is one.
    pub fn socks(&self) -> Option<&SocksServer> {
        match self {
            Upstream::Socks(server) => Some(server),
            _ => None,
        }
    }

    pub fn is_direct(&self) -> bool {
        matches!(self, Upstream::Direct)
    }

    /// The URL for people and logs: the user name is kept, the password never shown.
    pub fn redacted(&self) -> String {
        self.render(false)
    }

    /// The URL with the password, percent-encoded, for the settings file.
    pub fn to_url(&self) -> String {
        self.render(true)
    }

    fn render(&self, with_password: bool) -> String {
        let (scheme, address, credentials) = match self {
            Upstream::Direct => return "direct://".to_string(),
            Upstream::Socks(s) => (s.version.scheme(), &s.address, &s.credentials),
            Upstream::Http(h) => (h.scheme(), &h.address, &h.credentials),
        };
        let mut out = format!("{scheme}://");
        if let Some(creds) = credentials {
            out.push_str(&encode(&creds.username));
            if with_password && !creds.password.is_empty() {
                out.push(':');
                out.push_str(&encode(&creds.password));
            }
            out.push('@');
        }
        out.push_str(&address.to_string());
        out
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Characters that must be escaped inside userinfo.
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, USERINFO).to_string()
}

fn decode(s: &str) -> Result<String, UpstreamError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| UpstreamError::BadEncoding)
}

/// `version` is `None` for an HTTP proxy: Basic auth, any password (even none).
fn parse_userinfo(info: &str, version: Option<SocksVersion>) -> Result<Credentials, UpstreamError> {
    let (user, pass) = match info.split_once(':') {
        Some((u, p)) => (decode(u)?, decode(p)?),
        None => (decode(info)?, String::new()),
    };
    if user.is_empty() || user.len() > 255 {
        return Err(UpstreamError::UserLength);
    }
    match version {
        Some(SocksVersion::Socks4 | SocksVersion::Socks4a) if !pass.is_empty() => {
            Err(UpstreamError::Socks4Password)
        }
        Some(SocksVersion::Socks5 { .. }) if pass.is_empty() || pass.len() > 255 => {
            Err(UpstreamError::PasswordLength)
        }
        _ => Ok(Credentials {
            username: user,
            password: pass.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_error_has_its_sentence_in_the_catalogue() {
        let all = [
            UpstreamError::MissingScheme("h:1".into()),
            UpstreamError::UnknownScheme("ftp".into()),
            UpstreamError::MissingHost,
            UpstreamError::InvalidHost("a b".into()),
            UpstreamError::InvalidPort("0".into()),
            UpstreamError::UnexpectedPath("/x".into()),
            UpstreamError::BadEncoding,
            UpstreamError::UserLength,
            UpstreamError::PasswordLength,
            UpstreamError::Socks4Password,
            UpstreamError::DirectWithAddress,
            UpstreamError::HttpWithoutPort,
            UpstreamError::ViaNotHttp,
        ];
        for e in all {
            let m = e.message();
            assert!(crate::message::known(m.key), "{}", m.key);
            assert!(!e.to_string().contains('{'), "every argument filled: {e}");
        }
    }

    use super::*;

    fn creds(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn parses_valid_urls() {
        let remote = SocksVersion::Socks5 { remote_dns: true };
        let cases: Vec<(&str, SocksVersion, &str, u16, Option<Credentials>)> = vec![
            ("socks5h://127.0.0.1:1080", remote, "127.0.0.1", 1080, None),
            ("socks5h://127.0.0.1", remote, "127.0.0.1", 1080, None),
            (
                "SOCKS5H://Proxy.Example:9050/",
                remote,
                "proxy.example",
                9050,
                None,
            ),
            (
                "socks5://[::1]:1080",
                SocksVersion::Socks5 { remote_dns: false },
                "[::1]",
                1080,
                None,
            ),
            (
                "socks5h://alice:s3cret@localhost:1080",
                remote,
                "localhost",
                1080,
                creds("alice", "s3cret"),
            ),
            (
                "socks5h://a%40b:p%3Aw%2Fd%20x@h:1",
                remote,
                "h",
                1,
                creds("a@b", "p:w/d x"),
            ),
            ("socks5h://u:p@ss@h:2", remote, "h", 2, creds("u", "p@ss")),
            (
                "socks4a://bob@10.0.0.1:1081",
                SocksVersion::Socks4a,
                "10.0.0.1",
                1081,
                creds("bob", ""),
            ),
            (
                "socks4://10.0.0.1:1081",
                SocksVersion::Socks4,
                "10.0.0.1",
                1081,
                None,
            ),
            ("  socks5h://h:3  ", remote, "h", 3, None),
        ];
        for (raw, version, host, port, credentials) in cases {
            let up = Upstream::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(
                up,
                Upstream::Socks(SocksServer {
                    version,
                    address: Target::new(Host::parse(host).unwrap(), port),
                    credentials
                }),
                "{raw}"
            );
        }
        assert_eq!(Upstream::parse("direct://").unwrap(), Upstream::Direct);
        assert_eq!(Upstream::parse("DIRECT:///").unwrap(), Upstream::Direct);
    }

    #[test]
    fn rejects_invalid_urls() {
        let cases = [
            (
                "127.0.0.1:1080",
                UpstreamError::MissingScheme("127.0.0.1:1080".into()),
            ),
            (
                "ftp://127.0.0.1:8080",
                UpstreamError::UnknownScheme("ftp".into()),
            ),
            ("https://proxy.example", UpstreamError::HttpWithoutPort),
            ("http://proxy.example", UpstreamError::HttpWithoutPort),
            (
                "http://proxy.example:3128/x",
                UpstreamError::UnexpectedPath("/x".into()),
            ),
            ("socks5h://", UpstreamError::MissingHost),
            ("socks5h://:1080", UpstreamError::MissingHost),
            ("socks5h://h:0", UpstreamError::InvalidPort("0".into())),
            (
                "socks5h://h:99999",
                UpstreamError::InvalidPort("99999".into()),
            ),
            (
                "socks5h://h:12ab",
                UpstreamError::InvalidPort("12ab".into()),
            ),
            (
                "socks5h://bad host:1",
                UpstreamError::InvalidHost("bad host".into()),
            ),
            (
                "socks5h://h:1/path",
                UpstreamError::UnexpectedPath("/path".into()),
            ),
            ("socks5h://user@h:1", UpstreamError::PasswordLength),
            ("socks5h://:pw@h:1", UpstreamError::UserLength),
            ("socks5h://u:%FF@h:1", UpstreamError::BadEncoding),
            ("socks4://u:p@h:1", UpstreamError::Socks4Password),
            ("direct://h:1", UpstreamError::DirectWithAddress),
        ];
        for (raw, err) in cases {
            assert_eq!(Upstream::parse(raw), Err(err), "{raw}");
        }
        let long = format!("socks5h://u:{}@h:1", "p".repeat(256));
        assert_eq!(Upstream::parse(&long), Err(UpstreamError::PasswordLength));
    }

    #[test]
    fn redacts_and_round_trips() {
        let up = Upstream::parse("socks5h://a%40b:p%3Aw@h:1").unwrap();
        assert_eq!(up.redacted(), "socks5h://a%40b@h:1");
        assert_eq!(up.to_string(), "socks5h://a%40b@h:1");
        assert!(!format!("{up:?}").contains("p:w"));
        assert_eq!(Upstream::parse(&up.to_url()).unwrap(), up);
        assert_eq!(
            Upstream::parse("socks5://[::1]:9").unwrap().to_url(),
            "socks5://[::1]:9"
        );
        assert_eq!(Upstream::Direct.to_url(), "direct://");
        let http = Upstream::parse("HTTP://alice:s%3Acret@office.example:3128/").unwrap();
        assert_eq!(http.to_url(), "http://alice:s%3Acret@office.example:3128");
        assert_eq!(http.redacted(), "http://alice@office.example:3128");
        assert_eq!(Upstream::parse(&http.to_url()).unwrap(), http);
        let https = Upstream::parse("HTTPS://alice:pw@secure.example:443").unwrap();
        assert_eq!(https.redacted(), "https://alice@secure.example:443");
        assert!(matches!(&https, Upstream::Http(p) if p.tls && p.address.port == 443));
        assert_eq!(Upstream::parse(&https.to_url()).unwrap(), https);
        assert!(matches!(Upstream::parse("http://h:1"), Ok(Upstream::Http(p)) if !p.tls));
        assert!(Upstream::parse_via("https://o:443").unwrap().tls);
    }

    #[test]
    fn http_proxies_parse_with_or_without_a_password_and_only_they_can_be_a_via() {
        let Upstream::Http(proxy) = Upstream::parse("http://u@h:8080").unwrap() else {
            panic!("not an HTTP proxy");
        };
        assert_eq!(proxy.address.to_string(), "h:8080");
        assert_eq!(proxy.credentials.unwrap().password.expose(), "");
        assert_eq!(
            Upstream::parse_via("http://h:1").map(|p| p.address.port),
            Ok(1)
        );
        for not_http in ["socks5h://h:1", "direct://"] {
            assert_eq!(
                Upstream::parse_via(not_http),
                Err(UpstreamError::ViaNotHttp)
            );
        }
    }
}
