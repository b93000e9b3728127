//! The HTTP proxy client side: a CONNECT tunnel on a socket we connected ourselves.
//!
//! The answer's head is read without reading past it: bytes the target sends right behind
//! the proxy's `200` (a server that speaks first) stay in the stream for the client, so a
//! tunnel over TCP stays a plain socket for the pump (over TLS the head is read a byte at a
//! time from TLS's own buffer). httparse reads the head; a refusal names its status.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Hop, Stream};
use crate::config::HttpProxy;
use crate::error::ProxyError;
use crate::target::Target;

/// Longest answer head we accept from a proxy.
const MAX_HEAD: usize = 16 * 1024;

/// Asks the proxy `hop` on `stream` for a tunnel to `target`.
pub(super) async fn tunnel(
    mut stream: Stream,
    proxy: &HttpProxy,
    hop: Hop<'_>,
    target: &Target,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    let exchange = async {
        stream
            .write_all(connect_request(proxy, target).as_bytes())
            .await?;
        read_head(&mut stream).await
    };
    let head = match tokio::time::timeout(limit, exchange).await {
        Err(_) => {
            return Err(ProxyError::timeout(
                format!("waiting for {hop} to open a tunnel to {target}"),
                limit,
            ))
        }
        Ok(Err(source)) => {
            return Err(ProxyError::UpstreamUnreachable {
                server: hop.to_string(),
                source: source.into(),
            })
        }
        Ok(Ok(head)) => head,
    };
    match answer(&head) {
        Ok(200..=299) => Ok(stream),
        // 407 is the rule; some proxies (tinyproxy) answer a CONNECT with 401.
        Ok(401 | 407) => Err(ProxyError::UpstreamAuthRejected {
            server: hop.to_string(),
        }),
        Ok(_) => Err(ProxyError::TunnelRefused {
            server: hop.to_string(),
            target: target.to_string(),
            status: status_line(&head),
        }),
        Err(detail) => Err(ProxyError::UpstreamProtocol {
            server: hop.to_string(),
            detail,
        }),
    }
}

/// `CONNECT host:port HTTP/1.1` with `Host` and, given credentials, Basic auth.
pub(crate) fn connect_request(proxy: &HttpProxy, target: &Target) -> String {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.username,
            c.password.expose()
        ));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// Reads exactly the answer's head (through the blank line), never a byte more.
async fn read_head(stream: &mut Stream) -> std::io::Result<Vec<u8>> {
    match stream {
        Stream::Tcp(tcp) => peek_head(tcp).await,
        Stream::Tls(tls) => {
            let mut head = Vec::with_capacity(256);
            while !head.ends_with(b"\r\n\r\n") {
                check_length(&head)?;
                match tls.read_u8().await {
                    Ok(byte) => head.push(byte),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(closed()),
                    Err(e) => return Err(e),
                }
            }
            Ok(head)
        }
    }
}

fn closed() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the proxy closed the connection before answering",
    )
}

fn check_length(head: &[u8]) -> std::io::Result<()> {
    if head.len() > MAX_HEAD {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the proxy's answer head is longer than {MAX_HEAD} bytes"),
        ));
    }
    Ok(())
}

/// On a socket: peeks, takes what is certainly head, and waits for more only when the end
/// is not in sight.
async fn peek_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(closed());
        }
        let take = match head_end(&head, &buf[..n]) {
            Some(end) => end,
            None => n,
        };
        stream.read_exact(&mut buf[..take]).await?;
        head.extend_from_slice(&buf[..take]);
        if head.ends_with(b"\r\n\r\n") {
            return Ok(head);
        }
        check_length(&head)?;
    }
}

/// How many bytes of `more` complete a head that so far is `head`, if they do.
fn head_end(head: &[u8], more: &[u8]) -> Option<usize> {
    let tail = &head[head.len().saturating_sub(3)..];
    let joined: Vec<u8> = tail.iter().chain(more).copied().collect();
    joined
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4 - tail.len())
}

/// The status code of an answer head, or why it is not one.
fn answer(head: &[u8]) -> Result<u16, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => response.code.ok_or_else(|| "no status".into()),
        Ok(httparse::Status::Partial) => Err("an incomplete answer".into()),
        Err(e) => Err(format!("not an HTTP answer ({e})")),
    }
}

/// "403 Forbidden", as the proxy said it.
fn status_line(head: &[u8]) -> String {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    line.split_once(' ')
        .map(|(_, status)| status.trim().to_string())
        .unwrap_or_else(|| line.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Credentials;

    #[test]
    fn the_head_ends_at_the_first_blank_line_even_across_reads() {
        assert_eq!(head_end(b"", b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0"), Some(19));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n\r", b"\nSSH"), Some(1));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n", b"\r\nX"), Some(2));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r", b"\n\r\n"), Some(3));
        assert_eq!(head_end(b"", b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(head_end(b"", b""), None);
    }

    #[test]
    fn answers_and_status_lines() {
        assert_eq!(
            answer(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Ok(200)
        );
        assert_eq!(
            answer(b"HTTP/1.0 407 Auth\r\nProxy-Authenticate: Basic\r\n\r\n"),
            Ok(407)
        );
        assert!(answer(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert_eq!(
            status_line(b"HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n"),
            "403 Forbidden"
        );
    }

    #[test]
    fn the_request_names_the_target_and_carries_basic_auth() {
        let target = Target::parse_authority("example.com:443").unwrap();
        let mut proxy = HttpProxy {
            address: Target::parse_authority("office:3128").unwrap(),
            credentials: None,
            tls: false,
        };
        assert_eq!(
            connect_request(&proxy, &target),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        proxy.credentials = Some(Credentials {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        });
        assert!(connect_request(&proxy, &target)
            .contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
    }
}
