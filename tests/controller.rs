//! The controller the tray app drives: start/stop/apply move the proxy and the OS setting
//! together, against real gsettings in a private D-Bus session.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::session::Session;
use common::*;
use socksbridge::config::SystemProxyMode;
use socksbridge::controller::{Checks, Controller, NetworkRefresh};
use socksbridge::health::HealthEvent;
use socksbridge::system_proxy::gnome::Gnome;
use socksbridge::system_proxy::{CommandEnv, SystemProxy};
use socksbridge::Settings;

fn system_proxy(session: &Session) -> Arc<SystemProxy> {
    let mut env = CommandEnv::new();
    for (k, v) in session.env() {
        env = env.with(&k, &v);
    }
    Arc::new(SystemProxy::new(
        Box::new(Gnome::new(env)),
        session.state_file(),
    ))
}

fn settings(mode: SystemProxyMode) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        ..Settings::default().with_upstream("direct://")
    };
    s.system_proxy.mode = mode;
    s
}

#[tokio::test]
async fn start_apply_and_stop_move_the_os_setting_with_the_proxy() {
    within(60, async {
        let session = Session::start("GNOME");
        let before = session.gnome_listing();
        let origin = origin().await;
        let controller = Controller::new(
            settings(SystemProxyMode::Global),
            Some(system_proxy(&session)),
        )
        .unwrap();

        let local = controller.start().await.unwrap();
        let status = controller.status().await;
        assert!(status.running);
        assert_eq!(status.system_proxy, SystemProxyMode::Global);
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy.http", "port"]),
            local.port().to_string()
        );

        // A tunnel opened now survives a switch to PAC mode.
        let mut tunnel = tokio::net::TcpStream::connect(local).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tunnel
            .write_all(format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", origin.addr).as_bytes())
            .await
            .unwrap();
        assert!(read_head(&mut tunnel).await.starts_with("HTTP/1.1 200"));
        let mut pac = settings(SystemProxyMode::Pac);
        pac.listen = local.to_string();
        controller.apply(pac).await.unwrap();
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy", "mode"]),
            "'auto'"
        );
        assert!(session
            .gsettings(&["get", "org.gnome.system.proxy", "autoconfig-url"])
            .starts_with(&format!("'http://{local}/proxy.pac?v=")));
        tunnel
            .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        tunnel.read_to_string(&mut reply).await.unwrap();
        assert!(reply.ends_with("hello"), "{reply}");

        // Moving the listener re-points the OS at the new port.
        let port = free_port().await;
        let mut moved = settings(SystemProxyMode::Global);
        moved.listen = format!("127.0.0.1:{port}");
        controller.apply(moved.clone()).await.unwrap();
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy", "mode"]),
            "'manual'"
        );
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy.http", "port"]),
            port.to_string()
        );

        // Mode off while running: the user's setting is back, the proxy keeps serving.
        let mut off = settings(SystemProxyMode::Off);
        off.listen = format!("127.0.0.1:{port}");
        controller.apply(off).await.unwrap();
        assert_eq!(session.gnome_listing(), before);
        assert_eq!(
            curl(&[
                "-x",
                &format!("http://127.0.0.1:{port}"),
                &origin.url("/hello")
            ])
            .await
            .status,
            200
        );

        controller.apply(moved).await.unwrap();
        controller.stop().await.unwrap();
        assert_eq!(session.gnome_listing(), before);
        assert!(!session.state_file().exists());
        assert!(!controller.status().await.running);
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn a_failed_os_change_leaves_the_proxy_off_and_the_setting_untouched() {
    within(60, async {
        let session = Session::start("GNOME");
        let before = session.gnome_listing();
        let broken = Arc::new(SystemProxy::new(
            Box::new(Gnome::new(
                CommandEnv::new()
                    .with("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
                    .with("HOME", &session.env()[0].1)
                    .with("XDG_CONFIG_HOME", &session.env()[1].1),
            )),
            session.state_file(),
        ));
        let controller = Controller::new(settings(SystemProxyMode::Global), Some(broken)).unwrap();
        let err = controller.start().await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("system proxy: the system proxy setting did not take"),
            "{err}"
        );
        assert!(!controller.status().await.running);
        assert_eq!(session.gnome_listing(), before);
        assert!(!session.state_file().exists());
    })
    .await;
}

/// Settings with a fixed upstream and no system proxy, for the data-path tests below.
fn via(upstream: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        ..Settings::default().with_upstream(upstream)
    }
}

/// An origin, two recording SOCKS servers, and a controller (no system proxy backend)
/// running through the first.
struct TwoUpstreams {
    origin: Origin,
    first: SocksServer,
    second: SocksServer,
    settings: Settings,
    controller: Controller,
    local: std::net::SocketAddr,
}

async fn running_through_the_first() -> TwoUpstreams {
    let origin = origin().await;
    let first = socks_server().await;
    let second = socks_server().await;
    let settings = via(&first.url("socks5h"));
    let controller = Controller::new(settings.clone(), None).unwrap();
    let local = controller.start().await.unwrap();
    TwoUpstreams {
        origin,
        first,
        second,
        settings,
        controller,
        local,
    }
}

#[tokio::test]
async fn a_change_outside_the_data_path_keeps_pooled_upstream_connections() {
    within(60, async {
        let TwoUpstreams {
            origin,
            first,
            second,
            settings,
            controller,
            local,
        } = running_through_the_first().await;
        let client = proxied_client(&format!("http://{local}"));
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        assert_eq!(first.connections.load(Ordering::SeqCst), 1);

        // Neither of these touches how targets are dialled: the pooled connection
        // through the SOCKS server carries on.
        let mut changed = settings.clone();
        changed.app.start_at_login = true;
        changed.app.probe_target = "example.org:443".into();
        controller.apply(changed.clone()).await.unwrap();
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        changed.system_proxy.bypass.push("*.corp.example".into());
        changed.timeouts.idle_secs = 30;
        changed.max_connections = 100;
        controller.apply(changed.clone()).await.unwrap();
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        assert_eq!(first.connections.load(Ordering::SeqCst), 1);
        assert_eq!(controller.settings().await, changed);

        // A new upstream is a new pool.
        changed = changed.with_upstream(&second.url("socks5h"));
        controller.apply(changed).await.unwrap();
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        assert_eq!(first.connections.load(Ordering::SeqCst), 1);
        assert_eq!(second.connections.load(Ordering::SeqCst), 1);
        controller.stop().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_failed_apply_leaves_the_previous_settings_running() {
    within(60, async {
        // No system proxy backend: asking for one fails after the data path reloaded.
        let TwoUpstreams {
            origin,
            first,
            second,
            settings,
            controller,
            local,
        } = running_through_the_first().await;
        let mut wanted = via(&second.url("socks5h"));
        wanted.system_proxy.mode = SystemProxyMode::Global;
        let err = controller.apply(wanted).await.unwrap_err();
        assert!(err.to_string().contains("no system proxy setting"), "{err}");
        assert_eq!(controller.settings().await, settings);
        assert_eq!(controller.status().await.system_proxy, SystemProxyMode::Off);

        let mut invalid = settings.clone();
        invalid = invalid.with_upstream("socks9://nowhere");
        let err = controller.apply(invalid).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid settings: servers[0].url"),
            "{err}"
        );
        assert_eq!(controller.settings().await, settings);

        // Traffic still takes the first upstream.
        let reply = curl(&["-x", &format!("http://{local}"), &origin.url("/hello")]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(first.connections.load(Ordering::SeqCst), 1);
        assert_eq!(second.connections.load(Ordering::SeqCst), 0);
        controller.stop().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_server_in_use_is_checked_through_it_and_reported() {
    within(60, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let dead = free_port().await;
        let mut settings = via(&socks.url("socks5h"));
        settings.app.probe_target = origin.addr.to_string();
        settings.failover.interval_secs = 3600;
        let controller = Controller::new(settings.clone(), None)
            .unwrap()
            .with_checks(Checks::Always);
        let mut events = controller.subscribe();
        controller.start().await.unwrap();
        // The first check comes at once, through the SOCKS server, to the probe target.
        let HealthEvent::Checked {
            server,
            in_use,
            check,
        } = events.recv().await.unwrap()
        else {
            panic!("not a check");
        };
        assert!(in_use && check.ok, "{check:?}");
        assert_eq!(server, controller.status().await.server);
        assert!(check.latency_ms.unwrap() > 0.0);
        assert!(socks.targets().contains(&origin.addr.to_string()));
        let status = controller.status().await;
        assert_eq!(status.servers[0].last.as_ref(), Some(&check));

        // check_now does not wait for the hour-long interval.
        controller.check_now();
        let again = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv()).await;
        assert!(
            matches!(again, Ok(Ok(HealthEvent::Checked { .. }))),
            "{again:?}"
        );

        // A dead server: the error names it (new settings check at once).
        let down = settings
            .clone()
            .with_upstream(&format!("socks5h://127.0.0.1:{dead}"));
        controller.apply(down).await.unwrap();
        let check = loop {
            if let HealthEvent::Checked { check, .. } = events.recv().await.unwrap() {
                if !check.ok {
                    break check;
                }
            }
        };
        let error = check.error.unwrap();
        assert!(error.contains(&format!("127.0.0.1:{dead}")), "{error}");

        // Without Checks::Always a lone server is never dialled behind the user's back.
        controller.stop().await.unwrap();
        let quiet = Controller::new(settings, None).unwrap();
        let before = socks.targets().len();
        quiet.start().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(socks.targets().len(), before);
        assert!(quiet.status().await.servers[0].last.is_none());
        quiet.stop().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_test_button_probe_reaches_or_names_the_failure() {
    within(30, async {
        let origin = origin().await;
        let socks = socks_server().await;
        let target = socksbridge::target::Target::from(origin.addr);
        let limit = std::time::Duration::from_secs(5);
        let up = socksbridge::config::Upstream::parse(&socks.url("socks5h")).unwrap();
        assert!(
            socksbridge::probe(&up, None, &target, limit).await.unwrap()
                > std::time::Duration::ZERO
        );
        assert_eq!(socks.connections.load(Ordering::SeqCst), 1);
        let dead = free_port().await;
        let down =
            socksbridge::config::Upstream::parse(&format!("socks5h://127.0.0.1:{dead}")).unwrap();
        let err = socksbridge::probe(&down, None, &target, limit)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is unreachable"), "{err}");
    })
    .await;
}

/// Resume or a network change: pooled upstream connections may be dead, so they go; a
/// tunnel in use stays.
#[tokio::test]
async fn a_network_change_drops_pooled_connections_and_keeps_running_tunnels() {
    within(60, async {
        let TwoUpstreams {
            origin,
            first,
            controller,
            local,
            ..
        } = running_through_the_first().await;
        let client = proxied_client(&format!("http://{local}"));
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        let mut open = tunnel(local, echo_server().await).await;
        assert_eq!(first.connections.load(Ordering::SeqCst), 2);

        assert_eq!(
            controller.network_changed().await.unwrap(),
            NetworkRefresh::PoolDropped
        );
        assert_eq!(get_text(&client, &origin.url("/hello")).await, "hello");
        assert_eq!(
            first.connections.load(Ordering::SeqCst),
            3,
            "the next request dialled afresh"
        );
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        open.write_all(b"still").await.unwrap();
        let mut buf = [0u8; 5];
        open.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still");
        controller.stop().await.unwrap();
        assert_eq!(
            controller.network_changed().await.unwrap(),
            NetworkRefresh::NotRunning
        );
    })
    .await;
}

/// The OS setting is applied again only while it is ours: never over the user's own
/// change, and never when the user turned it off.
#[tokio::test]
async fn after_a_network_change_the_os_setting_is_reapplied_only_while_ours() {
    within(60, async {
        let session = Session::start("GNOME");
        let controller = Controller::new(
            settings(SystemProxyMode::Global),
            Some(system_proxy(&session)),
        )
        .unwrap();
        controller.start().await.unwrap();
        let ours = session.gsettings(&["get", "org.gnome.system.proxy", "ignore-hosts"]);
        // Something reset one of our keys meanwhile (the setting still reads as ours).
        session.gsettings(&["reset", "org.gnome.system.proxy", "ignore-hosts"]);
        assert_ne!(
            session.gsettings(&["get", "org.gnome.system.proxy", "ignore-hosts"]),
            ours
        );
        assert_eq!(
            controller.network_changed().await.unwrap(),
            NetworkRefresh::Reapplied
        );
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy", "ignore-hosts"]),
            ours
        );

        // The user switches the proxy off by hand: it stays off.
        session.gsettings(&["set", "org.gnome.system.proxy", "mode", "none"]);
        assert_eq!(
            controller.network_changed().await.unwrap(),
            NetworkRefresh::LeftUsersSetting
        );
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy", "mode"]),
            "'none'"
        );
        controller.stop().await.unwrap();

        let off =
            Controller::new(settings(SystemProxyMode::Off), Some(system_proxy(&session))).unwrap();
        off.start().await.unwrap();
        assert_eq!(
            off.network_changed().await.unwrap(),
            NetworkRefresh::PoolDropped
        );
        assert_eq!(
            session.gsettings(&["get", "org.gnome.system.proxy", "mode"]),
            "'none'"
        );
        off.stop().await.unwrap();
    })
    .await;
}

/// An OS setting in memory whose first write blocks until the test lets it go: an
/// administrator prompt left open, a hung `gsettings`.
struct HeldOpen {
    setting: std::sync::Mutex<socksbridge::system_proxy::Snapshot>,
    entered: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

mod held_open {
    use socksbridge::system_proxy::{
        Backend, Current, Desired, Merged, Ours, Parts, Snapshot, SysProxyError,
    };

    const MODE: &str = "mem|mode";
    const PROXY: &str = "mem|proxy";

    fn current(record: &Snapshot) -> Current {
        let proxy = record.get(PROXY).cloned().filter(|p| !p.is_empty());
        Current {
            mode: record.get(MODE).cloned().unwrap_or_default(),
            http: proxy.clone(),
            https: proxy,
            ..Current::default()
        }
    }

    impl Backend for super::HeldOpen {
        fn name(&self) -> &'static str {
            "held open"
        }
        fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
            Ok(self.setting.lock().unwrap().clone())
        }
        fn current(&self) -> Result<Current, SysProxyError> {
            Ok(current(&self.setting.lock().unwrap()))
        }
        fn write(&self, target: &Snapshot, _now: &Snapshot) -> Result<(), SysProxyError> {
            if let Some(entered) = self.entered.lock().unwrap().take() {
                let _ = entered.send(());
                let _ = self.release.lock().unwrap().recv();
            }
            self.setting.lock().unwrap().extend(target.clone());
            Ok(())
        }
        fn entry_of(&self, _key: &str) -> String {
            "mem".into()
        }
        fn wanted(&self, _: &str, d: &Desired, _: &Snapshot) -> Result<Snapshot, SysProxyError> {
            let (mode, proxy) = match d {
                Desired::Global { proxy, .. } => ("manual", proxy.to_string()),
                Desired::Pac { url } => ("auto", url.clone()),
            };
            Ok(Snapshot::from([
                (MODE.to_string(), mode.to_string()),
                (PROXY.to_string(), proxy),
            ]))
        }
        fn merge(&self, _: &str, parts: Parts<'_>) -> Result<Merged, SysProxyError> {
            Ok(Merged {
                record: parts.saved.clone(),
                kept: Vec::new(),
            })
        }
        fn routes_through(&self, _: &str, record: &Snapshot, ours: &Ours) -> bool {
            ours.routes(&current(record))
        }
        fn os_default(&self, _: &str, _: &Snapshot) -> Snapshot {
            Snapshot::from([
                (MODE.to_string(), "none".to_string()),
                (PROXY.to_string(), String::new()),
            ])
        }
    }
}

/// The tray polls `status()` every second and on every redraw, and reads `settings()`:
/// neither may wait behind an OS call in progress (on macOS an administrator prompt can
/// stay open two minutes). They answer at once, with the state of the last finished change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_settings_answer_while_an_os_call_is_held_open() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        let backend = HeldOpen {
            setting: std::sync::Mutex::new(socksbridge::system_proxy::Snapshot::from([
                ("mem|mode".to_string(), "none".to_string()),
                ("mem|proxy".to_string(), String::new()),
            ])),
            entered: std::sync::Mutex::new(Some(entered_tx)),
            release: std::sync::Mutex::new(release_rx),
        };
        let system = Arc::new(SystemProxy::new(
            Box::new(backend),
            dir.path().join("system-proxy.json"),
        ));
        let controller =
            Arc::new(Controller::new(settings(SystemProxyMode::Global), Some(system)).unwrap());
        let starting = tokio::spawn({
            let controller = Arc::clone(&controller);
            async move { controller.start().await }
        });
        entered_rx.await.expect("the OS call began");
        let quick = std::time::Duration::from_secs(1);
        let status = tokio::time::timeout(quick, controller.status())
            .await
            .expect("status() answered while the OS call is open");
        assert!(!status.running, "the start has not finished");
        let applied = tokio::time::timeout(quick, controller.settings())
            .await
            .expect("settings() answered while the OS call is open");
        assert_eq!(applied.system_proxy.mode, SystemProxyMode::Global);
        tokio::time::timeout(quick, controller.connections())
            .await
            .expect("connections() answered while the OS call is open");
        release_tx.send(()).unwrap();
        starting.await.unwrap().unwrap();
        let status = controller.status().await;
        assert!(status.running);
        assert_eq!(status.system_proxy, SystemProxyMode::Global);
        controller.stop().await.unwrap();
        assert!(!controller.status().await.running);
    })
    .await;
}

/// One `{:?}` of the settings, a server, the validated config or the controller in a log
/// line must not leak a password: the settings file's, a server URL's, a via's.
#[test]
fn no_password_in_any_debug_output() {
    let secret = "pa55-w0rd-XYZ";
    let json = format!(
        r#"{{"listen":"127.0.0.1:0",
            "servers":[{{"name":"a","url":"socks5h://u:{secret}@h.example:1080",
                         "via":"http://v:{secret}@p.example:3128"}},
                       {{"name":"b","url":"http://w:{secret}@q.example:8080"}}],
            "auth":{{"username":"u","password":"{secret}"}}}}"#
    );
    let settings: Settings = serde_json::from_str(&json).unwrap();
    let config = settings.validate().unwrap();
    let controller = Controller::new(settings.clone(), None).unwrap();
    let shown = [
        format!("{settings:?}"),
        format!("{settings:#?}"),
        format!("{:?}", settings.servers),
        format!("{:?}", settings.auth),
        format!("{config:?}"),
        format!("{controller:?}"),
    ];
    for text in shown {
        assert!(!text.contains(secret), "{text}");
        assert!(
            text.contains("h.example") || text.contains("InboundAuth"),
            "{text}"
        );
    }
    // Saved as given, password and all.
    let saved = serde_json::to_string(&settings).unwrap();
    assert_eq!(saved.matches(secret).count(), 4, "{saved}");
}
