//! The library API: bind → local_addr → run(shutdown), live stats, reloads that keep
//! running tunnels, and a bounded graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use socksbridge::{ProxyServer, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 request over an open tunnel to the origin, keep-alive.
async fn hello_over(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 5];
    stream.read_exact(&mut body).await.unwrap();
    assert_eq!(&body, b"hello");
}

#[tokio::test]
async fn reload_switches_upstream_and_keeps_running_tunnels() {
    within(30, async {
        let origin = origin().await;
        let first = socks_server().await;
        let second = socks_server().await;
        let proxy = proxy_via(&first.url("socks5h")).await;
        let mut tunnel = tunnel(proxy.addr, origin.addr).await;
        hello_over(&mut tunnel).await;

        let mut settings = Settings {
            listen: proxy.addr.to_string(),
            ..Settings::default().with_upstream(&second.url("socks5h"))
        };
        settings.timeouts.connect_ms = 2000;
        let applied = proxy
            .handle
            .apply(settings.validate().unwrap().proxy)
            .await
            .unwrap();
        assert!(!applied.rebound);
        assert_eq!(
            proxy.handle.config().upstream.to_url(),
            second.url("socks5h")
        );

        // The running tunnel still works, new requests take the new upstream.
        hello_over(&mut tunnel).await;
        assert_eq!(
            curl(&["-x", &proxy.url(), &origin.url("/hello")])
                .await
                .status,
            200
        );
        assert_eq!(first.targets().len(), 1);
        assert_eq!(second.targets().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn reload_moves_the_listener_and_a_busy_address_changes_nothing() {
    within(30, async {
        let origin = origin().await;
        let proxy = proxy_via("direct://").await;
        let mut tunnel = tunnel(proxy.addr, origin.addr).await;

        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let bad = Settings {
            listen: busy.local_addr().unwrap().to_string(),
            ..Settings::default().with_upstream("direct://")
        };
        let err = proxy
            .handle
            .apply(bad.validate().unwrap().proxy)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "port {} is already in use",
                busy.local_addr().unwrap().port()
            )
        );
        assert_eq!(proxy.handle.local_addr(), proxy.addr);
        assert_eq!(
            curl(&["-x", &proxy.url(), &origin.url("/hello")])
                .await
                .status,
            200
        );

        let port = free_port().await;
        let moved = Settings {
            listen: format!("127.0.0.1:{port}"),
            ..Settings::default().with_upstream("direct://")
        };
        assert!(
            proxy
                .handle
                .apply(moved.validate().unwrap().proxy)
                .await
                .unwrap()
                .rebound
        );
        assert_eq!(proxy.handle.local_addr().port(), port);
        let out = curl(&[
            "-x",
            &format!("http://127.0.0.1:{port}"),
            &origin.url("/hello"),
        ])
        .await;
        assert_eq!(out.status, 200, "{}", out.stderr);
        // The old port is closed once the accept loop moved on.
        for _ in 0..100 {
            if TcpStream::connect(proxy.addr).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(TcpStream::connect(proxy.addr).await.is_err());
        // And the tunnel opened before the move is still alive.
        hello_over(&mut tunnel).await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_drains_then_closes_within_the_drain_time() {
    within(30, async {
        let origin = origin().await;
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default().with_upstream("direct://")
        };
        settings.timeouts.drain_ms = 500;
        let server = ProxyServer::bind(settings.validate().unwrap().proxy)
            .await
            .unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let task = tokio::spawn(server.run(std::future::pending()));
        let mut tunnel = tunnel(addr, origin.addr).await;
        hello_over(&mut tunnel).await;
        assert_eq!(handle.stats().active_connections, 1);

        let start = Instant::now();
        handle.shutdown();
        task.await.unwrap();
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
        // The idle tunnel was closed by the hard stop.
        let mut rest = Vec::new();
        assert_eq!(tunnel.read_to_end(&mut rest).await.unwrap_or(0), 0);
        assert_eq!(handle.stats().active_connections, 0);
    })
    .await;
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_shutdown() {
    within(30, async {
        let origin = origin().await;
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default().with_upstream("direct://")
        };
        // A drain time far longer than the test may take: only not waiting for it passes.
        settings.timeouts.drain_ms = 300_000;
        let server = ProxyServer::bind(settings.validate().unwrap().proxy)
            .await
            .unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let client = proxied_client(&format!("http://{addr}"));
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        tx.send(()).unwrap();
        // Graceful shutdown closes idle keep-alive connections at once, no drain wait:
        // the client's connection is still open, and the 300 s drain would outlast this.
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("shutdown waited for an idle keep-alive connection")
            .unwrap();
        drop(client);
    })
    .await;
}
