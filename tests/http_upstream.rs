//! HTTP proxies as the upstream and as the hop in front of it, against Debian's tinyproxy
//! (started per test on a free loopback port, with Basic auth): every request goes
//! through a CONNECT tunnel; a refusal or wrong password is a 502 naming the proxy and
//! its answer; a SOCKS server reached through an office HTTP proxy; bytes a server sends
//! right behind the proxy's 200 reach the client. HTTPS proxies: tinyproxy behind a TLS
//! front with its own CA, trusted through the OS trust store's `SSL_CERT_FILE` (the real
//! binary, so the environment is its own) and refused while untrusted.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Tinyproxy {
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl Tinyproxy {
    /// tinyproxy requiring `alice:secret`; `connect_ports` limits CONNECT (empty: any).
    async fn start(connect_ports: &[u16]) -> Tinyproxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().await;
        let log = dir.path().join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nAllow 127.0.0.1\n\
             LogLevel Connect\nLogFile \"{}\"\nBasicAuth alice secret\nDisableViaHeader Yes\n",
            log.display()
        );
        for p in connect_ports {
            conf.push_str(&format!("ConnectPort {p}\n"));
        }
        let path = dir.path().join("tinyproxy.conf");
        std::fs::write(&path, conf).unwrap();
        let child = tokio::process::Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tinyproxy is not installed: run scripts/install-test-deps.sh");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_listening(addr).await;
        Tinyproxy {
            addr,
            log,
            _dir: dir,
            _child: child,
        }
    }

    fn url(&self, credentials: &str) -> String {
        format!("http://{credentials}@{}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[tokio::test]
async fn an_http_upstream_carries_plain_requests_and_tunnels_all_as_connect() {
    within(30, async {
        let tinyproxy = Tinyproxy::start(&[]).await;
        let origin = origin().await;
        let proxy = proxy_via(&tinyproxy.url("alice:secret")).await;

        let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{out:?}");

        let echo = echo_server().await;
        let mut stream = tunnel(proxy.addr, echo).await;
        stream.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");

        let log = tinyproxy.log();
        assert!(
            log.contains(&format!("CONNECT {} HTTP/1.1", origin.addr)),
            "the plain request went through a tunnel: {log}"
        );
        assert!(log.contains(&format!("CONNECT {echo} HTTP/1.1")), "{log}");
        assert!(!log.contains("GET http://"), "{log}");
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_is_a_502_naming_the_http_proxy() {
    within(30, async {
        let tinyproxy = Tinyproxy::start(&[]).await;
        let origin = origin().await;
        let proxy = proxy_via(&tinyproxy.url("alice:wrong")).await;
        let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
        assert_eq!(out.status, 502, "{out:?}");
        assert!(
            out.text().contains(&format!(
                "HTTP proxy {} rejected our credentials",
                tinyproxy.addr
            )),
            "{}",
            out.text()
        );
    })
    .await;
}

#[tokio::test]
async fn a_refused_tunnel_is_a_502_with_the_proxys_own_answer() {
    within(30, async {
        let tinyproxy = Tinyproxy::start(&[443]).await;
        let origin = origin().await;
        let proxy = proxy_via(&tinyproxy.url("alice:secret")).await;
        let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
        assert_eq!(out.status, 502, "{out:?}");
        let text = out.text();
        assert!(
            text.contains(&format!(
                "HTTP proxy {} refused the tunnel to {}: 403",
                tinyproxy.addr, origin.addr
            )),
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_socks_server_is_reached_through_an_office_http_proxy() {
    within(30, async {
        let office = Tinyproxy::start(&[]).await;
        let socks = microsocks(Some(("bob", "pw"))).await;
        let origin = origin().await;
        let upstream = format!("socks5h://bob:pw@{}", socks.addr);
        let via = office.url("alice:secret");
        let proxy = proxy(json!({ "upstream": upstream, "upstream_via": via })).await;

        for _ in 0..3 {
            let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
            assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{out:?}");
        }
        let log = office.log();
        assert!(
            log.contains(&format!("CONNECT {} HTTP/1.1", socks.addr)),
            "the SOCKS server was reached through the office proxy: {log}"
        );
        assert!(
            !log.contains(&origin.addr.to_string()),
            "the office proxy never sees the target: {log}"
        );

        // The Test button goes the same way.
        let upstream = socksbridge::config::Upstream::parse(&upstream).unwrap();
        let via = socksbridge::config::Upstream::parse_via(&via).unwrap();
        let target =
            socksbridge::target::Target::parse_authority(&origin.addr.to_string()).unwrap();
        let took = socksbridge::probe(&upstream, Some(&via), &target, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            took > Duration::ZERO && took < Duration::from_secs(5),
            "{took:?}"
        );

        // The office proxy refusing the way to the SOCKS server is named as such.
        drop(office);
        let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
        assert_eq!(out.status, 502, "{out:?}");
        assert!(out.text().contains("HTTP proxy"), "{}", out.text());
    })
    .await;
}

/// A proxy whose 200 and the target's first bytes arrive in one segment, as a server that
/// speaks first (SSH, SMTP) can cause: none of those bytes may be lost.
#[tokio::test]
async fn bytes_right_behind_the_proxys_answer_reach_the_client() {
    within(30, async {
        let fake = serve_each(|mut s| async move {
            if !read_head(&mut s).await.ends_with("\r\n\r\n") {
                return;
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-banner\r\n")
                .await;
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        })
        .await;
        let proxy = proxy_via(&format!("http://{fake}")).await;
        let mut stream = tunnel(proxy.addr, "127.0.0.1:22".parse().unwrap()).await;
        let mut banner = [0u8; 16];
        stream.read_exact(&mut banner).await.unwrap();
        assert_eq!(&banner, b"SSH-2.0-banner\r\n");
    })
    .await;
}

/// A proxy that answers the CONNECT with `header_bytes` of headers before the blank line.
async fn proxy_answering_with_headers(header_bytes: usize) -> SocketAddr {
    serve_each(move |mut s| async move {
        if !read_head(&mut s).await.ends_with("\r\n\r\n") {
            return;
        }
        let mut answer = b"HTTP/1.1 200 Connection established\r\n".to_vec();
        while answer.len() < header_bytes {
            // Long values: a few headers make the bytes (httparse takes up to 64).
            answer.extend_from_slice(format!("X-Padding: {}\r\n", "a".repeat(1000)).as_bytes());
        }
        answer.extend_from_slice(b"\r\nhi");
        let _ = s.write_all(&answer).await;
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
    })
    .await
}

/// Proxies add headers (Via, Date, their own); 16 KiB of them are accepted, more is
/// refused with a reason rather than read without end.
#[tokio::test]
async fn long_answer_heads_are_read_up_to_a_limit() {
    within(30, async {
        let verbose = proxy_via(&format!(
            "http://{}",
            proxy_answering_with_headers(8 * 1024).await
        ))
        .await;
        let mut stream = tunnel(verbose.addr, "127.0.0.1:22".parse().unwrap()).await;
        let mut hi = [0u8; 2];
        stream.read_exact(&mut hi).await.unwrap();
        assert_eq!(&hi, b"hi");

        let endless = proxy_via(&format!(
            "http://{}",
            proxy_answering_with_headers(20 * 1024).await
        ))
        .await;
        let answer = raw_exchange(
            endless.addr,
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        assert!(answer.contains("longer than 16384 bytes"), "{answer}");
    })
    .await;
}

/// A TLS front for `backend` (tinyproxy): an HTTPS proxy for `localhost`, its
/// certificate self-signed; `ca_file` holds it for a trust store.
struct TlsFront {
    port: u16,
    ca_file: tempfile::NamedTempFile,
}

async fn tls_front(backend: SocketAddr) -> TlsFront {
    let (acceptor, ca_file) = localhost_tls();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut back) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
            });
        }
    });
    TlsFront { port, ca_file }
}

/// The real binary with `args`, trusting `ca_file` (SSL_CERT_FILE); its listen address.
async fn binary_trusting(
    ca_file: &std::path::Path,
    args: &[&str],
) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(bin_path())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("SSL_CERT_FILE", ca_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .unwrap()
        .unwrap();
    let addr = line.split_whitespace().nth(3).unwrap().to_string();
    (child, format!("http://{addr}"))
}

#[tokio::test]
async fn an_https_proxy_carries_traffic_over_tls_once_its_certificate_is_trusted() {
    within(60, async {
        let office = Tinyproxy::start(&[]).await;
        let front = tls_front(office.addr).await;
        let origin = origin().await;
        let https = format!("https://alice:secret@localhost:{}", front.port);

        // As the upstream: plain requests and tunnels, all as CONNECT over TLS.
        let (_cli, proxy) = binary_trusting(front.ca_file.path(), &["--upstream", &https]).await;
        for url in [origin.ip_url("/hello"), origin.url("/hello")] {
            let out = curl(&["-x", &proxy, &url]).await;
            assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{out:?}");
        }
        let out = curl(&["-p", "-x", &proxy, &origin.ip_url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{out:?}");
        assert!(office
            .log()
            .contains(&format!("CONNECT {} HTTP/1.1", origin.addr)));
        // A large upload through the TLS tunnel, answered only once all of it arrived: no
        // byte may stay behind in TLS's buffers.
        let upload = tempfile::NamedTempFile::new().unwrap();
        let body: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(upload.path(), &body).unwrap();
        let data = format!("@{}", upload.path().display());
        let echo = origin.ip_url("/echo");
        let out = curl(&["-p", "-x", &proxy, "--data-binary", &data, &echo]).await;
        assert_eq!(out.status, 200, "{} bytes", out.body.len());
        assert!(
            out.body == body,
            "{} bytes came back of {}",
            out.body.len(),
            body.len()
        );

        // As the hop in front of a SOCKS server.
        let socks = microsocks(None).await;
        let (_cli, proxy) = binary_trusting(
            front.ca_file.path(),
            &[
                "--upstream",
                &format!("socks5h://{}", socks.addr),
                "--upstream-via",
                &https,
            ],
        )
        .await;
        let out = curl(&["-x", &proxy, &origin.ip_url("/hello")]).await;
        assert_eq!((out.status, out.text().as_str()), (200, "hello"), "{out:?}");
        assert!(office
            .log()
            .contains(&format!("CONNECT {} HTTP/1.1", socks.addr)));
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_https_proxy_is_a_502_naming_the_certificate() {
    within(30, async {
        let office = Tinyproxy::start(&[]).await;
        let front = tls_front(office.addr).await;
        let origin = origin().await;
        let proxy = proxy_via(&format!("https://alice:secret@localhost:{}", front.port)).await;
        let out = curl(&["-x", &proxy.url(), &origin.ip_url("/hello")]).await;
        assert_eq!(out.status, 502, "{out:?}");
        let text = out.text();
        assert!(
            text.contains(&format!("HTTPS proxy localhost:{}", front.port))
                && text.contains("TLS handshake failed: invalid peer certificate"),
            "{text}"
        );
        let log = office.log();
        assert!(
            !log.contains(&format!("CONNECT {} HTTP", origin.addr)),
            "nothing was asked of an unverified proxy: {log}"
        );
    })
    .await;
}
