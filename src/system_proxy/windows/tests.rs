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

/// Every connection as the model holds it now.
fn all(model: &Model) -> BTreeMap<Connection, ConnOptions> {
    let windows = Windows::with_store(model.clone());
    windows.read_all(&windows.connections().unwrap()).unwrap()
}

/// After a crash, the user sets their own proxy on the LAN by hand: the LAN stays theirs,
/// every VPN and dial-up entry (still on us) goes back.
#[test]
fn a_change_the_user_made_after_a_crash_is_kept_and_the_rest_restored() {
    for (name, model) in starting_points() {
        let before = all(&model);
        let dir = tempfile::tempdir().unwrap();
        let system = lifecycle(&model, dir.path());
        system.enable(&modes()[0]).unwrap();
        crash(system);
        let theirs = manual("their-own.example:3128", "");
        model.user_sets(&Connection::Lan, theirs.clone()).unwrap();

        let next = lifecycle(&model, dir.path());
        let recovery = next.recover().unwrap();
        let mut want = before.clone();
        want.insert(Connection::Lan, theirs.clone());
        assert_eq!(all(&model), want, "{name}");
        let expected = if before.len() > 1 {
            Recovery::Restored
        } else {
            Recovery::KeptUserSetting
        };
        assert_eq!(recovery, expected, "{name}");
        assert!(!next.state_path().exists());
    }
}

/// The review's case: unticking "Use a proxy server" changes the LAN only. The VPN entries
/// and the LAN's "Automatically detect settings" must not stay on us.
#[test]
fn turning_the_lan_off_by_hand_still_puts_the_vpn_entries_and_wpad_back() {
    let model = Model::fresh();
    model.add_ras("Office VPN", manual("vpn-proxy.example:8080", "<local>"));
    let before = all(&model);
    for crashed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let system = lifecycle(&model, dir.path());
        system.enable(&modes()[0]).unwrap();
        let mut unticked = model.read(&Connection::Lan).unwrap();
        unticked.flags &= !PROXY_TYPE_PROXY;
        model.user_sets(&Connection::Lan, unticked).unwrap();
        if crashed {
            crash(system);
            lifecycle(&model, dir.path()).recover().unwrap();
        } else {
            system.disable().unwrap();
        }
        assert_eq!(all(&model), before, "crashed: {crashed}");
    }
}

/// The reverse: a VPN client changes its own entry while the LAN is still ours. At exit
/// the LAN goes back and the VPN entry keeps the client's change.
#[test]
fn a_change_to_one_vpn_entry_is_kept_while_the_lan_goes_back() {
    let model = Model::fresh();
    model.add_ras("Office VPN", manual("vpn-proxy.example:8080", "<local>"));
    let before = all(&model);
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[1]).unwrap();
    let vpn = Connection::Ras("Office VPN".into());
    let theirs = manual("vpn-client.example:9", "");
    model.user_sets(&vpn, theirs.clone()).unwrap();
    system.disable().unwrap();
    let mut want = before;
    want.insert(vpn, theirs);
    assert_eq!(all(&model), want);
}

/// The lifecycle matrix, judged per entry: every starting point × mode × way of stopping ×
/// a change the user makes to one entry (their own proxy, or everything switched off).
/// The changed entry no longer routes through us (their own proxy: exactly theirs; off on
/// an entry that had nothing on before: exactly as before); every other entry is exactly
/// as before.
#[test]
fn per_entry_matrix_of_starting_points_modes_stops_and_one_users_change() {
    let ours = crate::system_proxy::Ours::of(&modes()[0]);
    for (name, model) in starting_points() {
        let entries: Vec<Connection> = all(&model).into_keys().collect();
        for desired in modes() {
            for stop in ["disable", "crash and recover", "crash and enable again"] {
                for changed in &entries {
                    for change in ["their own proxy", "switched off"] {
                        let model = clone_model(&model);
                        let before = all(&model);
                        let dir = tempfile::tempdir().unwrap();
                        let system = lifecycle(&model, dir.path());
                        system.enable(&desired).unwrap();
                        let theirs = match change {
                            "their own proxy" => manual("their-own.example:3128", ""),
                            _ => {
                                let mut off = model.read(changed).unwrap();
                                off.flags = PROXY_TYPE_DIRECT;
                                off
                            }
                        };
                        model.user_sets(changed, theirs.clone()).unwrap();
                        match stop {
                            "disable" => {
                                system.disable().unwrap();
                            }
                            "crash and recover" => {
                                crash(system);
                                lifecycle(&model, dir.path()).recover().unwrap();
                            }
                            _ => {
                                crash(system);
                                let next = lifecycle(&model, dir.path());
                                next.enable(&desired).unwrap();
                                next.disable().unwrap();
                            }
                        }
                        let case = format!("{name}, {desired:?}, {stop}, {changed} {change}");
                        let now = all(&model);
                        for (connection, options) in &now {
                            if connection != changed {
                                assert_eq!(options, &before[connection], "{case}: {connection}");
                                continue;
                            }
                            let (server, pac) = super::routing(options, &ours);
                            assert!(!server && !pac, "{case}: still ours: {options:?}");
                            let had_nothing_on = before[connection].flags
                                & (PROXY_TYPE_PROXY | PROXY_TYPE_AUTO_PROXY_URL)
                                == 0;
                            if change == "their own proxy" {
                                assert_eq!(options, &theirs, "{case}");
                            } else if had_nothing_on {
                                assert_eq!(options, &before[connection], "{case}");
                            }
                        }
                        assert!(!dir.path().join("system-proxy.json").exists(), "{case}");
                    }
                }
            }
        }
    }
}

/// A copy of a model's state, so one starting point serves many runs.
fn clone_model(model: &Model) -> Model {
    let copy = Model::default();
    {
        let from = model.state();
        let mut to = copy.state();
        to.lan = from.lan.clone();
        to.ras = from.ras.clone();
        to.legacy = from.legacy.clone();
    }
    copy
}

/// A VPN added in Settings while we run is reached by the next re-apply (a network change,
/// the guard): it is saved before that first write, and put back at exit.
#[test]
fn a_vpn_entry_created_while_running_and_reached_by_a_reapply_is_restored() {
    let model = Model::fresh();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    model.add_ras("New VPN", manual("b.example:2", ""));
    system.enable(&modes()[0]).unwrap();
    let vpn = Connection::Ras("New VPN".into());
    assert!(current_of(&model.read(&vpn).unwrap()).points_at(&modes()[0]));
    system.disable().unwrap();
    assert_eq!(model.read(&vpn).unwrap(), manual("b.example:2", ""));

    // The guard's path too.
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    model.add_ras("Another VPN", manual("c.example:3", ""));
    model
        .user_sets(&Connection::Lan, manual("x.example:1", ""))
        .unwrap();
    assert!(system.reassert(&modes()[0]).unwrap().is_some());
    system.disable().unwrap();
    assert_eq!(
        model.read(&Connection::Ras("Another VPN".into())).unwrap(),
        manual("c.example:3", "")
    );
}

/// A state file lost while the setting was ours (damaged, another version, a profile
/// cleaner): the next enable must not save "points at 127.0.0.1:1095" as the user's. It
/// saves what Windows ships instead, so the stop leaves nothing pointing at a dead port.
#[test]
fn a_leftover_of_ours_is_never_saved_as_the_users_setting() {
    for desired in modes() {
        let model = Model::fresh();
        model.add_ras("VPN", manual("a.example:1", ""));
        let dir = tempfile::tempdir().unwrap();
        let system = lifecycle(&model, dir.path());
        system.enable(&desired).unwrap();
        crash(system);
        std::fs::write(dir.path().join("system-proxy.json"), b"{").unwrap();

        let next = lifecycle(&model, dir.path());
        next.enable(&desired).unwrap();
        next.disable().unwrap();
        for (connection, options) in all(&model) {
            assert_eq!(options, os_default(), "{connection} {desired:?}");
        }
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
fn a_change_made_while_we_run_is_kept_at_exit_and_the_rest_restored() {
    for (name, model) in starting_points() {
        let before = all(&model);
        let dir = tempfile::tempdir().unwrap();
        let system = lifecycle(&model, dir.path());
        system.enable(&modes()[0]).unwrap();
        let theirs = manual("their-own.example:3128", "");
        model.user_sets(&Connection::Lan, theirs.clone()).unwrap();
        assert!(system.disable().unwrap());
        let mut want = before;
        want.insert(Connection::Lan, theirs);
        assert_eq!(all(&model), want, "{name}");
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

/// `ProxySettingsPerUser=0`: a standard user's WinINet writes are refused. The enable is
/// an error naming the policy, and nothing is left behind: not the options, not the legacy
/// registry values Python's urllib reads (there is no fallback that writes them).
#[test]
fn a_per_machine_policy_refuses_the_change_and_leaves_the_legacy_values_alone() {
    let model = Model::fresh();
    model.state().per_machine_policy = true;
    let before = model.observable();
    let legacy_before = model.state().legacy.clone();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    let error = system.enable(&modes()[0]).unwrap_err().to_string();
    assert!(error.contains("refused"), "{error}");
    assert!(error.contains("group policy"), "{error}");
    assert_eq!(model.state().legacy, legacy_before);
    assert_eq!(model.observable(), before);
    assert!(!system.state_path().exists());
}

/// A phonebook that cannot be listed is not "no VPN entries": the restore fails and keeps
/// the state file, so the entries still on us are put back once it can be read.
#[test]
fn a_phonebook_that_cannot_be_read_fails_the_restore_and_keeps_the_state_file() {
    let model = Model::fresh();
    model.add_ras("Office VPN", manual("vpn-proxy.example:8080", "<local>"));
    let before = model.observable();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    model.state().ras_error = Some(5);
    let error = system.disable().unwrap_err().to_string();
    assert!(error.contains("RasEnumEntries"), "{error}");
    assert!(system.state_path().exists());
    model.state().ras_error = None;
    system.disable().unwrap();
    assert_eq!(model.observable(), before);

    // No phonebook at all (error 621) is a machine without entries.
    let fresh = Model::fresh();
    fresh.state().ras_error = Some(621);
    let system = lifecycle(&fresh, dir.path());
    system.enable(&modes()[0]).unwrap();
    system.disable().unwrap();
    assert_eq!(fresh.observable(), Model::fresh().observable());
}

/// Every program is told once per change, and not at all when a re-apply (the guard, a
/// network change) finds nothing to write.
#[test]
fn programs_are_told_only_when_something_was_written() {
    let model = Model::fresh();
    let dir = tempfile::tempdir().unwrap();
    let system = lifecycle(&model, dir.path());
    system.enable(&modes()[0]).unwrap();
    let told = model.state().notified;
    assert_eq!(told, 1);
    system.enable(&modes()[0]).unwrap();
    assert_eq!(model.state().notified, told);
    system.disable().unwrap();
    assert_eq!(model.state().notified, told + 1);
}

/// Stands for `RunOnce`: whether a restore is registered for the next login.
#[derive(Debug, Clone, Default)]
struct Registered(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl crate::system_proxy::login_restore::LoginRestore for Registered {
    fn register(&self, command: &RestoreCommand) -> std::io::Result<()> {
        *self.0.lock().unwrap() = Some(windows_command_line(command));
        Ok(())
    }
    fn unregister(&self) -> std::io::Result<()> {
        *self.0.lock().unwrap() = None;
        Ok(())
    }
}

use crate::system_proxy::login_restore::{windows_command_line, RestoreCommand};

/// `RunOnce` holds the restore exactly while the setting is ours: from before the first
/// write, through a crash (a power cut), until a restore, and never after a failed enable.
#[test]
fn a_restore_is_registered_for_the_next_login_exactly_while_the_setting_is_ours() {
    let model = Model::fresh();
    let dir = tempfile::tempdir().unwrap();
    let registered = Registered::default();
    let command = RestoreCommand {
        program: r"C:\Program Files\SocksBridge\socksbridge.exe".into(),
        args: vec!["system-proxy".into(), "restore".into()],
    };
    let with_login = |model: &Model| {
        lifecycle(model, dir.path())
            .with_login_restore(Box::new(registered.clone()), command.clone())
    };
    let at_login = || registered.0.lock().unwrap().clone();
    let system = with_login(&model);
    system.enable(&modes()[0]).unwrap();
    assert_eq!(
        at_login().as_deref(),
        Some(r#""C:\Program Files\SocksBridge\socksbridge.exe" system-proxy restore"#)
    );
    system.disable().unwrap();
    assert_eq!(at_login(), None);

    let system = with_login(&model);
    system.enable(&modes()[1]).unwrap();
    crash(system);
    assert!(at_login().is_some(), "a crash leaves it for the next login");
    with_login(&model).recover().unwrap();
    assert_eq!(at_login(), None);

    model.state().per_machine_policy = true;
    assert!(with_login(&model).enable(&modes()[0]).is_err());
    assert_eq!(
        at_login(),
        None,
        "a failed enable leaves nothing to run at login"
    );
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
