//! CONNECT tunnels and the mixed port's SOCKS side, end to end.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn proxytunnel_and_https_through_connect() {
    within(30, async {
        let origin = origin().await;
        let tls = tls_origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;

        let out = curl(&["-x", &proxy.url(), "--proxytunnel", &origin.url("/hello")]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );

        let https = format!("https://localhost:{}/hello", tls.addr.port());
        let ca = tls.ca_file.path().display().to_string();
        let out = curl(&["-x", &proxy.url(), "--cacert", &ca, &https]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );
        assert!(socks
            .targets()
            .contains(&format!("localhost:{}", tls.addr.port())));
    })
    .await;
}

#[tokio::test]
async fn bytes_sent_right_behind_the_connect_head_reach_the_target() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let request = format!(
            "CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n\
             GET /hello HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n",
            port = origin.port()
        );
        let reply = String::from_utf8(
            raw_exchange(proxy.addr, request.as_bytes(), Duration::from_secs(10)).await,
        )
        .unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.ends_with("hello"), "{reply}");
    })
    .await;
}

#[tokio::test]
async fn ipv6_literal_targets() {
    within(30, async {
        let origin = origin_on("[::1]:0").await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let url = format!("http://[::1]:{}/hello", origin.port());
        let out = curl(&["-x", &proxy.url(), "--proxytunnel", &url]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );
        let out = curl(&["-x", &proxy.url(), &url]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );
        assert_eq!(socks.targets(), vec![format!("[::1]:{}", origin.port()); 2]);
    })
    .await;
}

/// A TCP server that reads to EOF, then answers with what it got and closes: proves the
/// client's half-close crosses the tunnel while the other direction keeps working.
async fn half_close_server() -> std::net::SocketAddr {
    serve_each(|mut s| async move {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(format!("got {} bytes", got.len()).as_bytes())
            .await
            .unwrap();
    })
    .await
}

#[tokio::test]
async fn half_close_crosses_the_tunnel_and_counters_add_up() {
    within(30, async {
        let target = half_close_server().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let mut stream = tunnel(proxy.addr, target).await;
        stream.write_all(&[1u8; 100_000]).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "got 100000 bytes");
        drop(stream);
        // The tunnel ends on its own once both sides are closed.
        eventually(Duration::from_secs(2), || {
            proxy.handle.stats().active_connections == 0
        })
        .await;
        let stats = proxy.handle.stats();
        assert_eq!(stats.active_connections, 0);
        assert!(stats.bytes_up >= 100_000, "{stats:?}");
    })
    .await;
}

#[tokio::test]
async fn mixed_port_serves_socks5_and_socks4a_clients() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let addr = proxy.addr.to_string();
        for flag in ["--socks5-hostname", "--socks5", "--socks4a", "--socks4"] {
            let out = curl(&[flag, &addr, &origin.url("/hello")]).await;
            assert_eq!(
                (out.status, out.text().as_str()),
                (200, "hello"),
                "{flag}: {}",
                out.stderr
            );
        }
        let tls = tls_origin().await;
        let ca = tls.ca_file.path().display().to_string();
        let https = format!("https://localhost:{}/hello", tls.addr.port());
        let out = curl(&["--socks5-hostname", &addr, "--cacert", &ca, &https]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );

        // And from a Rust SOCKS5 client (tokio-socks) with remote DNS.
        let mut stream =
            tokio_socks::tcp::Socks5Stream::connect(proxy.addr, ("localhost", origin.port()))
                .await
                .unwrap();
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello"),
            "{reply}"
        );
    })
    .await;
}

#[tokio::test]
async fn inbound_auth_for_http_and_socks() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy(json!({
            "upstream": socks.url("socks5h"),
            "auth": { "username": "alice", "password": "pa ss" },
        }))
        .await;
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-D",
            "/dev/stderr",
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!(out.status, 407);
        assert!(
            out.stderr
                .to_ascii_lowercase()
                .contains("proxy-authenticate: basic realm=\"socksbridge\""),
            "{}",
            out.stderr
        );
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-U",
            "alice:wrong",
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!(out.status, 407);
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-U",
            "alice:pa ss",
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"));
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-U",
            "alice:pa ss",
            "-p",
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"));

        let with = format!("socks5h://alice:pa%20ss@{}", proxy.addr);
        let out = curl(&["-x", &with, &origin.url("/hello")]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );
        let wrong = format!("socks5h://alice:nope@{}", proxy.addr);
        assert_ne!(curl(&["-x", &wrong, &origin.url("/hello")]).await.exit, 0);
        let none = format!("socks5h://{}", proxy.addr);
        assert_ne!(curl(&["-x", &none, &origin.url("/hello")]).await.exit, 0);
        let socks4 = format!("socks4a://{}", proxy.addr);
        assert_ne!(curl(&["-x", &socks4, &origin.url("/hello")]).await.exit, 0);
        // Still serving.
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-U",
            "alice:pa ss",
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!(out.status, 200);
        assert!(proxy.handle.stats().errors_of(socksbridge::ErrorKind::Auth) >= 5);
    })
    .await;
}

#[tokio::test]
async fn loopback_clients_can_be_exempt_from_auth() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy(json!({
            "upstream": "direct://",
            "auth": { "username": "alice", "password": "x", "exempt_loopback": true },
        }))
        .await;
        assert_eq!(
            curl(&["-x", &proxy.url(), &origin.url("/hello")])
                .await
                .status,
            200
        );
        assert_eq!(
            curl(&[
                "--socks5-hostname",
                &proxy.addr.to_string(),
                &origin.url("/hello")
            ])
            .await
            .status,
            200
        );
    })
    .await;
}

#[tokio::test]
async fn socks_clients_bytes_sent_with_the_request_reach_the_target() {
    within(30, async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = echo_server().await;
        let proxy = proxy_via("direct://").await;
        let port = echo.port().to_be_bytes();
        // Greeting, CONNECT 127.0.0.1:port and the first payload in one write, as clients
        // with optimistic data (Tor Browser, some SOCKS libraries) send them.
        let mut hello = vec![
            0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, port[0], port[1],
        ];
        hello.extend_from_slice(b"early bytes");
        let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        stream.write_all(&hello).await.unwrap();
        let mut replies = [0u8; 2 + 10];
        stream.read_exact(&mut replies).await.unwrap();
        assert_eq!(&replies[..2], [0x05, 0x00], "method");
        assert_eq!(&replies[2..4], [0x05, 0x00], "CONNECT granted");
        let mut echoed = [0u8; 11];
        stream.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"early bytes");
    })
    .await;
}

#[tokio::test]
async fn without_inbound_auth_a_socks5_client_that_insists_on_credentials_is_let_in() {
    within(30, async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = echo_server().await;
        let proxy = proxy_via("direct://").await;
        // (methods offered, method chosen)
        for (offered, chosen) in [
            (vec![0x00], 0x00),
            (vec![0x00, 0x02], 0x00),
            (vec![0x02, 0x00], 0x00),
            (vec![0x02], 0x02),
        ] {
            let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
            let mut greeting = vec![0x05, offered.len() as u8];
            greeting.extend_from_slice(&offered);
            stream.write_all(&greeting).await.unwrap();
            let mut reply = [0u8; 2];
            stream.read_exact(&mut reply).await.unwrap();
            assert_eq!(reply, [0x05, chosen], "offered {offered:?}");
            if chosen == 0x02 {
                stream.write_all(&[0x01, 1, b'u', 1, b'p']).await.unwrap();
                stream.read_exact(&mut reply).await.unwrap();
                assert_eq!(reply, [0x01, 0x00], "any credentials will do");
            }
            let port = echo.port().to_be_bytes();
            stream
                .write_all(&[0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, port[0], port[1]])
                .await
                .unwrap();
            let mut granted = [0u8; 10];
            stream.read_exact(&mut granted).await.unwrap();
            assert_eq!(&granted[..2], [0x05, 0x00], "offered {offered:?}");
        }
    })
    .await;
}
