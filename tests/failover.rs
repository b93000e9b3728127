//! Servers and failover against real SOCKS servers: Debian's microsocks (killed and
//! restarted in place, as a crash and a restart would) and fast-socks5 in-process, with
//! traffic flowing through the proxy the whole time. Switches are counted: never more
//! than the failures asked for, never within the hold-down.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use socksbridge::config::ServerSettings;
use socksbridge::controller::Controller;
use socksbridge::health::HealthEvent;
use socksbridge::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

/// Two servers, `Primary` chosen, checked every second against `probe`.
fn two_servers(primary: &str, backup: &str, probe: std::net::SocketAddr) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        servers: vec![
            ServerSettings::new("Primary", primary),
            ServerSettings::new("Backup", backup),
        ],
        ..Settings::default()
    };
    settings.app.probe_target = probe.to_string();
    settings.failover.interval_secs = 1;
    settings.failover.failures = 2;
    settings.failover.hold_down_secs = 3;
    settings.timeouts.connect_ms = 1000;
    settings
}

/// Requests through the proxy every 50 ms until told to stop (at most 1200): how many
/// worked and how many failed.
struct Traffic {
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn traffic(proxy: std::net::SocketAddr, url: String) -> Traffic {
    let (ok, failed, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let client = proxied_client(&format!("http://{proxy}"));
    let task = tokio::spawn({
        let (ok, failed, stop) = (Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&stop));
        async move {
            for _ in 0..1200 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let reply = client
                    .get(&url)
                    .timeout(Duration::from_secs(3))
                    .send()
                    .await;
                match reply {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    Traffic {
        ok,
        failed,
        stop,
        task,
    }
}

impl Traffic {
    async fn ok_after(&self, n: usize, limit: Duration) {
        let start = self.ok.load(Ordering::SeqCst);
        let ok = Arc::clone(&self.ok);
        assert!(
            eventually(limit, || ok.load(Ordering::SeqCst) >= start + n).await,
            "traffic did not flow"
        );
    }

    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// The next switch, with the time it was seen; checks on the way are skipped.
async fn next_switch(
    events: &mut broadcast::Receiver<HealthEvent>,
    limit: Duration,
) -> (String, String, bool, Instant) {
    tokio::time::timeout(limit, async {
        loop {
            if let HealthEvent::Switched { from, to, back } = events.recv().await.unwrap() {
                return (from, to, back, Instant::now());
            }
        }
    })
    .await
    .expect("no switch came")
}

fn switches(events: &mut broadcast::Receiver<HealthEvent>) -> usize {
    let mut n = 0;
    while let Ok(event) = events.try_recv() {
        n += usize::from(matches!(event, HealthEvent::Switched { .. }));
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_over_once_and_is_taken_back_once_it_works() {
    within(90, async {
        let origin = origin().await;
        let mut primary = microsocks(None).await;
        let port = primary.addr.port();
        let backup = socks_server().await;
        let settings = two_servers(
            &format!("socks5h://{}", primary.addr),
            &backup.url("socks5h"),
            origin.addr,
        );
        let controller = Controller::new(settings.clone(), None).unwrap();
        let mut events = controller.subscribe();
        let local = controller.start().await.unwrap();
        let load = traffic(local, origin.url("/hello"));
        load.ok_after(10, Duration::from_secs(10)).await;
        assert_eq!(
            backup.connections.load(Ordering::SeqCst),
            0,
            "all through the chosen one"
        );

        primary.kill().await;
        let (from, to, back, left) = next_switch(&mut events, Duration::from_secs(15)).await;
        assert_eq!(
            (from.as_str(), to.as_str(), back),
            ("Primary", "Backup", false)
        );
        let status = controller.status().await;
        assert_eq!(status.server, "Backup");
        assert!(status.servers[0].chosen && !status.servers[0].in_use);
        assert!(status.servers[1].in_use);
        assert!(!status.servers[0].last.as_ref().unwrap().ok);
        assert_eq!(
            controller.settings().await,
            settings,
            "the choice stays the user's"
        );
        // The primary is dead, so every answer now came through the backup: it was asked
        // for the origin. (Counting its new connections raced the pool: a request that
        // slipped in before the count left a pooled connection the rest reused.)
        load.ok_after(10, Duration::from_secs(10)).await;
        let origin_port = format!(":{}", origin.addr.port());
        assert!(
            backup.targets().iter().any(|t| t.ends_with(&origin_port)),
            "{:?}",
            backup.targets()
        );

        let _restarted = microsocks_on(port, None).await;
        let (from, to, back, returned) = next_switch(&mut events, Duration::from_secs(20)).await;
        assert_eq!(
            (from.as_str(), to.as_str(), back),
            ("Backup", "Primary", true)
        );
        assert!(
            returned - left >= Duration::from_secs(3),
            "within the hold-down"
        );
        load.ok_after(10, Duration::from_secs(10)).await;
        // Quiet for a few more checks: no further switch.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (ok, failed) = load.finish().await;
        assert_eq!(switches(&mut events), 0, "exactly two switches");
        assert!(ok > 30, "{ok} worked");
        // Only requests in the seconds before the failover may fail.
        assert!(failed < ok / 2, "{failed} failed, {ok} worked");
        controller.stop().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_server_never_makes_the_proxy_flap() {
    within(90, async {
        let origin = origin().await;
        let first = microsocks(None).await;
        let port = first.addr.port();
        let backup = socks_server().await;
        let mut settings = two_servers(
            &format!("socks5h://{}", first.addr),
            &backup.url("socks5h"),
            origin.addr,
        );
        settings.failover.failures = 1;
        settings.failover.hold_down_secs = 4;
        let controller = Controller::new(settings, None).unwrap();
        let mut events = controller.subscribe();
        // Each switch's time as it happens.
        let recorder = tokio::spawn(async move {
            let mut at = Vec::new();
            while let Ok(event) = events.recv().await {
                if let HealthEvent::Switched { .. } = event {
                    at.push(Instant::now());
                }
            }
            at
        });
        let local = controller.start().await.unwrap();
        let load = traffic(local, origin.url("/hello"));

        // Down 700 ms, up 700 ms, for about 10 s.
        let started = Instant::now();
        let mut server = Some(first);
        for _ in 0..7 {
            if let Some(mut s) = server.take() {
                s.kill().await;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
            server = Some(microsocks_on(port, None).await);
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let elapsed = started.elapsed();
        load.finish().await;
        controller.stop().await.unwrap();
        drop(controller);
        let switched = recorder.await.unwrap();
        let most = (elapsed.as_secs() / 4 + 1) as usize;
        assert!(
            switched.len() <= most,
            "{} switches in {elapsed:?}",
            switched.len()
        );
        assert!(
            !switched.is_empty(),
            "the flapping server was left at least once"
        );
        for pair in switched.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(4),
                "within the hold-down"
            );
        }
        drop(server);
    })
    .await;
}

#[tokio::test]
async fn choosing_another_server_leaves_running_tunnels_where_they_are() {
    within(60, async {
        let echo = echo_server().await;
        let a = socks_server().await;
        let b = socks_server().await;
        let mut settings = two_servers(&a.url("socks5h"), &b.url("socks5h"), echo);
        settings.failover.enabled = false;
        let controller = Controller::new(settings.clone(), None).unwrap();
        let local = controller.start().await.unwrap();
        let mut old = tunnel(local, echo).await;
        assert_eq!(a.connections.load(Ordering::SeqCst), 1);

        let mut chosen = settings.clone();
        chosen.active = "Backup".into();
        controller.apply(chosen).await.unwrap();
        assert_eq!(controller.status().await.server, "Backup");
        let mut new = tunnel(local, echo).await;
        assert_eq!(
            b.connections.load(Ordering::SeqCst),
            1,
            "new ones: the new server"
        );
        for (stream, text) in [(&mut old, b"old".as_slice()), (&mut new, b"new")] {
            stream.write_all(text).await.unwrap();
            let mut buf = [0u8; 3];
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, text, "running tunnels finish where they are");
        }
        assert_eq!(a.connections.load(Ordering::SeqCst), 1);
        controller.stop().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choosing_again_or_turning_failover_off_goes_back_to_the_choice() {
    within(60, async {
        let origin = origin().await;
        let mut primary = microsocks(None).await;
        let port = primary.addr.port();
        let backup = socks_server().await;
        let mut settings = two_servers(
            &format!("socks5h://{}", primary.addr),
            &backup.url("socks5h"),
            origin.addr,
        );
        settings.failover.failures = 1;
        settings.failover.switch_back = false;
        let controller = Controller::new(settings.clone(), None).unwrap();
        let mut events = controller.subscribe();
        controller.start().await.unwrap();
        primary.kill().await;
        let (_, to, _, _) = next_switch(&mut events, Duration::from_secs(15)).await;
        assert_eq!(to, "Backup");
        let _restarted = microsocks_on(port, None).await;

        // A save that changes something else keeps failover's move ...
        let mut other = settings.clone();
        other.timeouts.idle_secs = 60;
        controller.apply(other.clone()).await.unwrap();
        assert_eq!(controller.status().await.server, "Backup");
        // ... choosing the server again goes back to it ...
        controller.use_choice().await.unwrap();
        assert_eq!(controller.status().await.server, "Primary");
        let mut load = traffic(
            controller.status().await.listen.unwrap(),
            origin.url("/hello"),
        );
        load.ok_after(3, Duration::from_secs(10)).await;
        load.stop.store(true, Ordering::SeqCst);
        (&mut load.task).await.unwrap();

        // ... and so does turning failover off after another move.
        drop(_restarted);
        let (_, to, _, _) = next_switch(&mut events, Duration::from_secs(15)).await;
        assert_eq!(to, "Backup");
        let mut off = other;
        off.failover.enabled = false;
        controller.apply(off).await.unwrap();
        assert_eq!(controller.status().await.server, "Primary");
        controller.stop().await.unwrap();
    })
    .await;
}
