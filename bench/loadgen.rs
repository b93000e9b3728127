//! Load generator for bench/run.sh, for the workloads wrk and curl cannot express:
//! new tunnels per second (W4), idle-tunnel memory (W5) and time to the ready line.
//! Every loop is bounded by a duration or a count.
//!
//! ```text
//! loadgen tunnels PROXY TARGET PATH WORKERS SECONDS   # CONNECT + GET + close, repeated
//! loadgen socks-tunnels SOCKS TARGET PATH WORKERS SECONDS
//!                                   # the same, speaking SOCKS5 to the SOCKS server itself:
//!                                   # the ceiling for any HTTP proxy in front of it
//! loadgen plain-tunnels TARGET PATH WORKERS SECONDS
//!                                   # the same, straight to TARGET (what a TUN captures)
//! loadgen requests PROXY URL COUNT  # COUNT keep-alive GETs on one connection (profiling)
//! loadgen tunnel-count PROXY TARGET PATH COUNT  # COUNT tunnels, one after another (profiling)
//! loadgen idle PROXY TARGET COUNT PID [AT_ONCE]       # RSS idle → COUNT idle tunnels → closed;
//!                                   # AT_ONCE handshakes in flight together (default 1)
//! loadgen startup BIN RUNS ARGS...                    # ms from spawn to the ready line
//! loadgen udp-echo PORT SECONDS                        # a UDP echo on 127.0.0.1:PORT
//! loadgen udp SOCKS5 ECHO SIZE WINDOW SECONDS         # SOCKS5 UDP round trips, WINDOW in
//!                                   # flight: through socksbridge, or the SOCKS server itself
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Opens a CONNECT tunnel through an HTTP proxy.
async fn connect_tunnel(proxy: SocketAddr, target: &str) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(proxy).await?;
    stream.set_nodelay(true)?;
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err("proxy closed during CONNECT".into());
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 200") && !head.starts_with(b"HTTP/1.0 200") {
        return Err(format!(
            "CONNECT refused: {}",
            String::from_utf8_lossy(&head).lines().next().unwrap_or("")
        )
        .into());
    }
    Ok(stream)
}

/// Opens a tunnel by speaking SOCKS5 (no authentication) to the SOCKS server directly.
async fn socks_tunnel(socks: SocketAddr, target: &str) -> Result<TcpStream> {
    let target: SocketAddr = target.parse()?;
    let SocketAddr::V4(v4) = target else {
        return Err("socks-tunnels takes an IPv4 target".into());
    };
    let mut stream = TcpStream::connect(socks).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&[5, 1, 0]).await?;
    let mut method = [0u8; 2];
    stream.read_exact(&mut method).await?;
    if method != [5, 0] {
        return Err("SOCKS server wants authentication".into());
    }
    let mut request = vec![5, 1, 0, 1];
    request.extend_from_slice(&v4.ip().octets());
    request.extend_from_slice(&v4.port().to_be_bytes());
    stream.write_all(&request).await?;
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply).await?;
    if reply[1] != 0 {
        return Err(format!("SOCKS reply {:#04x}", reply[1]).into());
    }
    Ok(stream)
}

/// How a tunnel reaches its target.
#[derive(Clone, Copy)]
enum Via {
    /// HTTP CONNECT through this proxy.
    Connect(SocketAddr),
    /// SOCKS5 through this server.
    Socks(SocketAddr),
    /// A plain TCP connection (through a TUN, when one captures it).
    Plain,
}

async fn one_tunnel(via: Via, target: &str, path: &str) -> Result<()> {
    let mut stream = match via {
        Via::Socks(socks) => socks_tunnel(socks, target).await?,
        Via::Connect(proxy) => connect_tunnel(proxy, target).await?,
        Via::Plain => TcpStream::connect(target).await?,
    };
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut reply = Vec::with_capacity(2048);
    stream.read_to_end(&mut reply).await?;
    if !reply.starts_with(b"HTTP/1.1 200") {
        return Err("non-200 through the tunnel".into());
    }
    Ok(())
}

async fn tunnels(via: Via, target: String, path: String, workers: usize, seconds: u64) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (done, failed, target, path) =
            (done.clone(), failed.clone(), target.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(5), one_tunnel(via, &target, &path))
                    .await
                {
                    Ok(Ok(())) => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);
    println!(
        "tunnels_per_sec={:.0} ok={ok} failed={}",
        ok as f64 / secs,
        failed.load(Ordering::Relaxed)
    );
}

/// `count` keep-alive GETs of `url` through the proxy on one connection, one at a time.
async fn requests(proxy: SocketAddr, url: String, count: usize) {
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .expect("an http:// URL")
        .to_string();
    let mut stream = TcpStream::connect(proxy)
        .await
        .expect("connect to the proxy");
    stream.set_nodelay(true).expect("nodelay");
    let request = format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let mut buf = vec![0u8; 256 * 1024];
    let mut ok = 0;
    for _ in 0..count {
        stream.write_all(request.as_bytes()).await.expect("send");
        // Read one response: the head, then Content-Length bytes of body.
        let mut have = Vec::new();
        let (head_end, length) = loop {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "proxy closed the connection");
            have.extend_from_slice(&buf[..n]);
            if let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&have[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("a Content-Length");
                ok += usize::from(head.starts_with("http/1.1 200"));
                break (end + 4, length);
            }
        };
        let mut body = have.len() - head_end;
        while body < length {
            let n = stream.read(&mut buf).await.expect("read body");
            assert!(n > 0, "proxy closed mid-body");
            body += n;
        }
    }
    println!("requests={count} ok={ok}");
}

/// RSS before, with `count` idle tunnels held (sampled 2 s after the last handshake), and
/// 3 s after they closed; `at_once` tunnels are being opened concurrently.
async fn idle(proxy: SocketAddr, target: String, count: usize, pid: u32, at_once: usize) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = socksbridge::limits::rss_kib(pid);
    let at_once = at_once.clamp(1, count.max(1));
    let openers: Vec<_> = (0..at_once)
        .map(|i| {
            let target = target.clone();
            let share = count / at_once + usize::from(i < count % at_once);
            tokio::spawn(async move {
                let (mut held, mut failed) = (Vec::with_capacity(share), 0);
                for _ in 0..share {
                    let opened = tokio::time::timeout(
                        Duration::from_secs(5),
                        connect_tunnel(proxy, &target),
                    );
                    match opened.await {
                        Ok(Ok(s)) => held.push(s),
                        _ => failed += 1,
                    }
                }
                (held, failed)
            })
        })
        .collect();
    let (mut held, mut failed) = (Vec::with_capacity(count), 0);
    for opener in openers {
        let (streams, f) = opener.await.expect("opener");
        held.extend(streams);
        failed += f;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = socksbridge::limits::rss_kib(pid);
    let opened = held.len();
    drop(held);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = socksbridge::limits::rss_kib(pid);
    let per = if opened > 0 {
        (loaded.saturating_sub(before)) as f64 / opened as f64
    } else {
        0.0
    };
    println!(
        "rss_idle_kib={before} rss_loaded_kib={loaded} rss_after_kib={after} tunnels={opened} failed={failed} per_tunnel_kib={per:.1}"
    );
}

async fn startup(bin: String, runs: usize, args: Vec<String>) {
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut child = tokio::process::Command::new(&bin)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
        let took = start.elapsed();
        let _ = child.kill().await;
        if let Ok(Ok(Some(l))) = line {
            if l.contains("listening on") {
                times.push(took.as_secs_f64() * 1000.0);
            }
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    println!("startup_ms_median={median:.2} runs={}", times.len());
}

/// A UDP echo for `udp`, bounded by `seconds`.
async fn udp_echo(port: u16, seconds: u64) {
    let socket = tokio::net::UdpSocket::bind(("127.0.0.1", port))
        .await
        .expect("bind the echo");
    let mut buf = vec![0u8; 65_535];
    let until = Instant::now() + Duration::from_secs(seconds);
    while let Ok(Ok((n, from))) =
        tokio::time::timeout_at(until.into(), socket.recv_from(&mut buf)).await
    {
        let _ = socket.send_to(&buf[..n], from).await;
    }
}

/// A SOCKS5 UDP association (no authentication) with `socks`: the control connection and
/// a UDP socket connected to the server's relay. The same plain client for both paths, so
/// the comparison measures only what is between it and the echo.
async fn associate(socks: SocketAddr) -> Result<(TcpStream, tokio::net::UdpSocket)> {
    let mut control = TcpStream::connect(socks).await?;
    control.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    control.read_exact(&mut choice).await?;
    control.write_all(&[5, 3, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    let mut reply = [0u8; 10];
    control.read_exact(&mut reply).await?;
    if reply[1] != 0 || reply[3] != 1 {
        return Err(format!("UDP ASSOCIATE refused: {reply:?}").into());
    }
    let ip = std::net::Ipv4Addr::new(reply[4], reply[5], reply[6], reply[7]);
    let ip = if ip.is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST
    } else {
        ip
    };
    let relay = SocketAddr::from((ip, u16::from_be_bytes([reply[8], reply[9]])));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(relay).await?;
    Ok((control, socket))
}

/// SOCKS5 UDP round trips of `size` bytes through `socks` to `echo`, `window` in flight,
/// for `seconds`: prints round trips per second and MB/s each way. A datagram not back
/// within a second counts as lost, and its slot is reused.
async fn udp(socks: SocketAddr, echo: SocketAddr, size: usize, window: usize, seconds: u64) {
    let (_control, socket) = associate(socks).await.expect("UDP ASSOCIATE granted");
    let SocketAddr::V4(echo) = echo else {
        panic!("an IPv4 echo")
    };
    let mut datagram = vec![0, 0, 0, 1];
    datagram.extend_from_slice(&echo.ip().octets());
    datagram.extend_from_slice(&echo.port().to_be_bytes());
    datagram.extend(std::iter::repeat_n(0x5au8, size));
    let mut buf = vec![0u8; 65_535];
    for _ in 0..window {
        socket.send(&datagram).await.expect("send");
    }
    let (start, mut back, mut lost) = (Instant::now(), 0u64, 0u64);
    let until = start + Duration::from_secs(seconds);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
            Ok(Ok(_)) => back += 1,
            _ => lost += 1,
        }
        let _ = socket.send(&datagram).await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "udp_rtt_per_sec={} mb_per_sec={:.1} lost={lost}",
        (back as f64 / secs) as u64,
        back as f64 * size as f64 / secs / 1e6
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("missing argument {i}; see the module docs"))
    };
    match arg(0).as_str() {
        "udp-echo" => {
            udp_echo(
                arg(1).parse().expect("port"),
                arg(2).parse().expect("seconds"),
            )
            .await
        }
        "udp" => {
            udp(
                arg(1).parse().expect("SOCKS5 server"),
                arg(2).parse().expect("echo"),
                arg(3).parse().expect("size"),
                arg(4).parse().expect("window"),
                arg(5).parse().expect("seconds"),
            )
            .await
        }
        mode @ ("tunnels" | "socks-tunnels") => {
            let proxy = arg(1).parse().expect("proxy or SOCKS server");
            let via = match mode {
                "tunnels" => Via::Connect(proxy),
                _ => Via::Socks(proxy),
            };
            let (workers, seconds) = (
                arg(4).parse().expect("workers"),
                arg(5).parse().expect("seconds"),
            );
            tunnels(via, arg(2), arg(3), workers, seconds).await
        }
        "plain-tunnels" => {
            let (workers, seconds) = (
                arg(3).parse().expect("workers"),
                arg(4).parse().expect("seconds"),
            );
            tunnels(Via::Plain, arg(1), arg(2), workers, seconds).await
        }
        "tunnel-count" => {
            let (proxy, target, path) = (arg(1).parse().expect("proxy"), arg(2), arg(3));
            let count: usize = arg(4).parse().expect("count");
            let mut ok = 0;
            for _ in 0..count {
                ok += usize::from(
                    one_tunnel(Via::Connect(proxy), &target, &path)
                        .await
                        .is_ok(),
                );
            }
            println!("tunnels={count} ok={ok}");
        }
        "requests" => {
            requests(
                arg(1).parse().expect("proxy"),
                arg(2),
                arg(3).parse().expect("count"),
            )
            .await
        }
        "idle" => {
            idle(
                arg(1).parse().expect("proxy"),
                arg(2),
                arg(3).parse().expect("count"),
                arg(4).parse().expect("pid"),
                args.get(5)
                    .map_or(1, |n| n.parse().expect("handshakes at once")),
            )
            .await
        }
        "startup" => startup(arg(1), arg(2).parse().expect("runs"), args[3..].to_vec()).await,
        other => panic!("unknown workload {other}"),
    }
}
