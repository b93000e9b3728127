//! A bounded soak: mixed forwards, tunnels, SOCKS clients, expected errors and config
//! reloads against an in-process proxy whose upstream is Debian's microsocks. Reports
//! RSS, open fds and live tokio tasks at start and end, and counts every request that
//! should have succeeded but did not. Exits non-zero on any such failure.
//!
//! `cargo run --release --example soak -- [SECONDS]` (default 600); see bench/soak.sh.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use socksbridge::{ProxyServer, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    expected_errors: AtomicU64,
    failed: AtomicU64,
    reloads: AtomicU64,
}

fn report(label: &str, c: &Counters) {
    println!(
        "{label}: rss {} KiB, fds {}, tokio tasks {}, ok {}, expected errors {}, reloads {}, failed {}",
        socksbridge::limits::rss_kib(std::process::id()),
        socksbridge::limits::open_fds(std::process::id()),
        tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        c.ok.load(Relaxed),
        c.expected_errors.load(Relaxed),
        c.reloads.load(Relaxed),
        c.failed.load(Relaxed)
    );
}

async fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let body = match req.uri().path() {
                            "/echo" => req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default(),
                            "/big" => Bytes::from(vec![b'b'; 256 * 1024]),
                            _ => Bytes::from_static(b"hello"),
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(body)))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Sends a request and returns its body, or the error as text.
async fn body(request: reqwest::RequestBuilder) -> Result<Bytes, String> {
    request
        .send()
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())
}

async fn tunnel_once(proxy: SocketAddr, target: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(proxy).await.map_err(|e| e.to_string())?;
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&reply);
    (text.starts_with("HTTP/1.1 200") && text.ends_with("hello"))
        .then_some(())
        .ok_or(text.into_owned())
}

async fn socks_once(proxy: SocketAddr, target: SocketAddr) -> Result<(), String> {
    let mut s = tokio_socks::tcp::Socks5Stream::connect(proxy, target)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.map_err(|e| e.to_string())?;
    reply
        .ends_with(b"hello")
        .then_some(())
        .ok_or_else(|| "bad SOCKS reply".to_string())
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let _ = socksbridge::limits::raise_fd_limit();
    let origin = origin().await;
    let socks_port = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let _microsocks = tokio::process::Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &socks_port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("microsocks (bench/install.sh installs it)");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let settings = move |direct: bool, idle: u64| {
        let mut s = Settings {
            listen: "127.0.0.1:0".into(),
            direct: if direct {
                vec!["localhost".into()]
            } else {
                vec![]
            },
            ..Settings::default().with_upstream(&format!("socks5h://127.0.0.1:{socks_port}"))
        };
        s.timeouts.idle_secs = idle;
        s.validate().expect("valid").proxy
    };
    let server = ProxyServer::bind(settings(false, 600))
        .await
        .expect("bind proxy");
    let proxy = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.run(std::future::pending()));

    let counters = Arc::new(Counters::default());
    tokio::time::sleep(Duration::from_millis(200)).await;
    report("start", &counters);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    let record = |c: &Counters, result: Result<(), String>, what: &str| match result {
        Ok(()) => {
            c.ok.fetch_add(1, Relaxed);
        }
        Err(e) => {
            c.failed.fetch_add(1, Relaxed);
            eprintln!("FAILED {what}: {e}");
        }
    };
    for i in 0..4 {
        let c = counters.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .proxy(reqwest::Proxy::http(format!("http://{proxy}")).expect("proxy"))
                .build()
                .expect("client");
            let host = if i % 2 == 0 {
                format!("localhost:{}", origin.port())
            } else {
                origin.to_string()
            };
            while Instant::now() < deadline {
                let r = async {
                    let hello = body(client.get(format!("http://{host}/hello"))).await?;
                    let big = body(client.get(format!("http://{host}/big"))).await?;
                    let echo = body(
                        client
                            .post(format!("http://{host}/echo"))
                            .body(vec![b'e'; 65536]),
                    )
                    .await?;
                    (hello == "hello".as_bytes() && big.len() == 256 * 1024 && echo.len() == 65536)
                        .then_some(())
                        .ok_or_else(|| "wrong body".to_string())
                }
                .await;
                record(&c, r, "forward");
            }
        }));
    }
    for _ in 0..3 {
        let c = counters.clone();
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                record(&c, tunnel_once(proxy, origin).await, "tunnel");
                record(&c, socks_once(proxy, origin).await, "socks");
            }
        }));
    }
    {
        // Requests that must fail, with the right status: a closed port and a loop.
        let c = counters.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .proxy(reqwest::Proxy::http(format!("http://{proxy}")).expect("proxy"))
                .build()
                .expect("client");
            while Instant::now() < deadline {
                for (url, status) in [
                    ("http://127.0.0.1:1/".to_string(), 502),
                    (format!("http://{proxy}/"), 508),
                ] {
                    match client.get(&url).send().await {
                        Ok(r) if r.status().as_u16() == status => {
                            c.expected_errors.fetch_add(1, Relaxed)
                        }
                        other => {
                            eprintln!("FAILED expected {status} for {url}: {other:?}");
                            c.failed.fetch_add(1, Relaxed)
                        }
                    };
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    {
        let c = counters.clone();
        let handle = handle.clone();
        workers.push(tokio::spawn(async move {
            let mut flip = false;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(2)).await;
                flip = !flip;
                let mut config = settings(flip, if flip { 300 } else { 600 });
                config.listen = proxy;
                match handle.apply(config).await {
                    Ok(_) => c.reloads.fetch_add(1, Relaxed),
                    Err(e) => {
                        eprintln!("FAILED reload: {e}");
                        c.failed.fetch_add(1, Relaxed)
                    }
                };
            }
        }));
    }
    let progress = {
        let c = counters.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                report("progress", &c);
            }
        })
    };
    for w in workers {
        let _ = w.await;
    }
    progress.abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    report("end", &counters);
    println!("proxy stats: {:?}", handle.stats());
    if counters.failed.load(Relaxed) > 0 {
        std::process::exit(1);
    }
}
