//! A private desktop session for system-proxy tests: a temporary HOME and XDG dirs, and
//! a D-Bus session bus of its own started with `dbus-run-session`, so real `gsettings`
//! (dconf) and `kwriteconfig5` never touch the real desktop's setting.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Session {
    pub dir: tempfile::TempDir,
    pub bus: String,
    pub desktop: String,
    runner: Child,
    holder_pid: u32,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Ending the session's only child makes dbus-run-session stop its bus daemon.
        let _ = Command::new("kill")
            .arg(self.holder_pid.to_string())
            .status();
        let _ = self.runner.wait();
    }
}

impl Session {
    pub fn start(desktop: &str) -> Session {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "config", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let (runner, holder_pid, bus) = spawn_bus(dir.path());
        Session {
            bus,
            holder_pid,
            desktop: desktop.to_string(),
            runner,
            dir,
        }
    }

    /// Ends the session bus, as a logout does; the home and its settings stay.
    pub fn end_bus(&mut self) {
        let _ = Command::new("kill")
            .arg(self.holder_pid.to_string())
            .status();
        let _ = self.runner.wait();
    }

    /// A new session bus over the same home, as the next login has.
    pub fn new_bus(&mut self) {
        let (runner, holder_pid, bus) = spawn_bus(self.dir.path());
        (self.runner, self.holder_pid, self.bus) = (runner, holder_pid, bus);
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let p = |s: &str| self.dir.path().join(s).display().to_string();
        vec![
            ("HOME".into(), p("home")),
            ("XDG_CONFIG_HOME".into(), p("config")),
            ("XDG_STATE_HOME".into(), p("state")),
            ("XDG_CURRENT_DESKTOP".into(), self.desktop.clone()),
            // English, whatever the machine's locale: the tray tests read menu labels.
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.clone()),
            // The "system bus" is the private one too: logind and NetworkManager signals
            // in tests are emitted there, and nothing reaches the machine's real one.
            ("DBUS_SYSTEM_BUS_ADDRESS".into(), self.bus.clone()),
        ]
    }

    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env())
            .env_remove("GSETTINGS_BACKEND")
            .env_remove("KDE_SESSION_VERSION")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a tool in the session; panics with its stderr when it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a tool in the session; None when it fails.
    pub fn gsettings_like(&self, program: &str, args: &[&str]) -> Option<String> {
        let out = self.command(program).args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn gsettings(&self, args: &[&str]) -> String {
        self.run("gsettings", args).trim().to_string()
    }

    /// The keys the user (or we) set, as opposed to those following their defaults.
    pub fn dconf_dump(&self) -> String {
        self.run("dconf", &["dump", "/system/proxy/"])
    }

    /// The whole GNOME proxy setting, one key per line.
    pub fn gnome_listing(&self) -> String {
        self.gsettings(&["list-recursively", "org.gnome.system.proxy"])
    }

    pub fn kio(&self, key: &str) -> String {
        self.run(
            "kreadconfig5",
            &[
                "--file",
                "kioslaverc",
                "--group",
                "Proxy Settings",
                "--key",
                key,
            ],
        )
        .trim_end()
        .to_string()
    }

    pub fn set_kio(&self, key: &str, value: &str) {
        self.run(
            "kwriteconfig5",
            &[
                "--file",
                "kioslaverc",
                "--group",
                "Proxy Settings",
                "--key",
                key,
                value,
            ],
        );
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("state/socksbridge/system-proxy.json")
    }
}

/// Starts `dbus-run-session` over the session's directories: its runner, the pid of the
/// process that keeps it alive, and the bus address.
fn spawn_bus(dir: &std::path::Path) -> (Child, u32, String) {
    let mut runner = Command::new("dbus-run-session")
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$$ $DBUS_SESSION_BUS_ADDRESS\"; exec sleep 600",
        ])
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("GSETTINGS_BACKEND")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-run-session is not installed: run scripts/install-test-deps.sh");
    let mut line = String::new();
    BufReader::new(runner.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (pid, bus) = line
        .trim()
        .split_once(' ')
        .expect("no bus address from dbus-run-session");
    (runner, pid.parse().unwrap(), bus.to_string())
}
