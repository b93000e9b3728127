//! Plain-HTTP forwarding through real SOCKS servers, driven by curl and reqwest.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

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

        // An upgrade the origin does not grant is an ordinary response: the same rules.
        let out = curl(&[
            "-x",
            &proxy.url(),
            "-D",
            "/dev/stderr",
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            &origin.url("/hop"),
        ])
        .await;
        let head = out.stderr.to_ascii_lowercase();
        assert!(head.contains("x-end: kept"), "{head}");
        assert!(
            !head.contains("x-hop") && !head.contains("keep-alive: timeout"),
            "refused upgrade: {head}"
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

async fn read_nul_terminated(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut field = Vec::new();
    loop {
        match stream.read_u8().await.unwrap() {
            0 => return String::from_utf8(field).unwrap(),
            b => field.push(b),
        }
    }
}

/// A SOCKS4/4a server that records what each request named (`4a host:port` or `4 ip:port`)
/// and then connects and relays.
async fn recording_socks4() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let addr = serve_each(move |mut client| {
        let record = Arc::clone(&record);
        async move {
            let mut head = [0u8; 8];
            client.read_exact(&mut head).await.unwrap();
            assert_eq!(&head[..2], [4, 1], "SOCKS4 CONNECT");
            let port = u16::from_be_bytes([head[2], head[3]]);
            let ip = std::net::Ipv4Addr::new(head[4], head[5], head[6], head[7]);
            let _user = read_nul_terminated(&mut client).await;
            // 0.0.0.x with x != 0: SOCKS4a, the name follows.
            let (named, connect_to) = if ip.octets()[..3] == [0, 0, 0] && ip.octets()[3] != 0 {
                let host = read_nul_terminated(&mut client).await;
                (format!("4a {host}:{port}"), format!("{host}:{port}"))
            } else {
                (format!("4 {ip}:{port}"), format!("{ip}:{port}"))
            };
            record.lock().unwrap().push(named);
            match tokio::net::TcpStream::connect(connect_to).await {
                Ok(mut target) => {
                    client
                        .write_all(&[0, 0x5a, 0, 0, 0, 0, 0, 0])
                        .await
                        .unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut target).await;
                }
                Err(_) => {
                    let _ = client.write_all(&[0, 0x5b, 0, 0, 0, 0, 0, 0]).await;
                }
            }
        }
    })
    .await;
    (addr, seen)
}

#[tokio::test]
async fn socks4a_sends_the_name_and_socks4_an_address_it_resolved() {
    within(30, async {
        let origin = origin().await;
        let (server, seen) = recording_socks4().await;
        // Port-less URLs too: the default port 80 must be what the server is asked for.
        let port_less = "http://localhost/hello";
        for (scheme, url, expected) in [
            (
                "socks4a",
                origin.url("/hello"),
                format!("4a localhost:{}", origin.port()),
            ),
            (
                "socks4",
                origin.url("/hello"),
                format!("4 127.0.0.1:{}", origin.port()),
            ),
            (
                "socks4a",
                port_less.to_string(),
                "4a localhost:80".to_string(),
            ),
        ] {
            let proxy = proxy_via(&format!("{scheme}://{server}")).await;
            let out = curl(&["-x", &proxy.url(), &url]).await;
            // Whatever port 80 holds on this machine, only what the server was asked counts.
            if url != port_less {
                assert_eq!(
                    (out.status, out.text().as_str()),
                    (200, "hello"),
                    "{scheme}: {}",
                    out.stderr
                );
            }
            assert_eq!(seen.lock().unwrap().pop(), Some(expected), "{scheme} {url}");
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

#[tokio::test]
async fn socks4_upstreams_refuse_ipv6_targets_with_a_reason() {
    within(30, async {
        let (server, seen) = recording_socks4().await;
        for scheme in ["socks4", "socks4a"] {
            let proxy = proxy_via(&format!("{scheme}://{server}")).await;
            let out = curl(&["-x", &proxy.url(), "http://[::1]:9/"]).await;
            assert_eq!(out.status, 400, "{scheme}: {}", out.stderr);
            assert!(
                out.text()
                    .contains("SOCKS4 cannot carry the IPv6 target [::1]:9"),
                "{}",
                out.text()
            );
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing was sent to the server"
        );
    })
    .await;
}
