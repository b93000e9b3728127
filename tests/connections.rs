//! The Connections view's data against real sockets: tunnels (CONNECT and SOCKS) listed
//! with client, target, server and live byte counts while open and gone once closed;
//! forwarded requests listed while in flight; failures kept with their reasons.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use socksbridge::connections::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn open_tunnels_are_listed_with_their_bytes_and_failures_with_their_reason() {
    within(60, async {
        let echo = echo_server().await;
        let socks = socks_server().await;
        let proxy = proxy(json!({
            "servers": [{"name": "Home", "url": socks.url("socks5h")}],
            "direct": ["localhost"],
        }))
        .await;

        let mut connect = tunnel(proxy.addr, echo).await;
        connect.write_all(b"ping!").await.unwrap();
        let mut buf = [0u8; 5];
        connect.read_exact(&mut buf).await.unwrap();

        // A SOCKS client of our mixed port, to a target the direct rules send straight.
        let mut socks_client = TcpStream::connect(proxy.addr).await.unwrap();
        socks_client.write_all(&[5, 1, 0]).await.unwrap();
        socks_client.read_exact(&mut [0u8; 2]).await.unwrap();
        let mut request = vec![5, 1, 0, 3, 9];
        request.extend_from_slice(b"localhost");
        request.extend_from_slice(&echo.port().to_be_bytes());
        socks_client.write_all(&request).await.unwrap();
        socks_client.read_exact(&mut [0u8; 10]).await.unwrap();
        socks_client.write_all(b"abc").await.unwrap();
        socks_client.read_exact(&mut [0u8; 3]).await.unwrap();

        let view = proxy.handle.connections();
        assert_eq!(view.open, 2, "{view:?}");
        let newest = &view.connections[0];
        assert_eq!(newest.kind, Kind::Socks);
        assert_eq!(newest.target, format!("localhost:{}", echo.port()));
        assert_eq!(newest.via, None, "direct");
        assert_eq!((newest.up, newest.down), (3, 3));
        let older = &view.connections[1];
        assert_eq!(older.kind, Kind::Connect);
        assert_eq!(older.target, echo.to_string());
        assert_eq!(older.via.as_deref(), Some("Home"));
        assert_eq!((older.up, older.down), (5, 5));
        assert_eq!(older.client, connect.local_addr().unwrap().to_string());
        assert!(newest.age_ms <= older.age_ms);

        drop(connect);
        drop(socks_client);
        let handle = proxy.handle.clone();
        assert!(
            eventually(Duration::from_secs(5), || handle.connections().open == 0).await,
            "closed tunnels leave the list"
        );

        // A refused target: the reason is kept.
        let dead = free_port().await;
        let reply = curl(&["-x", &proxy.url(), &format!("http://127.0.0.1:{dead}/")]).await;
        assert_eq!(reply.status, 502);
        let failures = proxy.handle.connections().failures;
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].what, format!("GET http://127.0.0.1:{dead}/"));
        assert!(failures[0].error.contains("refused"), "{:?}", failures[0]);
    })
    .await;
}

#[tokio::test]
async fn a_forwarded_request_is_listed_until_its_body_is_done() {
    within(60, async {
        let (origin, release_tx) = held_origin().await;
        let proxy = proxy(json!({"servers": [{"name": "Direct", "url": "direct://"}]})).await;
        let client = proxied_client(&proxy.url());
        let url = format!("http://{origin}/slow");
        let request =
            tokio::spawn(async move { client.get(&url).send().await.unwrap().text().await });
        let handle = proxy.handle.clone();
        assert!(
            eventually(Duration::from_secs(5), || handle
                .connections()
                .connections
                .first()
                .is_some_and(|c| c.kind == Kind::Http && c.down == 5))
            .await,
            "{:?}",
            proxy.handle.connections()
        );
        assert_eq!(
            proxy.handle.connections().connections[0].target,
            origin.to_string()
        );
        release_tx.send(true).unwrap();
        assert_eq!(request.await.unwrap().unwrap(), "helloworld");
        assert!(eventually(Duration::from_secs(5), || handle.connections().open == 0).await);
    })
    .await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn each_connection_names_the_program_behind_it() {
    within(60, async {
        let (origin, release_tx) = held_origin().await;
        let echo = echo_server().await;
        let proxy = proxy(json!({"servers": [{"name": "Direct", "url": "direct://"}]})).await;
        // A real program of its own: curl, its request held open by the origin.
        let mut curl = tokio::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-x", &proxy.url()])
            .arg(format!("http://{origin}/held"))
            .kill_on_drop(true)
            .spawn()
            .expect("curl");
        let curl_pid = curl.id().unwrap();
        // And a tunnel from this test's own process.
        let connect = tunnel(proxy.addr, echo).await;
        let handle = proxy.handle.clone();
        assert!(
            eventually(Duration::from_secs(10), || handle
                .connections()
                .connections
                .iter()
                .any(|c| c.kind == Kind::Http && c.down == 5))
            .await,
            "{:?}",
            handle.connections()
        );
        let view = handle.connections();
        let program = |kind| {
            let c = view.connections.iter().find(|c| c.kind == kind).unwrap();
            c.process.as_ref().map(|p| (p.pid, p.name.clone()))
        };
        assert_eq!(
            program(Kind::Http),
            Some((curl_pid, "curl".to_string())),
            "{view:?}"
        );
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(
            program(Kind::Connect),
            Some((std::process::id(), me.trim_end().to_string())),
            "{view:?}"
        );
        // Looked up once: a second view names them the same.
        let processes = |view: &socksbridge::connections::Connections| -> Vec<_> {
            view.connections.iter().map(|c| c.process.clone()).collect()
        };
        assert_eq!(processes(&handle.connections()), processes(&view));
        release_tx.send(true).unwrap();
        assert!(curl.wait().await.unwrap().success());
        drop(connect);
    })
    .await;
}

/// An origin that sends its head and half the body ("hello"), then the rest ("world") once
/// the returned sender says so.
async fn held_origin() -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let origin = serve_each(move |mut stream: TcpStream| {
        let mut release = release_rx.clone();
        async move {
            let _ = read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
                .await;
            let _ = release.wait_for(|go| *go).await;
            let _ = stream.write_all(b"world").await;
        }
    })
    .await;
    (origin, release_tx)
}
