//! The macOS backend, unchanged, through the real lifecycle against a faithful model of
//! `networksetup`, `scutil` and `osascript` (tests/fixtures/macos/, first on the PATH):
//! every starting point × mode × way a run ends, restored to what networksetup can put
//! back; administrator prompts; the primary service; what one guard check costs.

use std::path::PathBuf;

use serde_json::{json, Value};
use socksbridge::system_proxy::macos::MacOs;
use socksbridge::system_proxy::{Backend, CommandEnv, Desired, Recovery, StateFile, SystemProxy};

const OURS: &str = "127.0.0.1";
const PORT: u16 = 1095;

struct Mac {
    dir: tempfile::TempDir,
}

fn proxy(enabled: bool, server: &str, port: u16, auth: u8) -> Value {
    json!({"enabled": enabled, "server": server, "port": port, "auth": auth})
}

fn never() -> Value {
    proxy(false, "", 0, 0)
}

fn service(name: &str, device: &str, enabled: bool) -> Value {
    json!({
        "name": name, "device": device, "enabled": enabled,
        "web": never(), "secureweb": never(), "socksfirewall": never(),
        "auto": {"enabled": false, "url": ""},
        "bypass": ["*.local", "169.254/16"],
    })
}

impl Mac {
    fn new(services: Vec<Value>, primary: &str) -> Mac {
        let mac = Mac {
            dir: tempfile::tempdir().unwrap(),
        };
        mac.write(&json!({
            "admin_required": false, "osascript": "allow", "primary": primary,
            "services": services, "log": [],
        }));
        mac
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("mac.json")
    }

    fn read(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state_path()).unwrap()).unwrap()
    }

    fn write(&self, state: &Value) {
        std::fs::write(self.state_path(), serde_json::to_vec(state).unwrap()).unwrap();
    }

    fn change(&self, f: impl FnOnce(&mut Value)) {
        let mut state = self.read();
        f(&mut state);
        self.write(&state);
    }

    fn services(&self) -> Value {
        self.read()["services"].clone()
    }

    fn env(&self) -> CommandEnv {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/macos");
        let path = format!("{fixtures}:{}", std::env::var("PATH").unwrap_or_default());
        CommandEnv::new()
            .with("PATH", &path)
            .with("FAKE_MACOS_STATE", self.state_path().to_str().unwrap())
    }

    fn backend(&self) -> MacOs {
        MacOs::with_env(self.env())
    }

    fn system(&self) -> SystemProxy {
        SystemProxy::new(
            Box::new(self.backend()),
            self.dir.path().join("system-proxy.json"),
        )
    }

    /// Processes of each tool started since the last call, as (networksetup, scutil,
    /// osascript).
    fn processes(&self) -> (usize, usize, usize) {
        let mut state = self.read();
        let log = state["log"].as_array().unwrap().clone();
        let count = |tool: &str| log.iter().filter(|e| e["tool"] == tool).count();
        let counts = (count("networksetup"), count("scutil"), count("osascript"));
        state["log"] = json!([]);
        self.write(&state);
        counts
    }

    /// What a crash leaves: the state file of a process that is gone.
    fn crash(&self, system: SystemProxy) {
        self.crash_path(system.state_path());
    }

    /// The state file at `path` as a process that is gone left it.
    fn crash_path(&self, path: &std::path::Path) {
        let mut left: StateFile = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        left.pid = 0x7fff_fff0;
        std::fs::write(path, serde_json::to_vec(&left).unwrap()).unwrap();
    }
}

/// The services as networksetup can put them back: a proxy that was off with no server
/// comes back off whatever server text networksetup keeps, and a proxy networksetup has
/// written once is reported as off rather than absent (`present`).
fn restorable(before: &Value, after: &Value) -> (Value, Value) {
    let (mut before, mut after) = (before.clone(), after.clone());
    for (b, a) in before
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(after.as_array_mut().unwrap())
    {
        for kind in ["web", "secureweb", "socksfirewall", "auto"] {
            for side in [&mut *b, &mut *a] {
                side[kind].as_object_mut().unwrap().remove("present");
            }
            let blank =
                b[kind]["enabled"] == false && (b[kind]["server"] == "" || b[kind]["url"] == "");
            if blank {
                for field in ["server", "port", "url"] {
                    if let Some(v) = a[kind].get(field).cloned() {
                        b[kind][field] = v;
                    }
                }
            }
        }
    }
    (before, after)
}

fn assert_restored(mac: &Mac, before: &Value, name: &str) {
    let (before, after) = restorable(before, &mac.services());
    assert_eq!(after, before, "{name}");
}

fn starting_points() -> Vec<(&'static str, Mac)> {
    let fresh = Mac::new(
        vec![
            service("Wi-Fi", "en0", true),
            service("Thunderbolt Bridge", "bridge0", true),
        ],
        "en0",
    );

    let mut wifi = service("Wi-Fi", "en0", true);
    wifi["web"] = proxy(true, "corp.example", 3128, 0);
    wifi["secureweb"] = proxy(true, "corp.example", 3128, 1);
    wifi["bypass"] = json!(["*.corp.example", "10.0.0.0/8"]);
    let manual = Mac::new(vec![wifi], "en0");

    let mut wifi = service("Wi-Fi", "en0", true);
    wifi["auto"] = json!({"enabled": true, "url": "http://wpad.corp.example/proxy.pac"});
    let pac = Mac::new(vec![wifi, service("Ethernet", "en1", true)], "en0");

    let mut usb = service("USB 10/100/1000 LAN", "en7", false);
    usb["web"] = proxy(true, "usb-only.example", 8080, 0);
    let odd = Mac::new(
        vec![
            service("Ethernet  ", "en1", true),
            usb,
            service("Wi|Fi", "en0", true),
        ],
        "en1",
    );

    let mut wifi = service("Wi-Fi", "en0", true);
    wifi["autodiscovery"] = json!(true);
    let wpad = Mac::new(vec![wifi, service("Ethernet", "en1", true)], "en0");

    let mut wifi = service("Wi-Fi", "en0", true);
    wifi["web"] = proxy(false, "old.example", 8080, 0);
    wifi["auto"] = json!({"enabled": false, "url": "http://old.example/p.pac"});
    let left_over = Mac::new(vec![wifi], "en0");

    vec![
        ("never set, two services", fresh),
        ("the user's manual proxy, with authentication", manual),
        ("the user's PAC URL", pac),
        ("a disabled service, trailing spaces, a bar in a name", odd),
        ("off, with an old server kept", left_over),
        ("WPAD (auto proxy discovery) on", wpad),
    ]
}

fn modes() -> Vec<Desired> {
    let listen = format!("{OURS}:{PORT}").parse().unwrap();
    vec![
        Desired::global(listen, vec!["*.local".into(), "10.0.0.0/8".into()], false),
        Desired::global("[::1]:1095".parse().unwrap(), Vec::new(), true),
        Desired::pac(listen, &[]),
    ]
}

/// Every enabled service points at `desired`; disabled ones are untouched.
fn assert_ours(mac: &Mac, before: &Value, desired: &Desired, name: &str) {
    for (now, was) in mac
        .services()
        .as_array()
        .unwrap()
        .iter()
        .zip(before.as_array().unwrap())
    {
        if now["enabled"] == false {
            assert_eq!(now, was, "{name}: a disabled service is left alone");
            continue;
        }
        match desired {
            Desired::Global { proxy, socks, .. } => {
                for kind in ["web", "secureweb"] {
                    assert_eq!(now[kind]["enabled"], true, "{name} {kind}");
                    assert_eq!(now[kind]["server"], proxy.ip().to_string(), "{name}");
                    assert_eq!(now[kind]["port"], proxy.port(), "{name}");
                    assert_eq!(now[kind]["auth"], was[kind]["auth"], "{name}");
                }
                assert_eq!(now["socksfirewall"]["enabled"], *socks, "{name}");
                assert_eq!(now["auto"]["enabled"], false, "{name}");
                assert_ne!(now["autodiscovery"], true, "{name}: no WPAD while ours");
            }
            Desired::Pac { url } => {
                assert_eq!(
                    now["auto"],
                    json!({"enabled": true, "url": url, "present": true})
                );
                assert_eq!(now["web"]["enabled"], false, "{name}");
            }
        }
    }
}

#[test]
fn every_starting_point_and_mode_is_applied_then_restored() {
    for (name, mac) in starting_points() {
        for desired in modes() {
            let before = mac.services();
            let system = mac.system();
            system
                .enable(&desired)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_ours(&mac, &before, &desired, name);
            assert!(system.status().unwrap().ours, "{name} {desired:?}");
            assert!(system.disable().unwrap());
            assert_restored(&mac, &before, name);
            assert!(!system.state_path().exists());
        }
    }
}

#[test]
fn after_a_hard_kill_the_next_start_restores() {
    for (name, mac) in starting_points() {
        for desired in [&modes()[0], &modes()[2]] {
            let before = mac.services();
            let system = mac.system();
            system.enable(desired).unwrap();
            mac.crash(system);
            let next = mac.system();
            assert_eq!(next.recover().unwrap(), Recovery::Restored, "{name}");
            assert_restored(&mac, &before, name);
            assert_eq!(next.recover().unwrap(), Recovery::Clean);
        }
    }
}

/// One service's part as networksetup can put it back (see [`restorable`]).
fn part(before: &Value, now: &Value, service: usize, kind: &str) -> (Value, Value) {
    let one = |v: &Value| json!([v[service].clone()]);
    let (b, n) = restorable(&one(before), &one(now));
    (b[0][kind].clone(), n[0][kind].clone())
}

/// Every service but `except` as it was before.
fn assert_others_restored(mac: &Mac, before: &Value, except: usize, name: &str) {
    let now = mac.services();
    for i in 0..before.as_array().unwrap().len() {
        if i != except {
            let (b, n) = restorable(&json!([before[i].clone()]), &json!([now[i].clone()]));
            assert_eq!(n, b, "{name}: service {i}");
        }
    }
}

/// After a crash the user points the first service's web proxy at their own: it stays
/// theirs; its secure web proxy and every other service, still on us, go back.
#[test]
fn a_change_the_user_made_after_a_crash_is_kept_and_the_rest_restored() {
    for (name, mac) in starting_points() {
        let before = mac.services();
        let system = mac.system();
        system.enable(&modes()[0]).unwrap();
        mac.crash(system);
        let first = mac.services()[0]["name"].as_str().unwrap().to_string();
        mac.env()
            .run(
                "networksetup",
                &["-setwebproxy", &first, "their-own.example", "3128"],
            )
            .unwrap();
        let theirs = mac.services()[0]["web"].clone();
        assert_eq!(
            mac.system().recover().unwrap(),
            Recovery::Restored,
            "{name}"
        );
        let now = mac.services();
        assert_eq!(now[0]["web"], theirs, "{name}");
        let (b, n) = part(&before, &now, 0, "secureweb");
        assert_eq!(n, b, "{name}: the secure web proxy is not left on us");
        assert_others_restored(&mac, &before, 0, name);
    }
}

#[test]
fn the_guard_reapplies_and_exit_restores_the_first_snapshot() {
    for (name, mac) in starting_points() {
        let before = mac.services();
        let system = mac.system();
        let desired = &modes()[0];
        system.enable(desired).unwrap();
        let first = mac.services()[0]["name"].as_str().unwrap().to_string();
        mac.env()
            .run("networksetup", &["-setwebproxystate", &first, "off"])
            .unwrap();
        assert!(system.reassert(desired).unwrap().is_some(), "{name}");
        assert_ours(&mac, &before, desired, name);
        system.disable().unwrap();
        assert_restored(&mac, &before, name);
    }
}

/// The review's case: the user switches Wi-Fi's web proxy off by hand while we run. Its
/// secure web proxy, and every other service, must not stay on 127.0.0.1:1095; the web
/// proxy stays off.
#[test]
fn a_change_made_while_we_run_is_kept_at_exit_and_the_rest_restored() {
    for (name, mac) in starting_points() {
        let before = mac.services();
        let system = mac.system();
        system.enable(&modes()[0]).unwrap();
        let first = mac.services()[0]["name"].as_str().unwrap().to_string();
        mac.env()
            .run("networksetup", &["-setwebproxystate", &first, "off"])
            .unwrap();
        assert!(system.disable().unwrap());
        let now = mac.services();
        assert_eq!(now[0]["web"]["enabled"], false, "{name}: the user's off");
        let (b, n) = part(&before, &now, 0, "secureweb");
        assert_eq!(n, b, "{name}: the secure web proxy is not left on us");
        if before[0]["web"]["enabled"] == false {
            // Off as it was before: the whole service as it was.
            let (b, n) = restorable(&json!([before[0].clone()]), &json!([now[0].clone()]));
            assert_eq!(n, b, "{name}");
        }
        assert_others_restored(&mac, &before, 0, name);
        assert!(!system.state_path().exists());
    }
}

/// The reverse: a change to a service other than the first (a VPN app writing its own
/// proxy) is kept, while the first service goes back.
#[test]
fn a_change_to_another_service_is_kept_while_the_rest_goes_back() {
    let (name, mac) = starting_points().remove(0);
    let before = mac.services();
    let system = mac.system();
    system.enable(&modes()[2]).unwrap();
    mac.env()
        .run(
            "networksetup",
            &[
                "-setautoproxyurl",
                "Thunderbolt Bridge",
                "http://vpn-app.example/p.pac",
            ],
        )
        .unwrap();
    system.disable().unwrap();
    let now = mac.services();
    assert_eq!(
        now[1]["auto"]["url"], "http://vpn-app.example/p.pac",
        "{name}"
    );
    assert_eq!(now[1]["auto"]["enabled"], true, "{name}");
    assert_others_restored(&mac, &before, 1, name);
}

/// Per service: starting points × modes × ways of stopping × a change the user makes to
/// one service (web proxy off, or their own web proxy). The changed part is theirs; no
/// service routes through us afterwards; every other service is exactly as before.
#[test]
fn per_service_matrix_stopped_by_disable() {
    per_service_matrix("disable");
}

#[test]
fn per_service_matrix_stopped_by_a_crash_and_recovery() {
    per_service_matrix("crash and recover");
}

fn per_service_matrix(stop: &str) {
    let ours = |v: &Value| {
        ["web", "secureweb", "socksfirewall"]
            .iter()
            .any(|k| v[k]["enabled"] == true && v[k]["server"] == OURS && v[k]["port"] == PORT)
            || (v["auto"]["enabled"] == true
                && v["auto"]["url"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&format!("http://{OURS}:{PORT}/")))
    };
    for (name, _) in starting_points() {
        for desired in [&modes()[0], &modes()[2]] {
            {
                for change in ["web off", "their own web proxy"] {
                    let mac = starting_points()
                        .into_iter()
                        .find(|(n, _)| *n == name)
                        .unwrap()
                        .1;
                    let before = mac.services();
                    let changed = before
                        .as_array()
                        .unwrap()
                        .iter()
                        .rposition(|s| s["enabled"] == true)
                        .unwrap();
                    let service = before[changed]["name"].as_str().unwrap().to_string();
                    let system = mac.system();
                    system.enable(desired).unwrap();
                    let args: Vec<&str> = match change {
                        "web off" => vec!["-setwebproxystate", &service, "off"],
                        _ => vec!["-setwebproxy", &service, "their-own.example", "3128"],
                    };
                    let ours_before = mac.services()[changed]["web"].clone();
                    mac.env().run("networksetup", &args).unwrap();
                    let theirs = mac.services()[changed]["web"].clone();
                    // Switching off what we had already switched off changes nothing.
                    let user_changed = theirs != ours_before;
                    if stop == "disable" {
                        system.disable().unwrap();
                    } else {
                        mac.crash(system);
                        mac.system().recover().unwrap();
                    }
                    let case = format!("{name}, {desired:?}, {stop}, {service:?} {change}");
                    let now = mac.services();
                    if user_changed {
                        assert_eq!(now[changed]["web"]["enabled"], theirs["enabled"], "{case}");
                    }
                    if change != "web off" {
                        assert_eq!(now[changed]["web"], theirs, "{case}");
                    }
                    for s in now.as_array().unwrap() {
                        assert!(!ours(s), "{case}: still ours: {s}");
                    }
                    assert_others_restored(&mac, &before, changed, &case);
                }
            }
        }
    }
}

/// A service that appears while we run (an iPhone over USB, a new dongle) and is reached
/// by a re-apply is saved before that first write and put back at exit.
#[test]
fn a_service_added_while_running_and_reached_by_a_reapply_is_restored() {
    let (_, mac) = starting_points().remove(0);
    let system = mac.system();
    system.enable(&modes()[0]).unwrap();
    mac.change(|s| {
        s["services"]
            .as_array_mut()
            .unwrap()
            .push(service("iPhone USB", "en9", true))
    });
    let added = json!([mac.services()[2].clone()]);
    system.enable(&modes()[0]).unwrap();
    assert_eq!(mac.services()[2]["web"]["enabled"], true, "it became ours");
    system.disable().unwrap();
    let (want, got) = restorable(&added, &json!([mac.services()[2].clone()]));
    assert_eq!(got, want);
}

/// A state file lost while the setting was ours (damaged, another user's, another
/// version): the next enable saves what a Mac ships for each service, never our leftover.
#[test]
fn a_leftover_of_ours_is_never_saved_as_the_users_setting() {
    for desired in [&modes()[0], &modes()[2]] {
        let (_, mac) = starting_points().remove(0);
        let system = mac.system();
        system.enable(desired).unwrap();
        mac.crash(system);
        std::fs::write(mac.dir.path().join("system-proxy.json"), b"{").unwrap();
        let next = mac.system();
        next.enable(desired).unwrap();
        next.disable().unwrap();
        for s in mac.services().as_array().unwrap() {
            for kind in ["web", "secureweb", "socksfirewall", "auto"] {
                assert_eq!(s[kind]["enabled"], false, "{desired:?}: {s}");
            }
            assert_eq!(s["bypass"], json!(["*.local", "169.254/16"]));
        }
    }
}

#[test]
fn without_admin_rights_one_password_prompt_applies_and_one_restores() {
    let (_, mac) = starting_points().remove(1);
    mac.change(|s| s["admin_required"] = json!(true));
    let before = mac.services();
    mac.processes();
    let system = mac.system();
    system.enable(&modes()[0]).unwrap();
    assert_eq!(mac.processes().2, 1);
    assert_ours(&mac, &before, &modes()[0], "admin");
    system.disable().unwrap();
    assert_eq!(mac.processes().2, 1);
    assert_restored(&mac, &before, "admin");
}

/// A refused password prompt during a guard re-apply stops the guard asking: one prompt,
/// not one every 3 s while something else keeps changing the setting. The next enable
/// (the user's own action) asks again.
#[test]
fn after_a_refused_prompt_the_guard_asks_no_more_until_the_next_enable() {
    let (_, mac) = starting_points().remove(0);
    mac.change(|s| s["admin_required"] = json!(true));
    let system = mac.system();
    let desired = &modes()[0];
    system.enable(desired).unwrap();
    mac.change(|s| s["osascript"] = json!("cancel"));
    mac.env()
        .with("FAKE_MACOS_ADMIN", "1")
        .run("networksetup", &["-setwebproxystate", "Wi-Fi", "off"])
        .unwrap();
    mac.processes();
    let first = system.reassert(desired).unwrap_err().to_string();
    assert!(first.contains("cancelled"), "{first}");
    for _ in 0..3 {
        assert_eq!(system.reassert(desired).unwrap(), None);
    }
    assert_eq!(mac.processes().2, 1, "one prompt only");
    mac.change(|s| s["osascript"] = json!("allow"));
    system.enable(desired).unwrap();
    assert_eq!(mac.processes().2, 1, "the user's enable asks again");
    system.disable().unwrap();
}

/// Whether `-set…proxy SVC HOST PORT` keeps "Authenticated Proxy Enabled" is unconfirmed.
/// In the world where it clears it, enabling over an authenticated proxy still works (our
/// endpoint's flag is no matter), and the restore, which cannot bring the flag back without
/// the user's password, fails loudly, says what to do, and keeps the state file; once the
/// user has turned it back on, the restore completes. (The other world is every test above.)
#[test]
fn where_setting_a_server_clears_authentication_the_restore_says_so_and_keeps_the_state() {
    let (_, mac) = starting_points().remove(1);
    mac.change(|s| s["set_resets_auth"] = json!(true));
    let before = mac.services();
    let system = mac.system();
    system.enable(&modes()[0]).unwrap();
    assert!(system.status().unwrap().ours);
    assert_eq!(
        mac.services()[0]["secureweb"]["auth"],
        0,
        "the model cleared it"
    );

    let error = system.disable().unwrap_err().to_string();
    assert!(error.contains("requires password"), "{error}");
    assert!(error.contains("system-proxy restore"), "{error}");
    assert!(system.state_path().exists(), "kept for the next try");
    mac.env()
        .run(
            "networksetup",
            &[
                "-setsecurewebproxy",
                "Wi-Fi",
                "corp.example",
                "3128",
                "on",
                "me",
                "pw",
            ],
        )
        .unwrap();
    system.disable().unwrap();
    assert!(!system.state_path().exists());
    let now = mac.services();
    assert_eq!(now[0]["secureweb"]["auth"], before[0]["secureweb"]["auth"]);
    let (b, n) = part(&before, &now, 0, "web");
    assert_eq!(n, b);
}

/// At logout or shutdown nobody can answer a password prompt: the restore must not wait
/// on one. It fails at once, says the next login puts the setting back, and keeps the
/// state file for that.
#[test]
fn a_restore_while_the_session_ends_asks_for_no_password_and_keeps_the_state_file() {
    let (_, mac) = starting_points().remove(1);
    mac.change(|s| s["admin_required"] = json!(true));
    let before = mac.services();
    let system = mac.system();
    system.enable(&modes()[0]).unwrap();
    mac.processes();
    system.set_unattended();
    let error = system.disable().unwrap_err().to_string();
    assert!(error.contains("next login"), "{error}");
    assert_eq!(mac.processes().2, 0, "no password prompt");
    assert!(system.state_path().exists(), "kept for the next login");
    // The next login (or start) repairs it, with the prompt a person can answer then.
    let next = mac.system();
    mac.crash_path(system.state_path());
    assert_eq!(next.recover().unwrap(), Recovery::Restored);
    assert_restored(&mac, &before, "after the next login");
}

#[test]
fn a_cancelled_password_prompt_changes_nothing_and_says_what_to_do() {
    let (_, mac) = starting_points().remove(0);
    mac.change(|s| {
        s["admin_required"] = json!(true);
        s["osascript"] = json!("cancel");
    });
    let before = mac.services();
    let system = mac.system();
    let error = system.enable(&modes()[0]).unwrap_err().to_string();
    assert!(error.contains("administrator"), "{error}");
    assert!(error.contains("cancelled"), "{error}");
    assert!(!error.contains("exit status"), "{error}");
    assert_eq!(mac.services(), before);
    assert!(!system.state_path().exists());
}

#[test]
fn the_current_setting_is_the_primary_services_and_costs_a_few_processes() {
    let mut ethernet = service("Ethernet", "en1", true);
    ethernet["web"] = proxy(true, "theirs.example", 1, 0);
    ethernet["secureweb"] = proxy(true, "theirs.example", 1, 0);
    let mut services = vec![service("Wi-Fi", "en0", true), ethernet];
    for i in 0..6 {
        // A VPN service has no device in the service order; its tunnel is its interface.
        let mut vpn = service(&format!("VPN {i}"), "", true);
        vpn["interface"] = json!(format!("utun{i}"));
        services.push(vpn);
    }
    let mac = Mac::new(services, "en1");
    let backend = mac.backend();
    mac.processes();
    let current = backend.current().unwrap();
    assert_eq!(current.http.as_deref(), Some("theirs.example:1"));
    // scutil once, the service lists twice and six reads: not one per service.
    assert_eq!(mac.processes(), (8, 1, 0));

    // Offline: the first enabled service in service order.
    mac.change(|s| s["primary"] = json!(""));
    assert_eq!(backend.current().unwrap().mode, "none");
    mac.change(|s| s["services"][0]["enabled"] = json!(false));
    assert_eq!(
        backend.current().unwrap().http.as_deref(),
        Some("theirs.example:1")
    );
}

/// With a VPN as the primary service (empty device, a utun interface), the current setting
/// is the VPN's, not Wi-Fi's: what macOS applies, and what the guard and status read.
#[test]
fn with_a_vpn_as_the_primary_service_the_current_setting_is_the_vpns() {
    let mut vpn = service("Corp VPN", "", true);
    vpn["interface"] = json!("utun3");
    vpn["web"] = proxy(true, "vpn-proxy.example", 8080, 0);
    vpn["secureweb"] = proxy(true, "vpn-proxy.example", 8080, 0);
    let mac = Mac::new(vec![service("Wi-Fi", "en0", true), vpn], "utun3");
    let backend = mac.backend();
    mac.processes();
    let current = backend.current().unwrap();
    assert_eq!(current.http.as_deref(), Some("vpn-proxy.example:8080"));
    // scutil twice: the primary service's id, then its name.
    assert_eq!(mac.processes().1, 2);
}

#[test]
fn an_ipv6_listener_reads_back_as_ours() {
    let (_, mac) = starting_points().remove(0);
    let desired = Desired::global("[::1]:1095".parse().unwrap(), Vec::new(), false);
    let system = mac.system();
    system.enable(&desired).unwrap();
    assert_eq!(
        mac.backend().current().unwrap().http.as_deref(),
        Some("[::1]:1095")
    );
    assert!(system.status().unwrap().ours);
    system.disable().unwrap();
}

#[test]
fn services_removed_or_added_while_running_are_left_alone() {
    let (_, mac) = starting_points().remove(0);
    let system = mac.system();
    system.enable(&modes()[0]).unwrap();
    mac.change(|s| {
        let list = s["services"].as_array_mut().unwrap();
        list.remove(1);
        list.push(service("iPhone USB", "en9", true));
    });
    let added = mac.services()[1].clone();
    system.disable().unwrap();
    assert_eq!(mac.services()[0]["web"]["enabled"], false);
    assert_eq!(mac.services()[1], added);
}

#[test]
fn restore_writes_only_what_differs() {
    let (_, mac) = starting_points().remove(0);
    let system = mac.system();
    system
        .enable(&Desired::pac(
            format!("{OURS}:{PORT}").parse().unwrap(),
            &[],
        ))
        .unwrap();
    mac.processes();
    system.disable().unwrap();
    let log = mac.read()["log"].clone();
    let writes: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["argv"][0].as_str().unwrap_or("").starts_with("-set"))
        .collect();
    // One auto-proxy state per service: nothing else was ours.
    assert_eq!(writes.len(), 2, "{writes:?}");
}

#[test]
fn a_failing_tool_says_what_it_printed_not_only_its_status() {
    let (_, mac) = starting_points().remove(0);
    let error = mac
        .env()
        .run(
            "networksetup",
            &["-setwebproxy", "No Such Service", "h", "1"],
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("** Error"), "{error}");
    assert_eq!(mac.backend().name(), "macOS (networksetup, all services)");
}

/// The snapshot records each proxy as networksetup reports it, the authentication flag
/// included (it is compared after a restore, never written).
#[test]
fn the_snapshot_reads_every_field_networksetup_reports() {
    let (_, mac) = starting_points().remove(1);
    let snapshot = mac.backend().snapshot().unwrap();
    assert_eq!(snapshot["Wi-Fi|web"], "on|corp.example|3128|0");
    assert_eq!(snapshot["Wi-Fi|secureweb"], "on|corp.example|3128|1");
    assert_eq!(snapshot["Wi-Fi|socksfirewall"], "off||0|0");
    assert_eq!(snapshot["Wi-Fi|auto"], "off|");
    assert_eq!(snapshot["Wi-Fi|bypass"], "*.corp.example\n10.0.0.0/8");
    assert_eq!(snapshot["Wi-Fi|discovery"], "off");
}

#[test]
fn a_write_that_does_not_take_is_an_error_and_leaves_nothing_behind() {
    let (_, mac) = starting_points().remove(1);
    mac.change(|s| s["writes_ignored"] = json!(true));
    let before = mac.services();
    let system = mac.system();
    let error = system.enable(&modes()[0]).unwrap_err().to_string();
    assert!(error.contains("did not take"), "{error}");
    assert!(error.contains("configuration profile"), "{error}");
    assert!(!error.contains("D-Bus"), "{error}");
    assert_eq!(mac.services(), before);
    assert!(!system.state_path().exists());
}
