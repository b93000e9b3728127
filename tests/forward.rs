//! Plain-HTTP forwarding through real SOCKS servers, driven by curl and reqwest.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use serde_json::{json, Value};

fn header<'a>(inspect: &'a Value, name: &str) -> Option<&'a str> {
    inspect["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0].as_str() == Some(name))
        .and_then(|pair| pair[1].as_str())
}

#[tokio::test]
async fn socks5h_sends_the_hostname_and_keeps_explicit_ports() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!(
            (out.status, out.text().as_str()),
            (200, "hello"),
            "{}",
            out.stderr
        );
        assert_eq!(
            socks.targets(),
            vec![format!("localhost:{}", origin.port())]
        );
    })
    .await;
}

#[tokio::test]
async fn socks5_resolves_locally_and_sends_an_ip() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5")).await;
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!(out.status, 200, "{}", out.stderr);
        assert_eq!(
            socks.targets(),
            vec![format!("127.0.0.1:{}", origin.port())]
        );
    })
    .await;
}

#[tokio::test]
async fn rewrites_to_origin_form_with_host_and_strips_hop_by_hop_both_ways() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-H",
            "Connection: keep-alive, X-Secret",
            "-H",
            "X-Secret: drop-me",
            "-H",
            "Proxy-Connection: keep-alive",
            "-H",
            "Keep-Alive: timeout=5",
            "-H",
            "TE: trailers",
            "-H",
            "Upgrade: h2c",
            "-H",
            "X-Kept: yes",
            "-U",
            "someone:secret",
            &origin.url("/inspect?q=1"),
        ])
        .await;
        assert_eq!(out.status, 200, "{}", out.stderr);
        let inspect: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(inspect["target"], "/inspect?q=1");
        assert_eq!(
            header(&inspect, "host"),
            Some(format!("localhost:{}", origin.port()).as_str())
        );
        assert_eq!(header(&inspect, "x-kept"), Some("yes"));
        for dropped in [
            "x-secret",
            "proxy-connection",
            "keep-alive",
            "te",
            "upgrade",
            "proxy-authorization",
            "connection",
        ] {
            assert_eq!(
                header(&inspect, dropped),
                None,
                "{dropped} reached the origin"
            );
        }

        let out = curl(&["-x", &proxy.url(), "-D", "/dev/stderr", &origin.url("/hop")]).await;
        let head = out.stderr.to_ascii_lowercase();
        assert!(head.contains("x-end: kept"), "{head}");
        assert!(
            !head.contains("x-hop") && !head.contains("keep-alive: timeout"),
            "{head}"
        );
    })
    .await;
}

#[tokio::test]
async fn every_method_is_forwarded() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        for method in [
            "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE", "PROPFIND",
        ] {
            let out = curl(&["-x", &proxy.url(), "-X", method, &origin.url("/inspect")]).await;
            assert_eq!(out.status, 200, "{method}: {}", out.stderr);
            let inspect: Value = serde_json::from_slice(&out.body).unwrap();
            assert_eq!(inspect["method"], method);
        }
        let out = curl(&["-x", &proxy.url(), "-I", &origin.url("/hello")]).await;
        assert_eq!(out.status, 200, "HEAD: {}", out.stderr);
    })
    .await;
}

#[tokio::test]
async fn a_3_mib_post_arrives_intact_chunked_and_with_length_and_expect_continue() {
    within(60, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let payload: Vec<u8> = (0..3 * 1024 * 1024)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &payload).unwrap();
        let data = format!("@{}", file.path().display());
        let proxy_url = proxy.url();
        let url = origin.url("/echo");
        for extra in [
            vec![],
            vec!["-H", "Transfer-Encoding: chunked"],
            vec!["-H", "Expect: 100-continue"],
        ] {
            let mut args = vec!["-x", proxy_url.as_str(), "--data-binary", &data];
            args.extend(extra.iter());
            args.push(&url);
            let out = curl(&args).await;
            assert_eq!(out.status, 200, "{extra:?}: {}", out.stderr);
            assert!(
                out.body == payload,
                "{extra:?}: body differs ({} bytes back)",
                out.body.len()
            );
        }

        // And from a Rust client, streaming.
        let client = proxied_client(&proxy.url());
        let back = client
            .post(origin.url("/echo"))
            .body(payload.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 200);
        assert!(back.bytes().await.unwrap() == payload);
    })
    .await;
}

#[tokio::test]
async fn client_keep_alive_and_upstream_pooling() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let client = proxied_client(&proxy.url());
        for _ in 0..20 {
            let r = client.get(origin.url("/hello")).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "hello");
        }
        // One client connection to us, one SOCKS connection, one origin connection.
        assert_eq!(proxy.handle.stats().total_connections, 1);
        assert_eq!(socks.connections.load(Ordering::SeqCst), 1);
        assert_eq!(origin.connections.load(Ordering::SeqCst), 1);

        // Another client connection reuses the pooled upstream connection.
        let other = proxied_client(&proxy.url());
        assert_eq!(get_text(&other, &origin.url("/hello")).await, "hello");
        assert_eq!(proxy.handle.stats().total_connections, 2);
        assert_eq!(socks.connections.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn websocket_upgrades_are_forwarded() {
    within(30, async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy = proxy_via(&socks.url("socks5h")).await;
        let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            origin.url("/ws"),
            origin.port()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: websocket"), "{head}");
        stream
            .write_all(b"ping over the upgraded stream")
            .await
            .unwrap();
        let mut echo = vec![0u8; 29];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, b"ping over the upgraded stream");
    })
    .await;
}

#[tokio::test]
async fn microsocks_with_username_and_password() {
    within(30, async {
        let origin = origin().await;
        let socks = microsocks(Some(("alice", "s3cret"))).await;
        let good = proxy_via(&format!("socks5h://alice:s3cret@{}", socks.addr)).await;
        let out = curl(&["-x", &good.url(), &origin.url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{}", out.stderr);
        let out = curl(&["-x", &good.url(), "-p", &origin.url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{}", out.stderr);

        let wrong = proxy(json!({ "upstream": format!("socks5h://alice:wrong@{}", socks.addr), "direct": ["127.0.0.1"] })).await;
        let out = curl(&["-x", &wrong.url(), &origin.url("/hello")]).await;
        assert_eq!(out.status, 502);
        assert!(out.text().contains(&format!("SOCKS server {} rejected our credentials", socks.addr)), "{}", out.text());
        // The same proxy keeps serving.
        let out = curl(&["-x", &wrong.url(), &origin.ip_url("/hello")]).await;
        assert_eq!(out.status, 200);
    })
    .await;
}

#[tokio::test]
async fn socks4a_and_socks4_upstreams() {
    within(30, async {
        // dante speaks SOCKS4 too, but microsocks does not: our own mixed port does, so
        // chain a second socksbridge (direct) as the SOCKS4(a) server.
        let origin = origin().await;
        let inner = proxy_via("direct://").await;
        for scheme in ["socks4a", "socks4"] {
            let outer = proxy_via(&format!("{scheme}://{}", inner.addr)).await;
            let out = curl(&["-x", &outer.url(), &origin.url("/hello")]).await;
            assert_eq!(
                (out.status, out.text().as_str()),
                (200, "hello"),
                "{scheme}: {}",
                out.stderr
            );
        }
    })
    .await;
}

#[tokio::test]
async fn direct_rules_skip_the_upstream() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let proxy =
            proxy(json!({ "upstream": socks.url("socks5h"), "direct": ["localhost"] })).await;
        assert_eq!(
            curl(&["-x", &proxy.url(), &origin.url("/hello")])
                .await
                .status,
            200
        );
        assert!(
            socks.targets().is_empty(),
            "went upstream: {:?}",
            socks.targets()
        );
        assert_eq!(
            curl(&["-x", &proxy.url(), &origin.ip_url("/hello")])
                .await
                .status,
            200
        );
        assert_eq!(
            socks.targets(),
            vec![format!("127.0.0.1:{}", origin.port())]
        );
    })
    .await;
}
