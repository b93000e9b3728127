//! Real parts for the integration tests, all on 127.0.0.1 port 0: an origin HTTP server
//! (plain and TLS), an in-process SOCKS5 server (fast-socks5) that records what it was
//! asked for, Debian's `microsocks`, the proxy under test, and curl.
#![allow(dead_code)]

pub mod session;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use socksbridge::{ProxyHandle, ProxyServer, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every test body runs under this bound: a hang is a failure, not a stuck CI.
pub async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out")
}

// ---------------------------------------------------------------- origin server

type Body = BoxBody<Bytes, hyper::Error>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|n| match n {}).boxed()
}

/// An HTTP/1.1 origin on 127.0.0.1:0 that counts the connections it accepts.
#[derive(Clone)]
pub struct Origin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

impl Origin {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// `http://localhost:PORT{path}`: a name, so SOCKS remote DNS is exercised.
    pub fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.addr.port())
    }
    pub fn ip_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }
}

/// Routes: `/hello`; `/inspect` (JSON of method, request target, headers); `/echo` (body
/// streamed back); `/bytes/N`; `/ws` (101 upgrade, then echo); `/hop` (a response with
/// hop-by-hop headers).
async fn origin_service(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let response = if path == "/hello" {
        Response::new(full("hello"))
    } else if path == "/inspect" {
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let json = serde_json::json!({
            "method": req.method().as_str(),
            "target": req.uri().to_string(),
            "version": format!("{:?}", req.version()),
            "headers": headers,
        });
        Response::new(full(json.to_string()))
    } else if path == "/echo" {
        let body = req.into_body();
        Response::new(body.boxed())
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        let n: usize = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = (0..n.div_ceil(chunk.len())).map(move |i| {
            let len = chunk.len().min(n - i * chunk.len());
            Ok::<_, hyper::Error>(Frame::data(chunk.slice(..len)))
        });
        Response::new(StreamBody::new(futures_util_stream(chunks)).boxed())
    } else if path == "/ws" {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .body(full(""))
            .unwrap()
    } else if path == "/slow" {
        // 200 chunks of 1 KiB, one every 50 ms: a forward that stays in flight for 10 s.
        let chunk = Bytes::from(vec![b's'; 1024]);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, hyper::Error>>(1);
        tokio::spawn(async move {
            for _ in 0..200 {
                if tx.send(Ok(Frame::data(chunk.clone()))).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Response::new(StreamBody::new(ReceiverStream(rx)).boxed())
    } else if path == "/hop" {
        Response::builder()
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("x-end", "kept")
            .body(full("hop"))
            .unwrap()
    } else {
        let mut r = Response::new(full("not found"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    Ok(response)
}

/// Streams an iterator of frames as a body.
fn futures_util_stream<I>(
    iter: I,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, hyper::Error>> + Send + Sync + 'static
where
    I: Iterator<Item = Result<Frame<Bytes>, hyper::Error>> + Send + Sync + Unpin + 'static,
{
    IterStream(iter)
}

struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);
impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

struct IterStream<I>(I);
impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

pub async fn origin() -> Origin {
    origin_on("127.0.0.1:0").await
}

pub async fn origin_on(bind: &str) -> Origin {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        TokioIo::new(stream),
                        hyper::service::service_fn(origin_service),
                    )
                    .with_upgrades()
                    .await;
            });
        }
    });
    Origin { addr, connections }
}

/// A TLS origin for `localhost` with a freshly generated self-signed certificate.
pub struct TlsOrigin {
    pub addr: SocketAddr,
    pub ca_file: tempfile::NamedTempFile,
}

/// TLS for `localhost` with a freshly generated self-signed certificate, and that
/// certificate in a PEM file, for a client's trust store.
pub fn localhost_tls() -> (tokio_rustls::TlsAcceptor, tempfile::NamedTempFile) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_file, cert.cert.pem().as_bytes()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca_file)
}

pub async fn tls_origin() -> TlsOrigin {
    let (acceptor, ca_file) = localhost_tls();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(
                            TokioIo::new(tls),
                            hyper::service::service_fn(origin_service),
                        )
                        .await;
                }
            });
        }
    });
    TlsOrigin { addr, ca_file }
}

// ---------------------------------------------------------------- SOCKS5 server

/// fast-socks5 in-process: records every CONNECT target as the client sent it (a name
/// or an IP) and counts the connections it accepted.
#[derive(Clone)]
pub struct SocksServer {
    pub addr: SocketAddr,
    pub targets: Arc<Mutex<Vec<String>>>,
    pub connections: Arc<AtomicUsize>,
}

impl SocksServer {
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

pub async fn socks_server() -> SocksServer {
    socks_server_with_auth(None).await
}

pub async fn socks_server_with_auth(credentials: Option<(&str, &str)>) -> SocksServer {
    use fast_socks5::server::{Config, SimpleUserPassword, Socks5Socket};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let targets = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let server = SocksServer {
        addr,
        targets: Arc::clone(&targets),
        connections: Arc::clone(&connections),
    };
    let credentials = credentials.map(|(u, p)| (u.to_string(), p.to_string()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            let targets = Arc::clone(&targets);
            let credentials = credentials.clone();
            tokio::spawn(async move {
                let mut config = Config::default();
                config.set_execute_command(false).set_dns_resolve(false);
                let inner = match credentials {
                    Some((username, password)) => {
                        let config =
                            config.with_authentication(SimpleUserPassword { username, password });
                        let socket = Socks5Socket::new(stream, Arc::new(config));
                        match socket.upgrade_to_socks5().await {
                            Ok(s) => (s.target_addr().cloned(), s.into_inner()),
                            Err(_) => return,
                        }
                    }
                    None => {
                        let config: Config = config;
                        let socket = Socks5Socket::new(stream, Arc::new(config));
                        match socket.upgrade_to_socks5().await {
                            Ok(s) => (s.target_addr().cloned(), s.into_inner()),
                            Err(_) => return,
                        }
                    }
                };
                let (Some(target), mut client) = inner else {
                    return;
                };
                let target = target.to_string();
                targets.lock().unwrap().push(target.clone());
                match TcpStream::connect(target.as_str()).await {
                    Ok(mut upstream) => {
                        let _ = client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                    Err(_) => {
                        let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                    }
                }
            });
        }
    });
    server
}

// ---------------------------------------------------------------- microsocks

/// Debian's `microsocks` on a free loopback port, killed on drop.
pub struct Microsocks {
    pub addr: SocketAddr,
    child: tokio::process::Child,
}

impl Microsocks {
    /// SIGKILL, as a crash would.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub async fn microsocks(credentials: Option<(&str, &str)>) -> Microsocks {
    microsocks_on(free_port().await, credentials).await
}

/// microsocks on a given port (to restart one in place).
pub async fn microsocks_on(port: u16, credentials: Option<(&str, &str)>) -> Microsocks {
    let mut cmd = tokio::process::Command::new("microsocks");
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if let Some((u, p)) = credentials {
        cmd.args(["-u", u, "-P", p]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("microsocks is not installed: run scripts/install-test-deps.sh");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    Microsocks { addr, child }
}

/// A port that was free a moment ago (for programs that cannot bind port 0 themselves).
pub async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP server on 127.0.0.1:0 that runs `handle` on each accepted connection, in a task
/// of its own.
pub async fn serve_each<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(handle(s));
        }
    });
    addr
}

/// A TCP echo server on 127.0.0.1:0 (for tunnels that just sit there or echo).
pub async fn echo_server() -> SocketAddr {
    serve_each(|mut s| async move {
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    })
    .await
}

/// Open CONNECT tunnel through `proxy` to `target`, the 200 head consumed.
pub async fn tunnel(proxy: SocketAddr, target: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
}

/// Polls `f` every 20 ms until it is true; false if `limit` passes first.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// Polls until something accepts on `addr` (bounded: 5 s).
pub async fn wait_listening(addr: SocketAddr) {
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listening on {addr}");
}

// ---------------------------------------------------------------- proxy under test

pub struct Proxy {
    pub addr: SocketAddr,
    pub handle: ProxyHandle,
    pub task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The proxy on 127.0.0.1:0 with `json` laid over the default settings.
pub async fn proxy(json: serde_json::Value) -> Proxy {
    let mut base = serde_json::json!({ "listen": "127.0.0.1:0" });
    if let (Some(b), Some(extra)) = (base.as_object_mut(), json.as_object()) {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
    let settings = Settings::from_value(base).unwrap();
    let config = settings.validate().unwrap().proxy;
    let server = ProxyServer::bind(config).await.unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let task = tokio::spawn(server.run(std::future::pending()));
    Proxy { addr, handle, task }
}

/// The proxy with `upstream` and nothing else changed.
pub async fn proxy_via(upstream: &str) -> Proxy {
    proxy(serde_json::json!({ "upstream": upstream })).await
}

// ---------------------------------------------------------------- curl

#[derive(Debug)]
pub struct CurlOutput {
    pub status: u16,
    pub body: Vec<u8>,
    pub stderr: String,
    pub exit: i32,
}

impl CurlOutput {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl with `args`; the status code is read from `-w`. The environment's proxy
/// variables are cleared so only the flags decide the route.
pub async fn curl(args: &[&str]) -> CurlOutput {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl is not installed: run scripts/install-test-deps.sh");
    let mut body = out.stdout;
    let split = body.iter().rposition(|b| *b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&body[split..])
        .trim()
        .parse()
        .unwrap_or(0);
    body.truncate(split);
    CurlOutput {
        status,
        body,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit: out.status.code().unwrap_or(-1),
    }
}

/// Sends raw bytes to `addr` and reads until the peer closes or `limit` elapses.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    out
}

/// A reqwest client that sends every request through the HTTP proxy at `proxy_url`.
pub fn proxied_client(proxy_url: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(proxy_url).unwrap())
        .build()
        .unwrap()
}

/// GET `url` with `client`; the body as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Reads an HTTP response head (through the blank line) from a stream.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

pub fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_socksbridge"))
}

/// The listener address in the CLI's ready line (`socksbridge listening on ADDR …`), the
/// first line `child` (spawned with a piped stdout) prints.
pub async fn ready_addr(child: &mut tokio::process::Child) -> SocketAddr {
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(
        &mut tokio::io::BufReader::new(child.stdout.take().expect("a piped stdout")),
        &mut line,
    )
    .await
    .unwrap();
    line.split_whitespace()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("not a ready line: {line:?}"))
}

/// How `child` exited, if it did within `limit`; otherwise it is killed and reaped, and
/// the answer is `None`.
pub fn exits_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
