//! The operating system's proxy setting, owned carefully: the user's own setting is
//! snapshotted to a state file before we change anything, put back exactly on disable,
//! exit, signal or panic, and repaired at the next start after a crash or power loss.
//!
//! Each OS (GNOME, KDE, macOS, Windows) is a [`Backend`] behind one small trait whose every
//! write is checked and read back; this module holds the lifecycle, which is the same
//! everywhere.

pub mod bypass;
mod command;
pub mod env;
pub mod gnome;
mod gvariant;
pub mod kde;
pub mod macos;
pub(crate) mod pac;
mod state;
pub mod windows;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub use command::CommandEnv;
pub use state::{default_state_path, StateFile};

/// A backend's full record of the setting, enough to put it back exactly
/// (backend-specific keys → values as the OS tool prints them).
pub type Snapshot = BTreeMap<String, String>;

/// What we point the OS at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Desired {
    /// HTTP and HTTPS (and SOCKS when `socks`) to our mixed port.
    Global {
        proxy: SocketAddr,
        bypass: Vec<String>,
        socks: bool,
    },
    /// Automatic configuration from our PAC URL.
    Pac { url: String },
}

impl Desired {
    /// For a listener at `listen` (an unspecified address becomes loopback).
    pub fn global(listen: SocketAddr, bypass: Vec<String>, socks: bool) -> Desired {
        Desired::Global {
            proxy: pac::reachable(listen),
            bypass,
            socks,
        }
    }

    /// Our PAC URL for a listener at `listen` serving a PAC file with `bypass`. The URL
    /// names the file's revision, so a changed list is a changed URL: WinINet and browsers
    /// cache a PAC file by URL and would otherwise keep the old list.
    pub fn pac(listen: SocketAddr, bypass: &[String]) -> Desired {
        Desired::Pac {
            url: pac::pac_url(listen, bypass),
        }
    }
}

/// The OS setting as a person would describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// `none`, `manual`, `auto`, …
    pub mode: String,
    pub http: Option<String>,
    pub https: Option<String>,
    pub socks: Option<String>,
    pub bypass: Vec<String>,
    pub pac_url: String,
}

impl Current {
    /// True when this setting routes through `desired`.
    pub fn points_at(&self, desired: &Desired) -> bool {
        match desired {
            Desired::Global { proxy, .. } => {
                let ours = proxy.to_string();
                self.mode == "manual"
                    && self.http.as_deref() == Some(&ours)
                    && self.https.as_deref() == Some(&ours)
            }
            Desired::Pac { url } => self.mode == "auto" && &self.pac_url == url,
        }
    }

    fn expect_points_at(&self, desired: &Desired, hint: &'static str) -> Result<(), SysProxyError> {
        if self.points_at(desired) {
            Ok(())
        } else {
            Err(SysProxyError::DidNotTake {
                detail: format!("the setting reads back as: {self}"),
                hint,
            })
        }
    }
}

impl fmt::Display for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode.as_str() {
            "manual" => {
                write!(
                    f,
                    "manual: http {}, https {}",
                    self.http.as_deref().unwrap_or("-"),
                    self.https.as_deref().unwrap_or("-")
                )?;
                if let Some(socks) = &self.socks {
                    write!(f, ", socks {socks}")?;
                }
                if !self.bypass.is_empty() {
                    write!(f, "; bypass {}", self.bypass.join(", "))?;
                }
                Ok(())
            }
            "auto" => write!(
                f,
                "automatic (PAC {})",
                if self.pac_url.is_empty() {
                    "auto-detected"
                } else {
                    &self.pac_url
                }
            ),
            "" | "none" => f.write_str("none (direct)"),
            other => f.write_str(other),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SysProxyError {
    #[error("this desktop ({desktop}) has no system proxy setting SocksBridge can change; point terminals at the proxy with `socksbridge env`")]
    Unsupported { desktop: String },
    #[error("{tool} is not installed")]
    ToolMissing { tool: String },
    #[error("`{command}` failed: {detail}")]
    CommandFailed { command: String, detail: String },
    /// `hint` names what most often stops a change on that OS.
    #[error("the system proxy setting did not take ({detail}); {hint}")]
    DidNotTake { detail: String, hint: &'static str },
    #[error("state file {}: {source}", path.display())]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "changing the proxy setting on this Mac needs an administrator's password: {detail}. \
         Enable it again and enter the name and password of an administrator of this Mac"
    )]
    NeedsAdmin { detail: String },
    #[error("another socksbridge (pid {pid}) manages the system proxy")]
    Busy { pid: u32 },
}

/// One OS's way to read and write the proxy setting. Every write is verified by reading
/// the setting back; a write that did not take is an error, never a silent success.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Everything needed to restore the current setting exactly.
    fn snapshot(&self) -> Result<Snapshot, SysProxyError>;
    fn current(&self) -> Result<Current, SysProxyError>;
    fn apply(&self, desired: &Desired) -> Result<(), SysProxyError>;
    fn restore(&self, snapshot: &Snapshot) -> Result<(), SysProxyError>;
}

/// Splits an OS list setting (`a,b` or `a;b`) into its non-empty entries.
pub(crate) fn split_list(value: &str, separator: char) -> Vec<String> {
    value
        .split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// `host:port` as the OS tools' separate fields spell it, an IPv6 host in brackets once
/// (`[::1]:1095`), so it compares with a `SocketAddr`'s spelling.
pub(crate) fn host_port(host: &str, port: impl fmt::Display) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Picks the backend for this machine's desktop.
pub fn detect_backend(env: &CommandEnv) -> Result<Box<dyn Backend>, SysProxyError> {
    #[cfg(target_os = "macos")]
    {
        let _ = env;
        Ok(Box::new(macos::MacOs::new()))
    }
    #[cfg(windows)]
    {
        let _ = env;
        Ok(Box::new(windows::Windows::new()))
    }
    #[cfg(not(any(target_os = "macos", windows)))]
    {
        let desktop = env.get("XDG_CURRENT_DESKTOP").unwrap_or_default();
        let names: Vec<String> = desktop
            .split(':')
            .map(|d| d.trim().to_ascii_lowercase())
            .collect();
        let any = |list: &[&str]| names.iter().any(|n| list.contains(&n.as_str()));
        if any(&["kde"]) {
            return Ok(Box::new(kde::Kde::new(env.clone())?));
        }
        if any(&[
            "gnome",
            "gnome-classic",
            "gnome-flashback",
            "ubuntu",
            "unity",
            "cinnamon",
            "x-cinnamon",
            "mate",
            "budgie",
            "budgie-desktop",
            "pantheon",
            "pop",
            "cosmic",
        ]) {
            return Ok(Box::new(gnome::Gnome::new(env.clone())));
        }
        let desktop = if desktop.is_empty() {
            "no desktop session".to_string()
        } else {
            desktop
        };
        Err(SysProxyError::Unsupported { desktop })
    }
}

/// What [`SystemProxy::recover`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// No state file: nothing was left behind.
    Clean,
    /// The setting still pointed at a dead instance of us and was restored.
    Restored,
    /// The user changed the setting since; theirs was kept and the state file dropped.
    KeptUserSetting,
    /// The instance that applied the setting is still running.
    OwnerRunning { pid: u32 },
}

/// `socksbridge system-proxy status`.
#[derive(Debug, Clone)]
pub struct Status {
    pub backend: &'static str,
    pub current: Current,
    /// The setting points at what our state file says we applied.
    pub ours: bool,
    pub state: Option<StateFile>,
}

/// The lifecycle, the same on every OS.
pub struct SystemProxy {
    backend: Box<dyn Backend>,
    state_path: PathBuf,
    lock: Mutex<()>,
}

impl fmt::Debug for SystemProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemProxy")
            .field("backend", &self.backend.name())
            .field("state_path", &self.state_path)
            .finish()
    }
}

impl SystemProxy {
    pub fn new(backend: Box<dyn Backend>, state_path: PathBuf) -> SystemProxy {
        SystemProxy {
            backend,
            state_path,
            lock: Mutex::new(()),
        }
    }

    /// This desktop's backend and the default state file.
    pub fn detect() -> Result<SystemProxy, SysProxyError> {
        let env = CommandEnv::new();
        let backend = detect_backend(&env)?;
        Ok(SystemProxy::new(backend, default_state_path()))
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Points the OS at `desired`. The first time, the user's setting is saved to the
    /// state file *before* anything changes; switching modes later keeps that snapshot.
    /// If applying fails, the user's setting is put back and the error returned.
    pub fn enable(&self, desired: &Desired) -> Result<(), SysProxyError> {
        let _guard = self.locked();
        let state = match state::read(&self.state_path)? {
            Some(existing) if existing.pid == std::process::id() => StateFile {
                applied: desired.clone(),
                ..existing
            },
            Some(existing) if state::owner_alive(existing.pid) => {
                return Err(SysProxyError::Busy { pid: existing.pid })
            }
            Some(stale) => {
                // A crashed run's leftover: repair first so we snapshot the user's setting.
                self.recover_locked(stale)?;
                self.fresh_state(desired)?
            }
            None => self.fresh_state(desired)?,
        };
        state::write(&self.state_path, &state)?;
        if let Err(e) = self.backend.apply(desired) {
            match self.backend.restore(&state.snapshot) {
                Ok(()) => state::remove(&self.state_path)?,
                Err(restore) => tracing::error!(
                    "could not put the system proxy back after a failed change: {restore}"
                ),
            }
            return Err(e);
        }
        tracing::info!(
            "system proxy ({}) now points at us: {}",
            self.backend.name(),
            describe(desired)
        );
        Ok(())
    }

    fn fresh_state(&self, desired: &Desired) -> Result<StateFile, SysProxyError> {
        Ok(StateFile {
            version: state::VERSION,
            backend: self.backend.name().to_string(),
            pid: std::process::id(),
            applied: desired.clone(),
            snapshot: self.backend.snapshot()?,
        })
    }

    /// Puts the user's setting back and drops the state file. Ok(false) when we had
    /// changed nothing. A setting changed while we ran (by the user, or a program they
    /// run) no longer points at us and is theirs now: it is kept, not overwritten with the
    /// older snapshot. If the setting cannot be read, the restore is tried anyway.
    pub fn disable(&self) -> Result<bool, SysProxyError> {
        let _guard = self.locked();
        let Some(state) = state::read(&self.state_path)? else {
            return Ok(false);
        };
        if let Ok(current) = self.backend.current() {
            if !current.points_at(&state.applied) {
                state::remove(&self.state_path)?;
                tracing::info!(
                    "the system proxy ({}) was changed while SocksBridge ran; keeping it: \
                     {current}",
                    self.backend.name()
                );
                return Ok(true);
            }
        }
        self.backend.restore(&state.snapshot)?;
        state::remove(&self.state_path)?;
        tracing::info!(
            "system proxy ({}) restored: {}",
            self.backend.name(),
            self.backend
                .current()
                .map(|c| c.to_string())
                .unwrap_or_default()
        );
        Ok(true)
    }

    /// Repairs what a crashed run left: restores the snapshot if the setting still points
    /// at that run, keeps the user's own change otherwise. Idempotent.
    pub fn recover(&self) -> Result<Recovery, SysProxyError> {
        let _guard = self.locked();
        match state::read(&self.state_path)? {
            None => Ok(Recovery::Clean),
            Some(state) if state.pid != std::process::id() && state::owner_alive(state.pid) => {
                Ok(Recovery::OwnerRunning { pid: state.pid })
            }
            Some(state) => self.recover_locked(state),
        }
    }

    fn recover_locked(&self, state: StateFile) -> Result<Recovery, SysProxyError> {
        let current = self.backend.current()?;
        let outcome = if current.points_at(&state.applied) {
            self.backend.restore(&state.snapshot)?;
            tracing::warn!(
                "a previous run left the system proxy pointing at it; restored the user's setting"
            );
            Recovery::Restored
        } else {
            tracing::info!(
                "the system proxy was changed since a previous run; keeping it ({current})"
            );
            Recovery::KeptUserSetting
        };
        state::remove(&self.state_path)?;
        Ok(outcome)
    }

    pub fn status(&self) -> Result<Status, SysProxyError> {
        let current = self.backend.current()?;
        let state = state::read(&self.state_path)?;
        let ours = state
            .as_ref()
            .is_some_and(|s| current.points_at(&s.applied));
        Ok(Status {
            backend: self.backend.name(),
            current,
            ours,
            state,
        })
    }

    /// The guard's check: re-applies `desired` when someone else changed the setting.
    /// Returns what the setting was when it had to re-apply.
    /// Never re-applies without our state file (the snapshot to restore later).
    pub fn reassert(&self, desired: &Desired) -> Result<Option<Current>, SysProxyError> {
        let current = self.backend.current()?;
        if current.points_at(desired) {
            return Ok(None);
        }
        let _guard = self.locked();
        match state::read(&self.state_path)? {
            Some(state) if state.pid == std::process::id() => {
                self.backend.apply(desired)?;
                Ok(Some(current))
            }
            _ => Ok(None),
        }
    }
}

fn describe(desired: &Desired) -> String {
    match desired {
        Desired::Global { proxy, .. } => format!("HTTP/HTTPS proxy {proxy}"),
        Desired::Pac { url } => format!("PAC {url}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(mode: &str, http: Option<&str>, https: Option<&str>, pac: &str) -> Current {
        Current {
            mode: mode.into(),
            http: http.map(String::from),
            https: https.map(String::from),
            socks: None,
            bypass: Vec::new(),
            pac_url: pac.into(),
        }
    }

    #[test]
    fn the_setting_reads_as_a_person_would_say_it() {
        let mut manual = current("manual", Some("h:1"), Some("h:2"), "");
        assert_eq!(manual.to_string(), "manual: http h:1, https h:2");
        manual.socks = Some("h:3".into());
        manual.bypass = vec!["a".into(), "*.b".into()];
        assert_eq!(
            manual.to_string(),
            "manual: http h:1, https h:2, socks h:3; bypass a, *.b"
        );
        assert_eq!(
            current("auto", None, None, "http://p/x.pac").to_string(),
            "automatic (PAC http://p/x.pac)"
        );
        assert_eq!(
            current("auto", None, None, "").to_string(),
            "automatic (PAC auto-detected)"
        );
        assert_eq!(current("", None, None, "").to_string(), "none (direct)");
        assert_eq!(
            current("auto-detect", None, None, "").to_string(),
            "auto-detect"
        );
    }

    /// "Still ours" decides whether recovery restores and whether the guard re-applies:
    /// anything the user set since, their own PAC URL included, must read as not ours.
    #[test]
    fn points_at_only_our_own_setting() {
        let listen: SocketAddr = "127.0.0.1:1095".parse().unwrap();
        let global = Desired::global(listen, Vec::new(), false);
        let pac = Desired::pac(listen, &[]);
        let ours = Some("127.0.0.1:1095");
        let ours_pac = &pac::pac_url(listen, &[]);
        let cases = [
            (current("manual", ours, ours, ""), true, false),
            (current("manual", ours, ours, ours_pac), true, false),
            (
                current("manual", ours, Some("127.0.0.1:3128"), ""),
                false,
                false,
            ),
            (
                current("manual", Some("corp:3128"), Some("corp:3128"), ""),
                false,
                false,
            ),
            (
                current("manual", Some("127.0.0.1:1096"), Some("127.0.0.1:1096"), ""),
                false,
                false,
            ),
            (current("none", ours, ours, ours_pac), false, false),
            (current("auto", None, None, ours_pac), false, true),
            (current("auto", ours, ours, ours_pac), false, true),
            (
                current("auto", None, None, "http://wpad.corp/proxy.pac"),
                false,
                false,
            ),
            (
                current(
                    "auto",
                    None,
                    None,
                    "http://127.0.0.1:1096/proxy.pac?v=811c9dc5",
                ),
                false,
                false,
            ),
            (current("auto", None, None, ""), false, false),
            (current("manual", None, None, ours_pac), false, false),
        ];
        for (setting, is_global, is_pac) in cases {
            assert_eq!(
                setting.points_at(&global),
                is_global,
                "{setting:?} vs global"
            );
            assert_eq!(setting.points_at(&pac), is_pac, "{setting:?} vs pac");
        }
    }
}
