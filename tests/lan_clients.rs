//! Inbound auth as another machine on the LAN meets it: a client in a network namespace
//! this test creates (a veth pair with addresses of its own, never a real network) reaches
//! the proxy from a non-loopback address. With `exempt_loopback` the desktop itself gets
//! in without credentials; the LAN client still needs them, over HTTP and SOCKS5.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// A network namespace joined to this one by a veth pair: `host` is our side's address,
/// `guest` the namespace's. Removed on drop.
struct Namespace {
    name: String,
    host: String,
}

impl Namespace {
    fn create() -> Namespace {
        let id = std::process::id() % 60_000;
        let name = format!("sbtest{id}");
        let (outer, inner) = (format!("sbo{id}"), format!("sbi{id}"));
        let subnet = format!("10.254.{}.{}", (id / 64) % 256, (id % 64) * 4);
        let base: Vec<u32> = subnet.split('.').map(|p| p.parse().unwrap()).collect();
        let addr = |n: u32| format!("{}.{}.{}.{}", base[0], base[1], base[2], base[3] + n);
        let (host, guest) = (addr(1), addr(2));
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("iproute2");
            assert!(
                out.status.success(),
                "ip {args:?}: {} (this test needs root, as CI has)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let namespace = Namespace {
            name: name.clone(),
            host: host.clone(),
        };
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ]);
        ip(&["link", "set", &inner, "netns", &name]);
        ip(&["addr", "add", &format!("{host}/30"), "dev", &outer]);
        ip(&["link", "set", &outer, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{guest}/30"),
            "dev",
            &inner,
        ]);
        ip(&["-n", &name, "link", "set", &inner, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        namespace
    }

    /// curl run inside the namespace; returns the HTTP status (0 when none). Async: the
    /// proxy under test runs on this test's runtime thread.
    async fn curl(&self, args: &[&str]) -> u16 {
        let out = tokio::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "curl", "-s", "-o", "/dev/null"])
            .args(["-w", "%{http_code}", "--max-time", "10"])
            .args(args)
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it ours.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[tokio::test]
async fn lan_clients_must_authenticate_even_when_loopback_is_exempt() {
    within(60, async {
        let ns = Namespace::create();
        // The origin listens where the proxy can reach it; the LAN client only reaches
        // the proxy, on our side of the pair.
        let origin = origin().await;
        for exempt_loopback in [true, false] {
            let proxy = proxy(json!({
                "listen": format!("{}:0", ns.host),
                "upstream": "direct://",
                "auth": { "username": "alice", "password": "s3cret", "exempt_loopback": exempt_loopback },
            }))
            .await;
            let url = origin.ip_url("/hello");
            let via = format!("http://{}", proxy.addr);
            let with_creds = format!("http://alice:s3cret@{}", proxy.addr);
            // From the LAN: HTTP and SOCKS5, without and with credentials.
            assert_eq!(ns.curl(&["-x", &via, &url]).await, 407, "exempt {exempt_loopback}");
            assert_eq!(ns.curl(&["-x", &with_creds, &url]).await, 200);
            let socks = format!("socks5h://{}", proxy.addr);
            let socks_creds = format!("socks5h://alice:s3cret@{}", proxy.addr);
            assert_eq!(ns.curl(&["-x", &socks, &url]).await, 0, "SOCKS without credentials");
            assert_eq!(ns.curl(&["-x", &socks_creds, &url]).await, 200);
            // From this machine (a loopback source, as the desktop's apps have): in only
            // when exempt.
            let local = curl(&["--interface", "127.0.0.1", "-x", &via, &url]).await;
            assert_eq!(local.status, if exempt_loopback { 200 } else { 407 });
        }
    })
    .await;
}
