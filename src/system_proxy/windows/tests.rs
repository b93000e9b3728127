//! The Windows plan through the real lifecycle ([`SystemProxy`]) against the WinINet
//! model: every starting point a user can have × both modes × every way a run ends.

use std::net::SocketAddr;
use std::path::Path;

use super::model::Model;
use super::*;
use crate::system_proxy::{state, Recovery, SystemProxy};

const USERS_SERVER: &str = "corp-proxy.example:3128";

fn manual(server: &str, bypass: &str) -> ConnOptions {
    ConnOptions {
        flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY,
        server: server.into(),
        bypass: bypass.into(),
        pac_url: String::new(),
    }
}

/// The machines a user can come with; the name says which.
fn starting_points() -> Vec<(&'static str, Model)> {
    let wpad = Model::fresh();

    let users_manual = Model::fresh();
    users_manual
        .user_sets(
            &Connection::Lan,
            manual(USERS_SERVER, "<local>;*.corp.example"),
        )
        .unwrap();

    let users_pac = Model::fresh();
    users_pac
        .user_sets(
            &Connection::Lan,
            ConnOptions {
                flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL | PROXY_TYPE_AUTO_DETECT,
                server: "old-proxy.example:8080".into(),
                bypass: String::new(),
                pac_url: "http://wpad.corp.example/proxy.pac".into(),
            },
        )
        .unwrap();

    let none = Model::fresh();
    none.user_sets(&Connection::Lan, ConnOptions::default())
        .unwrap();

    let vpn = Model::fresh();
    vpn.add_ras("Office VPN", manual("vpn-proxy.example:8080", "<local>"));
    vpn.add_ras(
        "Dial-up",
        ConnOptions {
            flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_DETECT,
            ..ConnOptions::default()
        },
    );

    vec![
        ("WPAD on (a fresh install)", wpad),
        ("the user's manual proxy", users_manual),
        ("the user's PAC URL", users_pac),
        ("no proxy at all", none),
        ("a VPN and a dial-up entry", vpn),
    ]
}

fn modes() -> Vec<Desired> {
    let listen: SocketAddr = "127.0.0.1:1095".parse().unwrap();
    vec![
        Desired::global(listen, vec!["*.local".into(), "10.0.0.0/8".into()], true),
        Desired::pac(listen, &["*.local".into()]),
    ]
}

fn lifecycle(model: &Model, dir: &Path) -> SystemProxy {
    SystemProxy::new(
        Box::new(Windows::with_store(model.clone())),
        dir.join("system-proxy.json"),
    )
}

/// What a crash leaves: the state file of a process that is gone.
fn crash(system: SystemProxy) {
    let path = system.state_path().to_path_buf();
    let mut left = state::read(&path).unwrap().expect("a state file");
    left.pid = 0x7fff_fff0;
    state::write(&path, &left).unwrap();
}

fn assert_ours(model: &Model, desired: &Desired, name: &str) {
    let windows = Windows::with_store(model.clone());
    for connection in windows.connections().unwrap() {
        let now = model.read(&connection).unwrap();
        assert_eq!(
            now.flags & PROXY_TYPE_AUTO_DETECT,
            0,
            "{name}: {connection}"
        );
        assert!(
            current_of(&now).points_at(desired),
            "{name}: {connection} is {now:?}"
        );
    }
    let legacy = &model.state().legacy;
    match desired {
        Desired::Global { proxy, .. } => {
            assert_eq!(legacy["ProxyEnable"], "1", "{name}");
            assert!(legacy["ProxyServer"].contains(&format!("https={proxy}")));
        }
        Desired::Pac { url } => assert_eq!(&legacy["AutoConfigURL"], url, "{name}"),
    }
}

#[test]
fn every_starting_point_and_mode_is_applied_then_restored_exactly() {
    for (name, model) in starting_points() {
        for desired in modes() {
            let dir = tempfile::tempdir().unwrap();
            let before = model.observable();
            let system = lifecycle(&model, dir.path());
            assert_eq!(
                system.backend_name(),
                "Windows (WinINet, LAN and every dial-up/VPN connection)"
            );

            system.enable(&desired).unwrap();
            assert_ours(&model, &desired, name);
            assert!(model.state().notified > 0, "{name}: programs are told");
            assert!(system.status().unwrap().ours, "{name}");

            assert!(system.disable().unwrap());
            assert_eq!(model.observable(), before, "{name}, {desired:?}");
            assert!(!system.state_path().exists());
        }
    }
}

#[test]
fn after_a_hard_kill_the_next_start_restores_exactly() {
    for (name, model) in starting_points() {
        for desired in modes() {
            let dir = tempfile::tempdir().unwrap();
            let before = model.observable();
            let system = lifecycle(&model, dir.path());
            system.enable(&desired).unwrap();
            crash(system);

            let next = lifecycle(&model, dir.path());
            assert_eq!(next.recover().unwrap(), Recovery::Restored, "{name}");
            assert_eq!(model.observable(), before, "{name}, {desired:?}");
            assert_eq!(next.recover().unwrap(), Recovery::Clean);
        }
    }
}

#[test]
fn a_change_the_user_made_after_a_crash_is_kept() {
    for (name, model) in starting_points() {
        let dir = tempfile::tempdir().unwrap();
        let system = lifecycle(&model, dir.path());
        system.enable(&modes()[0]).unwrap();
        crash(system);
        model
            .user_sets(&Connection::Lan, manual("their-own.example:3128", ""))
            .unwrap();
        let theirs = model.observable();

        let next = lifecycle(&model, dir.path());
        assert_eq!(next.recover().unwrap(), Recovery::KeptUserSetting, "{name}");
        assert_eq!(model.observable(), theirs, "{name}");
        assert!(!next.state_path().exists());
    }
}

#[test]
fn the_guard_reapplies_a_change_made_while_we_run_and_exit_still_restores_the_first_snapshot() {
    for (name, model) in starting_points() {
        let dir = tempfile::tempdir().unwrap();
        let before = model.observable();
        let system = lifecycle(&model, dir.path());
        let desired = &modes()[0];
        system.enable(desired).unwrap();
        model
            .user_sets(&Connection::Lan, manual("someone-else.example:1", ""))
            .unwrap();
        let seen = system.reassert(desired).unwrap().expect("re-applied");
        assert_eq!(seen.http.as_deref(), Some("someone-else.example:1"));
        assert_ours(&model, desired, name);
        system.disable().unwrap();
        assert_eq!(model.observable(), before, "{name}");
    }
}

/// The lifecycle itself (the same on every OS), here over the WinINet model.
#[test]
fn switching_modes_keeps_the_first_snapshot_and_records_what_is_applied_now() {
    let model = Model::fresh();
    let before = model.observable();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    assert!(format!("{system:?}").contains("Windows (WinINet"));
    let [global, pac] = &modes()[..] else {
        unreachable!()
    };
    system.enable(global).unwrap();
    system.enable(pac).unwrap();
    let state = state::read(system.state_path()).unwrap().unwrap();
    assert_eq!(&state.applied, pac);
    assert!(system.status().unwrap().ours);
    system.disable().unwrap();
    assert_eq!(model.observable(), before);
}

#[test]
fn enabling_after_a_crash_repairs_first_and_then_applies() {
    let model = Model::fresh();
    let before = model.observable();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    crash(system);
    let next = lifecycle(&model, dir.path());
    next.enable(&modes()[1]).unwrap();
    assert!(next.status().unwrap().ours);
    next.disable().unwrap();
    assert_eq!(
        model.observable(),
        before,
        "the snapshot is the user's, not the crash's"
    );
}

#[test]
fn a_change_made_while_we_run_is_kept_at_exit() {
    for (name, model) in starting_points() {
        let dir = tempfile::tempdir().unwrap();
        let system = lifecycle(&model, dir.path());
        system.enable(&modes()[0]).unwrap();
        model
            .user_sets(&Connection::Lan, manual("their-own.example:3128", ""))
            .unwrap();
        let theirs = model.observable();
        assert!(system.disable().unwrap());
        assert_eq!(model.observable(), theirs, "{name}");
        assert!(!system.state_path().exists());
    }
}

/// The guard re-applies only under its own state file: never over another process's.
#[test]
fn the_guard_never_reapplies_under_a_state_file_it_does_not_own() {
    let model = Model::fresh();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    let desired = &modes()[0];
    system.enable(desired).unwrap();
    let path = system.state_path().to_path_buf();
    let mut other = state::read(&path).unwrap().unwrap();
    other.pid = 1;
    state::write(&path, &other).unwrap();
    model
        .user_sets(&Connection::Lan, manual("theirs.example:1", ""))
        .unwrap();
    assert_eq!(system.reassert(desired).unwrap(), None);
    assert_eq!(
        model.read(&Connection::Lan).unwrap(),
        manual("theirs.example:1", "")
    );
}

#[test]
fn vpn_entries_deleted_or_created_while_running_are_left_alone() {
    let model = Model::fresh();
    model.add_ras("Old VPN", manual("a.example:1", ""));
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    model.remove_ras("Old VPN");
    model.add_ras("New VPN", manual("b.example:2", ""));
    let lan_before = Model::fresh().read(&Connection::Lan).unwrap();

    system.disable().unwrap();
    assert_eq!(model.read(&Connection::Lan).unwrap(), lan_before);
    assert_eq!(
        model.read(&Connection::Ras("New VPN".into())).unwrap(),
        manual("b.example:2", "")
    );
}

#[test]
fn a_policy_pinned_setting_is_an_error_naming_it_and_leaves_nothing_behind() {
    let model = Model::fresh();
    model.state().policy_pinned = true;
    let before = model.observable();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    let error = system.enable(&modes()[0]).unwrap_err().to_string();
    assert!(error.contains("did not take"), "{error}");
    assert!(error.contains("group policy"), "{error}");
    assert!(error.contains("LAN settings reads back"), "{error}");
    assert!(!error.contains("D-Bus"), "{error}");
    assert_eq!(model.observable(), before);
    assert!(!system.state_path().exists());
}

#[test]
fn restore_writes_only_the_connections_that_changed() {
    let model = Model::fresh();
    model.add_ras("VPN", manual("a.example:1", ""));
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    assert_eq!(model.state().writes, 2);
    // The user puts the VPN back by hand; only the LAN is still ours.
    model
        .user_sets(&Connection::Ras("VPN".into()), manual("a.example:1", ""))
        .unwrap();
    model.state().writes = 0;
    system.disable().unwrap();
    assert_eq!(model.state().writes, 1);
}

#[test]
fn the_plan_keeps_the_users_text_in_fields_the_mode_does_not_use() {
    let before = ConnOptions {
        flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_DETECT,
        server: "mine.example:1".into(),
        bypass: "<local>".into(),
        pac_url: "http://mine.example/p.pac".into(),
    };
    let [global, pac] = &modes()[..] else {
        unreachable!()
    };
    let g = wanted(global, &before);
    assert_eq!(g.flags, PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY);
    assert_eq!(
        g.server,
        "http=127.0.0.1:1095;https=127.0.0.1:1095;socks=127.0.0.1:1095"
    );
    assert_eq!(g.pac_url, before.pac_url);
    let p = wanted(pac, &before);
    assert_eq!(p.flags, PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL);
    assert_eq!((p.server, p.bypass), (before.server, before.bypass));
}

#[test]
fn current_reads_like_a_person_would_say_it() {
    let cases = [
        (ConnOptions::default(), "none", None),
        (
            ConnOptions {
                flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_DETECT | PROXY_TYPE_PROXY,
                ..manual("a:1", "")
            },
            "auto-detect",
            Some("a:1"),
        ),
        (manual("a:1", ""), "manual", Some("a:1")),
        (manual("http=a:1; https=b:2", ""), "manual", Some("a:1")),
        (manual("https=b:2", ""), "manual", None),
        (
            ConnOptions {
                flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL,
                ..ConnOptions::default()
            },
            "none",
            None,
        ),
        (
            ConnOptions {
                flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL | PROXY_TYPE_PROXY,
                pac_url: "http://x/p.pac".into(),
                ..manual("a:1", "")
            },
            "auto",
            Some("a:1"),
        ),
    ];
    for (options, mode, http) in cases {
        let current = current_of(&options);
        assert_eq!(current.mode, mode, "{options:?}");
        assert_eq!(current.http.as_deref(), http, "{options:?}");
    }
}

#[test]
fn snapshots_round_trip_and_foreign_ones_are_refused() {
    let mut settings = BTreeMap::new();
    settings.insert(Connection::Lan, manual("a:1", "<local>"));
    settings.insert(
        Connection::Ras("VPN|with a bar".into()),
        ConnOptions {
            flags: 13,
            pac_url: "http://p/".into(),
            ..ConnOptions::default()
        },
    );
    assert_eq!(decode(&encode(&settings)).unwrap(), settings);
    for foreign in [
        Snapshot::from([("ProxyEnable".to_string(), "1".to_string())]),
        Snapshot::from([("lan|flags".to_string(), "x".to_string())]),
        Snapshot::from([("lan|colour".to_string(), "1".to_string())]),
    ] {
        assert!(decode(&foreign).is_err(), "{foreign:?}");
    }
}
