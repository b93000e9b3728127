//! Faults and hostile input: the SOCKS server dying under load, answering too slowly,
//! slowloris clients, origins and clients vanishing mid-body. Nothing hangs, nothing leaks,
//! and the proxy keeps serving without a restart. Bounded in time and count.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use socksbridge::limits::{open_fds, rss_kib};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn socks_server_killed_under_50_tunnels_and_forwards_then_back() {
    within(60, async {
        let origin = origin().await;
        let echo = echo_server().await;
        let mut socks = microsocks(None).await;
        let socks_port = socks.addr.port();
        let proxy = proxy_via(&format!("socks5h://{}", socks.addr)).await;

        let mut tunnels = Vec::new();
        for _ in 0..25 {
            let mut t = tunnel(proxy.addr, echo).await;
            t.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            t.read_exact(&mut buf).await.unwrap();
            tunnels.push(t);
        }
        let mut forwards = Vec::new();
        for _ in 0..25 {
            let mut s = TcpStream::connect(proxy.addr).await.unwrap();
            s.write_all(
                format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", origin.url("/slow")).as_bytes(),
            )
            .await
            .unwrap();
            let head = read_head(&mut s).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            forwards.push(s);
        }
        assert_eq!(proxy.handle.stats().active_connections, 50);

        socks.kill().await;
        let killed = Instant::now();
        // Every client sees its connection end promptly: EOF or reset, never a hang.
        for mut s in tunnels.into_iter().chain(forwards) {
            let mut sink = vec![0u8; 64 * 1024];
            let ended = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match s.read(&mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            assert!(
                ended.is_ok(),
                "a client connection hung after the SOCKS server died"
            );
        }
        assert!(killed.elapsed() < Duration::from_secs(5));
        assert!(
            eventually(Duration::from_secs(5), || proxy
                .handle
                .stats()
                .active_connections
                == 0)
            .await
        );

        // While it is down: a clear 502, then success as soon as it is back, no restart.
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!(out.status, 502, "{}", out.text());
        let _socks = microsocks_on(socks_port, None).await;
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"));
        let out = curl(&["-x", &proxy.url(), "-p", &origin.url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"));
    })
    .await;
}

/// A "SOCKS server" that answers one byte every 300 ms.
async fn dribbling_socks_server() -> std::net::SocketAddr {
    serve_each(|mut s| async move {
        let mut greeting = [0u8; 3];
        let _ = s.read(&mut greeting).await;
        let (mut r, mut w) = s.split();
        let dribble = async {
            for byte in [5u8, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80] {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if w.write_all(&[byte]).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        };
        // Until the proxy hangs up on us.
        let mut sink = [0u8; 512];
        let gone = async {
            while let Ok(n) = r.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::select! { () = dribble => {}, () = gone => {} }
    })
    .await
}

#[tokio::test]
async fn slow_and_silent_socks_servers_time_out_without_leaking() {
    within(60, async {
        let origin = origin().await;
        let dribbling = dribbling_socks_server().await;
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = silent.accept().await {
                // Reads, never answers, lets go when the proxy hangs up.
                tokio::spawn(async move {
                    let mut sink = [0u8; 512];
                    while let Ok(n) = s.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                });
            }
        });
        for upstream in [dribbling, silent_addr] {
            // A separate process, so its descriptors can be counted on their own.
            let settings = json!({
                "listen": "127.0.0.1:0",
                "upstream": format!("socks5h://{upstream}"),
                "direct": ["127.0.0.1"],
                "timeouts": { "connect_ms": 1000 },
            });
            let cli = Cli::start(&settings.to_string()).await;
            let proxy = CliProxy { addr: cli.addr };
            let fds_before = open_fds(cli.pid);
            let mut handles = Vec::new();
            for i in 0..20 {
                let url = origin.url("/hello");
                let proxy_url = proxy.url();
                handles.push(tokio::spawn(async move {
                    let tunnel = if i % 2 == 0 { vec!["-p"] } else { vec![] };
                    let mut args = vec!["-x", proxy_url.as_str()];
                    args.extend(tunnel);
                    args.push(&url);
                    curl(&args).await
                }));
            }
            for h in handles {
                let out = h.await.unwrap();
                let reason = format!("{}{}", out.text(), out.stderr);
                assert!(
                    out.status == 504 || reason.contains("504"),
                    "{upstream}: {} {reason}",
                    out.status
                );
            }
            assert!(
                eventually(Duration::from_secs(5), || open_fds(cli.pid) <= fds_before).await,
                "fds leaked: {} > {fds_before}",
                open_fds(cli.pid)
            );
            let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
            assert_eq!(out.status, 200);
        }
    })
    .await;
}

#[tokio::test]
async fn five_hundred_slowloris_clients_do_not_starve_a_normal_one() {
    within(60, async {
        let origin = origin().await;
        let proxy =
            proxy(json!({ "upstream": "direct://", "timeouts": { "header_ms": 3000 } })).await;
        let mut slow = Vec::new();
        for _ in 0..500 {
            let mut s = TcpStream::connect(proxy.addr).await.unwrap();
            s.write_all(b"G").await.unwrap();
            slow.push(s);
        }
        // Trickle one byte a second while normal requests are timed.
        let trickle = tokio::spawn(async move {
            for byte in b"ET http://x/ HTTP/1.1\r\n".iter().take(4) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                for s in slow.iter_mut() {
                    let _ = s.write_all(&[*byte]).await;
                }
            }
            slow
        });
        let client = proxied_client(&proxy.url());
        let mut latencies = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            let body = get_text(&client, &origin.url("/hello")).await;
            latencies.push(start.elapsed());
            assert_eq!(body, "hello");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        latencies.sort();
        // Starved, a request would wait for the slowloris connections to be cut at the
        // header timeout (3 s); served, it takes a small part of that however loaded the
        // machine is.
        assert!(
            latencies[10] < Duration::from_millis(3000) / 4,
            "median {:?} with 500 slowloris clients",
            latencies[10]
        );
        // They are all cut at the header timeout.
        let mut slow = trickle.await.unwrap();
        for s in slow.iter_mut() {
            let mut buf = [0u8; 16];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            assert!(
                matches!(n, Ok(Ok(0)) | Ok(Err(_))),
                "a slowloris connection was not cut"
            );
        }
        assert!(
            eventually(Duration::from_secs(5), || proxy
                .handle
                .stats()
                .active_connections
                <= 1)
            .await
        );
    })
    .await;
}

/// An origin that sends half of a promised body, then resets the connection.
async fn resetting_origin() -> std::net::SocketAddr {
    serve_each(|mut s| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            .await;
        let _ = s.write_all(&[b'x'; 50_000]).await;
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s);
    })
    .await
}

#[tokio::test]
async fn origin_resets_mid_body_and_client_vanishes_mid_upload() {
    within(60, async {
        let origin = origin().await;
        let resetting = resetting_origin().await;
        let proxy = proxy_via("direct://").await;

        // The origin resets: the client sees a truncated transfer, never a hang.
        let out = curl(&["-x", &proxy.url(), &format!("http://{resetting}/")]).await;
        assert_ne!(out.exit, 0, "a truncated body must not look complete");
        let out = curl(&["-x", &proxy.url(), "-p", &format!("http://{resetting}/")]).await;
        assert_ne!(out.exit, 0);

        // A client promises 10 MB, sends 1 MB, and disappears.
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(
            format!(
                "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n",
                origin.url("/echo")
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        s.write_all(&vec![b'u'; 1_000_000]).await.unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);

        // Meanwhile and afterwards, everyone else is served.
        let out = curl(&["-x", &proxy.url(), &origin.url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"));
        assert!(
            eventually(Duration::from_secs(5), || proxy
                .handle
                .stats()
                .active_connections
                == 0)
            .await
        );
    })
    .await;
}

/// The `socksbridge` binary with a settings file, in its own process.
struct Cli {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    pid: u32,
    addr: std::net::SocketAddr,
}

impl Cli {
    async fn start(settings: &str) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("settings.json");
        std::fs::write(&config, settings).unwrap();
        let mut child = tokio::process::Command::new(bin_path())
            .args(["--config", config.to_str().unwrap(), "--log-level", "error"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let addr = ready_addr(&mut child).await;
        Cli {
            _child: child,
            _dir: dir,
            pid,
            addr,
        }
    }
}

struct CliProxy {
    addr: std::net::SocketAddr,
}

impl CliProxy {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[tokio::test]
async fn five_thousand_idle_tunnels_up_to_the_cap_and_a_503_above_it() {
    within(120, async {
        socksbridge::limits::raise_fd_limit().unwrap();
        let echo = echo_server().await;
        let cli = Cli::start(r#"{"listen":"127.0.0.1:0","upstream":"direct://","max_connections":5000}"#).await;
        let (pid, addr) = (cli.pid, cli.addr);
        let (fds_idle, rss_idle) = (open_fds(pid), rss_kib(pid));

        let mut held = Vec::with_capacity(5000);
        for _ in 0..5000 {
            held.push(tunnel(addr, echo).await);
        }
        // Every tunnel works, not just exists.
        for t in held.iter_mut().step_by(500) {
            t.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            t.read_exact(&mut b).await.unwrap();
        }
        let rss_loaded = rss_kib(pid);
        assert!(open_fds(pid) >= fds_idle + 10_000);

        let reply = raw_exchange(addr, format!("CONNECT {echo} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(), Duration::from_secs(5)).await;
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 503") && reply.contains("too many connections (limit 5000)"), "{reply}");

        drop(held);
        assert!(
            eventually(Duration::from_secs(20), || open_fds(pid) <= fds_idle).await,
            "fds did not return to baseline: {} > {fds_idle}",
            open_fds(pid)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_after = rss_kib(pid);
        println!(
            "5000 idle tunnels: RSS {rss_idle} KiB idle -> {rss_loaded} KiB loaded ({:.1} KiB/tunnel) -> {rss_after} KiB after close; fds {fds_idle} -> back to {}",
            (rss_loaded - rss_idle) as f64 / 5000.0,
            open_fds(pid)
        );
        // And it still serves.
        let mut t = tunnel(addr, echo).await;
        t.write_all(b"y").await.unwrap();
        let mut b = [0u8; 1];
        t.read_exact(&mut b).await.unwrap();
    })
    .await;
}
