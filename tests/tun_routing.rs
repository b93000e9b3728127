//! The whole-desktop mode's routing on a real Linux kernel, inside a network namespace each
//! test makes for itself (an uplink with documentation addresses and a TUN device;
//! nothing is sent anywhere): the kernel's own route lookups show what the capture sends
//! into the TUN and what it leaves alone, and after a `kill -9`-like abort `socksbridge
//! tun restore` leaves `ip rule` and `ip route show table all` byte-identical.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};

use socksbridge::system_proxy::CommandEnv;
use socksbridge::tun::routing;
use socksbridge::tun::rules::Capture;

const HELPER: &str = "SOCKSBRIDGE_TUN_TEST_HELPER";

/// A network namespace with a default route over an uplink (one end of a veth pair) (192.0.2.2/24 via
/// 192.0.2.1) and a TUN device `sbtun0`; removed on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(tag: &str) -> Namespace {
        let name = format!("sbtun{tag}{}", std::process::id() % 60_000);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ok(&run("ip", &["netns", "add", &name]));
        let namespace = Namespace { name };
        for args in [
            "link set lo up",
            "link add up0 type veth peer name up1",
            "link set up1 up",
            "addr add 192.0.2.2/24 dev up0",
            "addr add 2001:db8:1::2/64 dev up0 nodad",
            "link set up0 up",
            "route add default via 192.0.2.1",
            "-6 route add default via 2001:db8:1::1",
            "tuntap add dev sbtun0 mode tun",
            "link set sbtun0 up",
        ] {
            namespace.ip(&args.split(' ').collect::<Vec<_>>());
        }
        namespace
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ok(&run("ip", &all))
    }

    /// Everything the capture may touch, as `ip` prints it.
    fn routing(&self) -> String {
        [
            "-4 rule show",
            "-6 rule show",
            "-4 route show table all",
            "-6 route show table all",
        ]
        .iter()
        .map(|args| self.ip(&args.split(' ').collect::<Vec<_>>()))
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// The device the kernel would send a packet to `to` out of (with `extra`, e.g. a mark).
    fn route_dev(&self, to: &str, extra: &[&str]) -> String {
        let mut args = vec!["route", "get", to];
        args.extend_from_slice(extra);
        let out = self.ip(&args);
        let mut words = out.split_whitespace();
        while let Some(word) = words.next() {
            if word == "dev" {
                return words.next().unwrap_or_default().to_string();
            }
        }
        panic!("no device in `ip route get {to}`: {out}")
    }

    /// Runs `program args` inside the namespace with `env` set.
    fn exec(&self, env: &[(&str, &str)], program: &str, args: &[&str]) -> Output {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, program])
            .args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("ip netns exec")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().expect(program)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{} (this test needs root, as CI has)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn capture() -> Capture {
    Capture {
        device: "sbtun0".into(),
        table: 1095,
        mark: 0x1095,
        exclude: vec![
            "203.0.113.1".parse().unwrap(),
            "2001:db8:2::1".parse().unwrap(),
        ],
    }
}

/// Run inside a namespace by the tests below (re-executing this test binary): captures,
/// says so, and dies the way `kill -9` kills — no destructor, no restore.
#[test]
#[ignore = "a helper the namespace tests run inside their namespace"]
fn helper_capture_then_abort() {
    let Ok(journal) = std::env::var(HELPER) else {
        return;
    };
    if let Err(error) = routing::capture(&capture(), Path::new(&journal), &CommandEnv::new()) {
        eprintln!("{error}");
        std::process::exit(3);
    }
    println!("captured");
    std::process::abort();
}

#[test]
fn a_killed_capture_is_undone_exactly_by_tun_restore() {
    let ns = Namespace::create("k");
    let before = ns.routing();
    let state = tempfile::tempdir().unwrap();
    let journal = state.path().join("socksbridge").join("tun.json");
    let this = std::env::current_exe().unwrap();
    let helper = ns.exec(
        &[(HELPER, journal.to_str().unwrap())],
        this.to_str().unwrap(),
        &[
            "--exact",
            "helper_capture_then_abort",
            "--ignored",
            "--nocapture",
        ],
    );
    assert!(
        String::from_utf8_lossy(&helper.stdout).contains("captured"),
        "{}",
        String::from_utf8_lossy(&helper.stderr)
    );
    assert!(
        !helper.status.success(),
        "the helper died without restoring"
    );
    assert!(journal.exists());

    // While the capture stands, the kernel's own decisions.
    let table = [
        // destination, extra, device
        ("198.51.100.7", &[][..], "sbtun0"),
        ("2001:db8:3::7", &[][..], "sbtun0"),
        ("203.0.113.1", &[][..], "up0"),
        ("2001:db8:2::1", &[][..], "up0"),
        ("192.0.2.50", &[][..], "up0"),
        ("198.51.100.7", &["mark", "0x1095"][..], "up0"),
        ("2001:db8:3::7", &["mark", "0x1095"][..], "up0"),
        (
            "192.0.2.53",
            &["ipproto", "udp", "dport", "53"][..],
            "sbtun0",
        ),
        (
            "192.0.2.53",
            &["ipproto", "tcp", "dport", "53"][..],
            "sbtun0",
        ),
        (
            "192.0.2.53",
            &["ipproto", "udp", "dport", "53", "mark", "0x1095"][..],
            "up0",
        ),
        ("127.0.0.1", &[][..], "lo"),
    ];
    for (to, extra, dev) in table {
        assert_eq!(ns.route_dev(to, extra), dev, "{to} {extra:?}");
    }
    assert_ne!(ns.routing(), before);

    let cli = env!("CARGO_BIN_EXE_socksbridge");
    let xdg = [("XDG_STATE_HOME", state.path().to_str().unwrap())];
    let status = ok(&ns.exec(&xdg, cli, &["tun", "status"]));
    assert!(status.contains("device sbtun0"), "{status}");
    assert!(status.contains("gone"), "{status}");
    assert!(
        status.contains("ip -4 rule add pref 9004 lookup 1095"),
        "{status}"
    );

    let restored = ok(&ns.exec(&xdg, cli, &["tun", "restore"]));
    assert!(restored.contains("restored: 14 of 14"), "{restored}");
    assert_eq!(ns.routing(), before, "byte-identical after restore");
    assert!(!journal.exists());
    assert_eq!(ns.route_dev("198.51.100.7", &[]), "up0");

    let again = ok(&ns.exec(&xdg, cli, &["tun", "restore"]));
    assert!(again.contains("nothing to restore"), "{again}");
    let status = ok(&ns.exec(&xdg, cli, &["tun", "status"]));
    assert!(status.contains("capture: none"), "{status}");
}

#[test]
fn a_capture_that_fails_part_way_undoes_itself_and_leaves_the_users_route() {
    let ns = Namespace::create("f");
    // The user's own route where ours would go: our second change fails on it.
    ns.ip(&[
        "-6", "route", "add", "default", "dev", "sbtun0", "table", "1095",
    ]);
    let before = ns.routing();
    let state = tempfile::tempdir().unwrap();
    let journal = state.path().join("tun.json");
    let this = std::env::current_exe().unwrap();
    let helper = ns.exec(
        &[(HELPER, journal.to_str().unwrap())],
        this.to_str().unwrap(),
        &[
            "--exact",
            "helper_capture_then_abort",
            "--ignored",
            "--nocapture",
        ],
    );
    let stderr = String::from_utf8_lossy(&helper.stderr);
    assert!(!String::from_utf8_lossy(&helper.stdout).contains("captured"));
    assert!(
        stderr.contains("`ip -6 route add default dev sbtun0 table 1095` failed"),
        "{stderr}"
    );
    assert!(stderr.contains("File exists"), "{stderr}");
    assert_eq!(
        ns.routing(),
        before,
        "the v4 route undone, the user's v6 route kept"
    );
    assert!(!journal.exists());
}
