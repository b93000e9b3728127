//! The one error type of the data path, and the one place it becomes an HTTP status, a
//! SOCKS reply code and a stats bucket. Each message names the hop that failed.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::message::Message;

/// Everything that can go wrong serving one request or tunnel. Its `Display` is the
/// English of its [`Message`]: each sentence is written once, in `ui/i18n/en.json`.
#[derive(Debug, Clone)]
pub enum ProxyError {
    BadRequest(String),
    AuthRequired,
    Loop {
        target: String,
    },
    Overloaded {
        limit: usize,
    },
    /// `server` names the hop and its kind: "SOCKS server h:p", "HTTP proxy h:p".
    UpstreamUnreachable {
        server: String,
        source: Arc<io::Error>,
    },
    UpstreamAuthRejected {
        server: String,
    },
    TargetRefused {
        server: String,
        target: String,
        reason: String,
        code: u8,
    },
    UpstreamProtocol {
        server: String,
        detail: String,
    },
    /// An HTTP proxy answered CONNECT with something other than 2xx (`status`: "403
    /// Forbidden").
    TunnelRefused {
        server: String,
        target: String,
        status: String,
    },
    Resolve {
        host: String,
        detail: String,
    },
    TargetUnreachable {
        target: String,
        source: Arc<io::Error>,
    },
    Timeout {
        during: String,
        after: Duration,
    },
    Origin {
        target: String,
        detail: String,
    },
    /// UDP ASSOCIATE where the server in use cannot carry UDP, or refused to.
    UdpRefused {
        server: String,
        reason: String,
    },
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message().fmt(f)
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProxyError::UpstreamUnreachable { source, .. }
            | ProxyError::TargetUnreachable { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Error buckets, counted per kind in [`crate::StatsSnapshot::errors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    BadRequest,
    Auth,
    Loop,
    Overloaded,
    UpstreamUnreachable,
    UpstreamAuth,
    TargetRefused,
    Dns,
    Timeout,
    Origin,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::BadRequest,
        ErrorKind::Auth,
        ErrorKind::Loop,
        ErrorKind::Overloaded,
        ErrorKind::UpstreamUnreachable,
        ErrorKind::UpstreamAuth,
        ErrorKind::TargetRefused,
        ErrorKind::Dns,
        ErrorKind::Timeout,
        ErrorKind::Origin,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Auth => "auth",
            ErrorKind::Loop => "loop",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::UpstreamUnreachable => "upstream_unreachable",
            ErrorKind::UpstreamAuth => "upstream_auth",
            ErrorKind::TargetRefused => "target_refused",
            ErrorKind::Dns => "dns",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Origin => "origin",
        }
    }
}

impl ProxyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProxyError::BadRequest(_) => ErrorKind::BadRequest,
            ProxyError::AuthRequired => ErrorKind::Auth,
            ProxyError::Loop { .. } => ErrorKind::Loop,
            ProxyError::Overloaded { .. } => ErrorKind::Overloaded,
            ProxyError::UpstreamUnreachable { .. } | ProxyError::UpstreamProtocol { .. } => {
                ErrorKind::UpstreamUnreachable
            }
            ProxyError::UpstreamAuthRejected { .. } => ErrorKind::UpstreamAuth,
            ProxyError::TargetRefused { .. }
            | ProxyError::TunnelRefused { .. }
            | ProxyError::TargetUnreachable { .. }
            | ProxyError::UdpRefused { .. } => ErrorKind::TargetRefused,
            ProxyError::Resolve { .. } => ErrorKind::Dns,
            ProxyError::Timeout { .. } => ErrorKind::Timeout,
            ProxyError::Origin { .. } => ErrorKind::Origin,
        }
    }

    /// The HTTP status a client sees for this error.
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Auth => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            ErrorKind::Loop => StatusCode::LOOP_DETECTED,
            ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamAuth
            | ErrorKind::TargetRefused
            | ErrorKind::Dns
            | ErrorKind::Origin => StatusCode::BAD_GATEWAY,
        }
    }

    /// The SOCKS5 reply code a SOCKS client sees (RFC 1928 §6).
    pub fn socks5_reply(&self) -> u8 {
        match self {
            ProxyError::TargetRefused { code, .. } if (1..=8).contains(code) => *code,
            ProxyError::Loop { .. } | ProxyError::AuthRequired => 0x02,
            ProxyError::UdpRefused { .. } => 0x07,
            ProxyError::Resolve { .. } => 0x04,
            ProxyError::TargetUnreachable { source, .. } => match source.kind() {
                io::ErrorKind::ConnectionRefused => 0x05,
                io::ErrorKind::NetworkUnreachable => 0x03,
                _ => 0x04,
            },
            ProxyError::Timeout { .. } => 0x06,
            _ => 0x01,
        }
    }

    pub(crate) fn timeout(during: impl Into<String>, after: Duration) -> ProxyError {
        ProxyError::Timeout {
            during: during.into(),
            after,
        }
    }
}

impl ProxyError {
    /// The sentence for people, in any language (the `Display` text is its English).
    pub fn message(&self) -> Message {
        let s = |v: &str| v.to_string();
        match self {
            ProxyError::BadRequest(detail) => {
                Message::new("core.err_bad_request", [("detail", s(detail))])
            }
            ProxyError::AuthRequired => Message::new("core.err_auth_required", []),
            ProxyError::Loop { target } => Message::new("core.err_loop", [("target", s(target))]),
            ProxyError::Overloaded { limit } => {
                Message::new("core.err_overloaded", [("limit", limit.to_string())])
            }
            ProxyError::UpstreamUnreachable { server, source } => Message::new(
                "core.err_upstream_unreachable",
                [("server", s(server)), ("detail", source.to_string())],
            ),
            ProxyError::UpstreamAuthRejected { server } => {
                Message::new("core.err_upstream_auth", [("server", s(server))])
            }
            ProxyError::TargetRefused {
                server,
                target,
                reason,
                code,
            } => Message::new(
                "core.err_target_refused",
                [
                    ("server", s(server)),
                    ("target", s(target)),
                    ("reason", s(reason)),
                    ("code", format!("{code:#04x}")),
                ],
            ),
            ProxyError::UpstreamProtocol { server, detail } => Message::new(
                "core.err_upstream_protocol",
                [("server", s(server)), ("detail", s(detail))],
            ),
            ProxyError::TunnelRefused {
                server,
                target,
                status,
            } => Message::new(
                "core.err_tunnel_refused",
                [
                    ("server", s(server)),
                    ("target", s(target)),
                    ("status", s(status)),
                ],
            ),
            ProxyError::Resolve { host, detail } => Message::new(
                "core.err_resolve",
                [("host", s(host)), ("detail", s(detail))],
            ),
            ProxyError::TargetUnreachable { target, source } => Message::new(
                "core.err_target_unreachable",
                [("target", s(target)), ("detail", source.to_string())],
            ),
            ProxyError::Timeout { during, after } => Message::new(
                "core.err_timeout",
                [("after", fmt_duration(*after)), ("during", s(during))],
            ),
            ProxyError::Origin { target, detail } => Message::new(
                "core.err_origin",
                [("target", s(target)), ("detail", s(detail))],
            ),
            ProxyError::UdpRefused { server, reason } => Message::new(
                "core.err_udp_refused",
                [("server", s(server)), ("reason", s(reason))],
            ),
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.as_millis() % 1000 == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Words for a SOCKS5 reply code.
pub fn socks5_reply_reason(code: u8) -> &'static str {
    match code {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_error_has_its_sentence_in_the_catalogue() {
        let io = || Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let all = [
            ProxyError::BadRequest("x".into()),
            ProxyError::AuthRequired,
            ProxyError::Loop {
                target: "t:1".into(),
            },
            ProxyError::Overloaded { limit: 5 },
            ProxyError::UpstreamUnreachable {
                server: "SOCKS server h:1".into(),
                source: io(),
            },
            ProxyError::UpstreamAuthRejected { server: "s".into() },
            ProxyError::TargetRefused {
                server: "s".into(),
                target: "t:1".into(),
                reason: "r".into(),
                code: 5,
            },
            ProxyError::UpstreamProtocol {
                server: "s".into(),
                detail: "d".into(),
            },
            ProxyError::TunnelRefused {
                server: "s".into(),
                target: "t".into(),
                status: "403 Forbidden".into(),
            },
            ProxyError::Resolve {
                host: "h".into(),
                detail: "d".into(),
            },
            ProxyError::TargetUnreachable {
                target: "t".into(),
                source: io(),
            },
            ProxyError::timeout("waiting", Duration::from_millis(1500)),
            ProxyError::Origin {
                target: "t".into(),
                detail: "d".into(),
            },
        ];
        for e in all {
            let m = e.message();
            assert!(crate::message::known(m.key), "{}", m.key);
            assert!(!e.to_string().contains('{'), "every argument filled: {e}");
        }
    }

    use super::*;

    #[test]
    fn statuses_and_messages() {
        let refused = Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        let cases: Vec<(ProxyError, u16, &str)> = vec![
            (
                ProxyError::BadRequest("no host".into()),
                400,
                "bad request: no host",
            ),
            (
                ProxyError::AuthRequired,
                407,
                "proxy authentication required",
            ),
            (
                ProxyError::Loop {
                    target: "127.0.0.1:1095".into(),
                },
                508,
                "own address",
            ),
            (ProxyError::Overloaded { limit: 3 }, 503, "limit 3"),
            (
                ProxyError::UpstreamUnreachable {
                    server: "SOCKS server 127.0.0.1:1080".into(),
                    source: refused,
                },
                502,
                "SOCKS server 127.0.0.1:1080 is unreachable",
            ),
            (
                ProxyError::UpstreamAuthRejected {
                    server: "h:1".into(),
                },
                502,
                "rejected our credentials",
            ),
            (
                ProxyError::TargetRefused {
                    server: "h:1".into(),
                    target: "example.com:80".into(),
                    reason: socks5_reply_reason(5).into(),
                    code: 5,
                },
                502,
                "could not connect to example.com:80: connection refused (SOCKS reply 0x05)",
            ),
            (
                ProxyError::TunnelRefused {
                    server: "HTTP proxy office:3128".into(),
                    target: "example.com:443".into(),
                    status: "403 Forbidden".into(),
                },
                502,
                "HTTP proxy office:3128 refused the tunnel to example.com:443: 403 Forbidden",
            ),
            (
                ProxyError::timeout("connecting to SOCKS server h:1", Duration::from_secs(10)),
                504,
                "timed out after 10 s while connecting",
            ),
            (
                ProxyError::timeout("x", Duration::from_millis(1500)),
                504,
                "after 1500 ms",
            ),
        ];
        for (err, status, text) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert!(
                err.to_string().contains(text),
                "{err} should contain {text}"
            );
        }
    }

    #[test]
    fn socks_reply_codes() {
        let target_refused = |code| ProxyError::TargetRefused {
            server: "s".into(),
            target: "t".into(),
            reason: String::new(),
            code,
        };
        assert_eq!(target_refused(5).socks5_reply(), 5);
        assert_eq!(target_refused(0x5b).socks5_reply(), 1);
        assert_eq!(ProxyError::Loop { target: "x".into() }.socks5_reply(), 2);
        assert_eq!(
            ProxyError::timeout("x", Duration::from_secs(1)).socks5_reply(),
            6
        );
        let refused = Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            ProxyError::TargetUnreachable {
                target: "t".into(),
                source: refused
            }
            .socks5_reply(),
            5
        );
    }

    #[test]
    fn kinds_index_their_table() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }
}
