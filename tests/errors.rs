//! Every error path: the right status and a reason naming the failing hop, each followed
//! by a request on the same proxy that still succeeds.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use socksbridge::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy whose upstream is `upstream`, with 127.0.0.1 routed direct so a follow-up
/// request to the origin by IP proves the proxy still serves.
async fn proxy_with_escape(upstream: &str, extra: serde_json::Value) -> Proxy {
    let mut settings = json!({ "upstream": upstream, "direct": ["127.0.0.1"] });
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    proxy(settings).await
}

async fn still_serves(proxy: &Proxy, origin: &Origin) {
    let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
    assert_eq!(
        (out.status, out.text().as_str()),
        (200, "hello"),
        "follow-up failed: {}",
        out.stderr
    );
}

#[tokio::test]
async fn socks_server_unreachable_is_a_502_naming_it() {
    within(30, async {
        let origin = origin().await;
        let dead = free_port().await;
        let proxy = proxy_with_escape(&format!("socks5h://127.0.0.1:{dead}"), json!({})).await;
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!(out.status, 502, "{}", out.stderr);
        assert!(
            out.text()
                .starts_with(&format!("SOCKS server 127.0.0.1:{dead} is unreachable")),
            "{}",
            out.text()
        );
        let out = curl(&["-x", &proxy.url(), "-p", &origin.url("/hello")]).await;
        assert!(
            out.stderr.contains("CONNECT tunnel failed, response 502"),
            "{}",
            out.stderr
        );
        still_serves(&proxy, &origin).await;
        assert_eq!(
            proxy
                .handle
                .stats()
                .errors_of(ErrorKind::UpstreamUnreachable),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn target_refused_carries_the_socks_reply_code() {
    within(30, async {
        let origin = origin().await;
        let socks = microsocks(None).await;
        let closed = free_port().await;
        let proxy = proxy_with_escape(&format!("socks5h://{}", socks.addr), json!({})).await;
        let out = curl(&["-x", &proxy.url(), &format!("http://localhost:{closed}/")]).await;
        assert_eq!(out.status, 502);
        assert_eq!(
            out.text(),
            format!("SOCKS server {} could not connect to localhost:{closed}: connection refused (SOCKS reply 0x05)\n", socks.addr)
        );
        let out = curl(&["-x", &proxy.url(), "-p", &format!("http://localhost:{closed}/")]).await;
        assert_ne!(out.exit, 0);
        assert!(out.stderr.contains("502"), "{}", out.stderr);
        still_serves(&proxy, &origin).await;
    })
    .await;
}

/// A "SOCKS server" that accepts and then never says a word.
async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn silent_socks_server_is_a_504_within_the_connect_timeout() {
    within(30, async {
        let origin = origin().await;
        let (silent, _task) = silent_server().await;
        let proxy = proxy_with_escape(
            &format!("socks5h://{silent}"),
            json!({ "timeouts": { "connect_ms": 400 } }),
        )
        .await;
        let start = Instant::now();
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!(out.status, 504);
        assert!(
            out.text()
                .starts_with("timed out after 400 ms while waiting for SOCKS server"),
            "{}",
            out.text()
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        let out = curl(&["-x", &proxy.url(), "-p", &origin.url("/hello")]).await;
        assert!(out.stderr.contains("504"), "{}", out.stderr);
        still_serves(&proxy, &origin).await;
    })
    .await;
}

#[tokio::test]
async fn malformed_requests_are_400s() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy_via("direct://").await;
        let cases: [(&[u8], &str); 6] = [
            (b"GARBAGE\r\n\r\n", "HTTP/1.1 400"),
            (
                b"CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (b"CONNECT [::1 HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
            (
                b"GET /not-a-proxy-request HTTP/1.1\r\nHost: x\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (
                b"GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (b"GET http://exa mple.com/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
        ];
        for (request, expected) in cases {
            let reply = String::from_utf8_lossy(
                &raw_exchange(proxy.addr, request, Duration::from_secs(5)).await,
            )
            .into_owned();
            assert!(
                reply.starts_with(expected),
                "{:?} -> {reply}",
                String::from_utf8_lossy(request)
            );
        }
        still_serves(&proxy, &origin).await;
    })
    .await;
}

#[tokio::test]
async fn malformed_socks_handshakes_are_closed() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy_via("direct://").await;
        let cases: [(&[u8], &[u8]); 4] = [
            // Unknown address type: method choice, then the connection closes.
            (&[5, 1, 0, 5, 1, 0, 9, 0, 0], &[5, 0]),
            // BIND is not supported: reply 0x07.
            (
                &[5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80],
                &[5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0],
            ),
            // No methods.
            (&[5, 0], &[]),
            // Bad reserved byte.
            (&[5, 1, 0, 5, 1, 7, 1, 127, 0, 0, 1, 0, 80], &[5, 0]),
        ];
        for (request, expected) in cases {
            let reply = raw_exchange(proxy.addr, request, Duration::from_secs(5)).await;
            assert_eq!(reply, expected, "{request:?}");
        }
        still_serves(&proxy, &origin).await;
        assert!(proxy.handle.stats().errors_of(ErrorKind::BadRequest) >= 4);
    })
    .await;
}

#[tokio::test]
async fn oversized_headers_are_431() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy_via("direct://").await;
        let big = "a".repeat(100 * 1024);
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-H",
            &format!("X-Big: {big}"),
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!(out.status, 431, "{}", out.stderr);
        still_serves(&proxy, &origin).await;
    })
    .await;
}

#[tokio::test]
async fn requests_for_the_proxy_itself_are_refused_not_looped() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy_via("direct://").await;
        let port = proxy.addr.port();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/x"),
            format!("http://[::1]:{port}/"),
        ] {
            let out = curl(&["-x", &proxy.url(), &url]).await;
            assert_eq!(out.status, 508, "{url}");
            assert!(
                out.text().contains("this proxy's own address"),
                "{}",
                out.text()
            );
            let out = curl(&["-x", &proxy.url(), "-p", &url]).await;
            assert!(out.stderr.contains("508"), "{url}: {}", out.stderr);
        }
        // Through the SOCKS side of the mixed port too: reply 0x02 (not allowed).
        let out = curl(&[
            "--socks5-hostname",
            &proxy.addr.to_string(),
            &format!("http://localhost:{port}/"),
        ])
        .await;
        assert_ne!(out.exit, 0);
        assert_eq!(proxy.handle.stats().errors_of(ErrorKind::Loop), 7);
        assert_eq!(proxy.handle.stats().total_connections, 7);
        still_serves(&proxy, &origin).await;
    })
    .await;
}

#[tokio::test]
async fn connections_over_the_cap_get_a_503() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy(json!({ "upstream": "direct://", "max_connections": 2 })).await;
        let a = TcpStream::connect(proxy.addr).await.unwrap();
        let b = TcpStream::connect(proxy.addr).await.unwrap();
        // Make sure both are accepted and hold their permits.
        eventually(Duration::from_secs(1), || {
            proxy.handle.stats().active_connections == 2
        })
        .await;
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!(out.status, 503);
        assert!(
            out.text().contains("too many connections (limit 2)"),
            "{}",
            out.text()
        );
        drop((a, b));
        eventually(Duration::from_secs(1), || {
            proxy.handle.stats().active_connections == 0
        })
        .await;
        still_serves(&proxy, &origin).await;
    })
    .await;
}

#[tokio::test]
async fn slow_headers_are_cut_at_the_header_timeout() {
    within(30, async {
        let origin = origin().await;
        let proxy =
            proxy(json!({ "upstream": "direct://", "timeouts": { "header_ms": 300 } })).await;
        let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
        slow.write_all(b"GET http://127.0.0.1/ HTTP/1.1\r\nHo")
            .await
            .unwrap();
        let start = Instant::now();
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        // A connection that sends nothing at all is cut too.
        let mut idle = TcpStream::connect(proxy.addr).await.unwrap();
        let n = idle.read(&mut [0u8; 16]).await.unwrap_or(0);
        assert_eq!(n, 0);
        still_serves(&proxy, &origin).await;
    })
    .await;
}
