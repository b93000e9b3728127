//! UDP over SOCKS5 through the mixed port: a real SOCKS5 UDP client (fast-socks5's, and a
//! raw one for what a well-behaved client never sends) through SocksBridge to a UDP echo
//! server, via an in-process fast-socks5 server with UDP, via one that names `0.0.0.0` as
//! its relay, directly with `direct://`, and refused, with nothing sent, where the server
//! in use cannot carry UDP (microsocks, SOCKS4, an HTTP proxy).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use fast_socks5::client::Socks5Datagram;
use fast_socks5::server::{Config, Socks5Socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// A UDP echo server on loopback; counts what it received.
struct Echo {
    addr: SocketAddr,
    received: Arc<AtomicUsize>,
}

async fn echo() -> Echo {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&received);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            count.fetch_add(1, Ordering::SeqCst);
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    Echo { addr, received }
}

/// fast-socks5 serving CONNECT and UDP ASSOCIATE on loopback, answering with `reply_ip`
/// as its relay's address. Counts its control connections.
async fn udp_socks_server(reply_ip: IpAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut config: Config = Config::default();
                config
                    .set_execute_command(true)
                    .set_dns_resolve(false)
                    .set_udp_support(true);
                let mut socket = Socks5Socket::new(stream, Arc::new(config));
                socket.set_reply_ip(reply_ip);
                let _ = socket.upgrade_to_socks5().await;
            });
        }
    });
    (addr, connections)
}

/// A fast-socks5 client association through `proxy`.
async fn client(proxy: SocketAddr) -> Result<Socks5Datagram<TcpStream>, String> {
    let control = TcpStream::connect(proxy).await.unwrap();
    Socks5Datagram::bind(control, "127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())
}

async fn round_trip(client: &Socks5Datagram<TcpStream>, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    client.send_to(payload, to).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    assert_eq!(
        from.to_string(),
        to.to_string(),
        "the answer names its source"
    );
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn datagrams_round_trip_through_a_socks5_server_with_udp() {
    within(30, async {
        let echo = echo().await;
        let (server, connections) = udp_socks_server(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
        let proxy = proxy_via(&format!("socks5://{server}")).await;
        let client = client(proxy.addr).await.expect("the ASSOCIATE is granted");
        for payload in [&b"ping"[..], &[0u8; 1400][..], b""] {
            assert_eq!(round_trip(&client, echo.addr, payload).await, payload);
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "through the server");
        let connections = proxy.handle.connections();
        let listed = connections
            .connections
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .find(|c| c["kind"] == "udp")
            .expect("listed in the Connections view");
        assert_eq!(
            listed["udp"],
            serde_json::json!({
                "datagrams_up": 3,
                "datagrams_down": 3,
                "targets": [echo.addr.to_string()],
                "more_targets": false,
            })
        );
        assert_eq!(
            (listed["up"].as_u64(), listed["down"].as_u64()),
            (Some(1404), Some(1404))
        );
    })
    .await;
}

#[tokio::test]
async fn a_server_naming_0_0_0_0_as_its_relay_is_reached_at_its_own_address() {
    within(30, async {
        let echo = echo().await;
        let (server, _) = udp_socks_server(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).await;
        let proxy = proxy_via(&format!("socks5h://{server}")).await;
        let client = client(proxy.addr).await.expect("the ASSOCIATE is granted");
        assert_eq!(round_trip(&client, echo.addr, b"hello").await, b"hello");
    })
    .await;
}

#[tokio::test]
async fn with_direct_datagrams_go_straight_to_the_target() {
    within(30, async {
        let echo = echo().await;
        let proxy = proxy_via("direct://").await;
        let client = client(proxy.addr).await.expect("the ASSOCIATE is granted");
        assert_eq!(round_trip(&client, echo.addr, b"direct").await, b"direct");
        assert_eq!(echo.received.load(Ordering::SeqCst), 1);

        // The Connections view lists the first eight targets and says there were more.
        let mut targets = vec![echo.addr];
        for _ in 0..9 {
            let other = SocketAddr::new(echo.addr.ip(), free_port().await);
            client.send_to(b"x", other).await.unwrap();
            targets.push(other);
        }
        let listed = |proxy: &Proxy| {
            let view = proxy.handle.connections();
            serde_json::to_value(&view.connections[0]).unwrap()["udp"].clone()
        };
        assert!(
            eventually(Duration::from_secs(5), || listed(&proxy)["datagrams_up"]
                == 10)
            .await,
            "{}",
            listed(&proxy)
        );
        let shown: Vec<String> = targets[..8].iter().map(|t| t.to_string()).collect();
        assert_eq!(listed(&proxy)["targets"], serde_json::json!(shown));
        assert_eq!(listed(&proxy)["more_targets"], true);
    })
    .await;
}

/// Where the server in use cannot carry UDP the ASSOCIATE is refused with "command not
/// supported", and nothing at all is sent: never directly behind the user's back.
#[tokio::test]
async fn where_the_server_cannot_carry_udp_the_associate_is_refused_and_nothing_is_sent() {
    within(60, async {
        let echo = echo().await;
        let microsocks = microsocks(None).await;
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let servers = [
            format!("socks5h://{}", microsocks.addr),
            format!("socks4a://{}", microsocks.addr),
            format!("http://{}", http.local_addr().unwrap()),
        ];
        for upstream in servers {
            let proxy = proxy_via(&upstream).await;
            let mut control = TcpStream::connect(proxy.addr).await.unwrap();
            let reply = raw_associate(&mut control).await;
            assert_eq!(reply[1], 0x07, "{upstream}: command not supported");
            let refused = client(proxy.addr).await;
            assert!(refused.is_err(), "{upstream}");
        }
        // And with UDP turned off in the settings.
        let proxy = proxy(serde_json::json!({ "upstream": "direct://", "udp": false })).await;
        let mut control = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(raw_associate(&mut control).await[1], 0x07);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(echo.received.load(Ordering::SeqCst), 0, "nothing was sent");
    })
    .await;
}

/// Greeting and `UDP ASSOCIATE 0.0.0.0:0` by hand; returns the reply.
async fn raw_associate(control: &mut TcpStream) -> Vec<u8> {
    control.write_all(&[5, 1, 0]).await.unwrap();
    let mut choice = [0u8; 2];
    control.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 0]);
    control
        .write_all(&[5, 3, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut reply = vec![0u8; 10];
    control.read_exact(&mut reply).await.unwrap();
    reply
}

/// The relay address of a granted reply (IPv4).
fn relay_of(reply: &[u8]) -> SocketAddr {
    assert_eq!((reply[0], reply[1], reply[3]), (5, 0, 1), "{reply:?}");
    SocketAddr::from((
        [reply[4], reply[5], reply[6], reply[7]],
        u16::from_be_bytes([reply[8], reply[9]]),
    ))
}

fn datagram_to(target: SocketAddr, frag: u8, payload: &[u8]) -> Vec<u8> {
    let SocketAddr::V4(v4) = target else {
        panic!("IPv4 only here")
    };
    let mut out = vec![0, 0, frag, 1];
    out.extend_from_slice(&v4.ip().octets());
    out.extend_from_slice(&v4.port().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Only the client's own address is relayed, fragments are dropped, and the
/// association ends with its control connection.
#[tokio::test]
async fn strangers_and_fragments_are_dropped_and_the_association_ends_with_its_control() {
    within(30, async {
        let echo = echo().await;
        let proxy = proxy_via("direct://").await;
        let mut control = TcpStream::connect(proxy.addr).await.unwrap();
        let relay = relay_of(&raw_associate(&mut control).await);
        let mine = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        mine.connect(relay).await.unwrap();
        let mut buf = vec![0u8; 2048];

        // The first datagram names the client's port.
        mine.send(&datagram_to(echo.addr, 0, b"one")).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), mine.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[n - 3..n], b"one");

        // Another port of the same machine is a stranger; a fragment is dropped.
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        stranger
            .send_to(&datagram_to(echo.addr, 0, b"stranger"), relay)
            .await
            .unwrap();
        mine.send(&datagram_to(echo.addr, 1, b"fragment"))
            .await
            .unwrap();
        mine.send(&datagram_to(echo.addr, 0, b"two")).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), mine.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[n - 3..n], b"two");
        assert_eq!(
            echo.received.load(Ordering::SeqCst),
            2,
            "only the client's two"
        );

        // The control connection closes: the relay goes with it.
        drop(control);
        let gone = eventually(Duration::from_secs(5), || {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            probe.connect(relay).unwrap();
            probe
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let _ = probe.send(b"x");
            matches!(
                probe.recv(&mut [0u8; 16]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
            )
        })
        .await;
        // Nothing is bound to the relay's port any more: it can relay nothing. (A datagram
        // sent there afterwards tested nothing of ours: tests running beside this one may
        // be given the freed port for their own relay, which then relays it.)
        assert!(gone, "the relay is closed once the control connection is");
    })
    .await;
}

/// 10,000 datagrams through a SOCKS5 server and back, sixteen in flight at most: none
/// lost on loopback.
#[tokio::test]
async fn ten_thousand_datagrams_round_trip_with_none_lost() {
    within(120, async {
        let echo = echo().await;
        let (server, _) = udp_socks_server(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
        let proxy = proxy_via(&format!("socks5://{server}")).await;
        let client = client(proxy.addr).await.expect("the ASSOCIATE is granted");
        const TOTAL: u32 = 10_000;
        const WINDOW: u32 = 16;
        let mut buf = vec![0u8; 2048];
        let (mut sent, mut back) = (0u32, 0u32);
        while back < TOTAL {
            while sent < TOTAL && sent - back < WINDOW {
                client
                    .send_to(&sent.to_be_bytes(), echo.addr)
                    .await
                    .unwrap();
                sent += 1;
            }
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("datagram {back} of {TOTAL} lost"))
                .unwrap();
            assert_eq!(n, 4);
            back += 1;
        }
        assert_eq!(echo.received.load(Ordering::SeqCst), TOTAL as usize);
    })
    .await;
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A flood from one client (200,000 datagrams of 1,400 bytes, sent as fast as the socket
/// takes them, the answers never read) costs the real binary at most 16 MiB of resident
/// memory: one datagram at a time, so the excess waits in the kernel and is dropped
/// there. The association still answers afterwards.
#[tokio::test]
async fn a_flood_from_one_client_keeps_memory_flat() {
    within(120, async {
        let echo = echo().await;
        let mut child = tokio::process::Command::new(bin_path())
            .args(["--listen", "127.0.0.1:0", "--upstream", "direct://"])
            .args(["--log-level", "error"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let proxy = ready_addr(&mut child).await;
        let mut control = TcpStream::connect(proxy).await.unwrap();
        let relay = relay_of(&raw_associate(&mut control).await);
        let mine = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        mine.connect(relay).await.unwrap();
        let ping = datagram_to(echo.addr, 0, b"ping");
        let mut buf = vec![0u8; 2048];
        mine.send(&ping).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), mine.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let before = rss_kib(pid);

        let flood = datagram_to(echo.addr, 0, &[0x5a; 1400]);
        for _ in 0..200_000 {
            let _ = mine.send(&flood).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib(pid);
        assert!(
            after < before + 16 * 1024,
            "RSS went from {before} KiB to {after} KiB"
        );

        // Drain what came back, then one more round trip.
        while tokio::time::timeout(Duration::from_millis(200), mine.recv(&mut buf))
            .await
            .is_ok()
        {}
        mine.send(&ping).await.unwrap();
        let answered = loop {
            match tokio::time::timeout(Duration::from_secs(5), mine.recv(&mut buf)).await {
                Ok(Ok(n)) if buf[..n].ends_with(b"ping") => break true,
                Ok(Ok(_)) => continue,
                _ => break false,
            }
        };
        assert!(answered, "the association still answers after the flood");
        println!("RSS {before} KiB before the flood, {after} KiB after");
    })
    .await;
}

/// The first check of the server in use, with UDP relaying `udp`.
async fn first_check(upstream: &str, probe: SocketAddr, udp: bool) -> socksbridge::health::Check {
    use socksbridge::controller::{Checks, Controller};
    use socksbridge::health::HealthEvent;
    let mut settings = socksbridge::Settings {
        listen: "127.0.0.1:0".into(),
        udp,
        ..socksbridge::Settings::default().with_upstream(upstream)
    };
    settings.app.probe_target = probe.to_string();
    settings.failover.interval_secs = 3600;
    let controller = Controller::new(settings, None)
        .unwrap()
        .with_checks(Checks::Always);
    let mut events = controller.subscribe();
    controller.start().await.unwrap();
    let check = loop {
        if let HealthEvent::Checked { check, .. } = events.recv().await.unwrap() {
            break check;
        }
    };
    assert_eq!(
        controller.status().await.servers[0].last.as_ref(),
        Some(&check),
        "the window and the tray see it"
    );
    controller.stop().await.unwrap();
    check
}

/// The health check learns per server whether it carries UDP, and says why not in the
/// catalogue's words; with UDP off it does not ask.
#[tokio::test]
async fn the_health_check_learns_which_servers_carry_udp() {
    within(60, async {
        let origin = origin().await;
        let (with_udp, associations) = udp_socks_server(IpAddr::V4(Ipv4Addr::LOCALHOST)).await;
        let microsocks = microsocks(None).await;
        // Our own mixed port speaks SOCKS4a and HTTP: a server of each kind that works for TCP.
        let mixed = proxy_via("direct://").await;

        let yes = first_check(&format!("socks5h://{with_udp}"), origin.addr, true).await;
        assert!(yes.ok, "{yes:?}");
        assert_eq!(yes.udp.as_ref().map(|u| u.ok), Some(true), "{yes:?}");
        // One control connection for the TCP check, one for the ASSOCIATE.
        assert_eq!(associations.load(Ordering::SeqCst), 2);

        for (upstream, says) in [
            (
                format!("socks5h://{}", microsocks.addr),
                "command not supported",
            ),
            (format!("socks4a://{}", mixed.addr), "SOCKS4 has no UDP"),
            (
                format!("http://{}", mixed.addr),
                "an HTTP proxy carries only TCP",
            ),
        ] {
            let no = first_check(&upstream, origin.addr, true).await;
            assert!(no.ok, "{upstream}: TCP works: {no:?}");
            let udp = no.udp.expect("UDP was asked about");
            assert!(!udp.ok, "{upstream}");
            let message = udp.message.expect("a reason");
            assert_eq!(message.key, "core.err_udp_refused");
            assert!(message.english().contains(says), "{upstream}: {message}");
        }

        let off = first_check(&format!("socks5h://{with_udp}"), origin.addr, false).await;
        assert!(off.ok && off.udp.is_none(), "{off:?}");
        assert_eq!(associations.load(Ordering::SeqCst), 3, "only the TCP check");
    })
    .await;
}
