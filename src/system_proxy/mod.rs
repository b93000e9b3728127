//! The operating system's proxy setting, owned carefully: the user's own setting is
//! snapshotted to a state file before we change anything, put back exactly on disable,
//! exit, signal or panic, and repaired at the next start after a crash or power loss.
//!
//! Each OS (GNOME, KDE, macOS, Windows) is a [`Backend`] behind one small trait whose every
//! write is checked and read back; this module holds the lifecycle, which is the same
//! everywhere.

mod command;
pub mod env;
pub mod gnome;
mod gvariant;
pub mod kde;
pub mod login_restore;
pub mod macos;
pub mod ownership;
mod state;
pub mod windows;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::sync::lock;
use login_restore::{LoginRestore, RestoreCommand};

pub use command::CommandEnv;
pub use ownership::{Merged, Ours};
pub use state::{default_state_path, owner_alive, StateFile};

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
            proxy: crate::pac::reachable(listen),
            bypass,
            socks,
        }
    }

    /// Our PAC URL for a listener at `listen` serving a PAC file with `bypass`. The URL
    /// names the file's revision, so a changed list is a changed URL: WinINet and browsers
    /// cache a PAC file by URL and would otherwise keep the old list.
    pub fn pac(listen: SocketAddr, bypass: &[String]) -> Desired {
        Desired::Pac {
            url: crate::pac::pac_url(listen, bypass),
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

    /// Some proxying is on (manual, automatic, detected): not "none".
    pub fn in_use(&self) -> bool {
        !matches!(self.mode.as_str(), "" | "none")
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

/// One OS's way to read and write the proxy setting, as entries (a Windows connection, a
/// macOS service, KIO's keys, the GNOME keys) that are owned one by one. The I/O is
/// `snapshot`, `current` and `write`; the rest is the backend's plan, plain functions of
/// the records. Every write is verified by reading the setting back; a write that did not
/// take is an error, never a silent success.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Every entry an enable points at us, as it is now, enough to restore each exactly.
    fn snapshot(&self) -> Result<Snapshot, SysProxyError>;
    /// The named entries as they are now, each one that still exists (macOS: a service
    /// disabled since is still restored).
    fn read(&self, entries: &BTreeSet<String>) -> Result<Snapshot, SysProxyError> {
        Ok(self
            .snapshot()?
            .into_iter()
            .filter(|(k, _)| entries.contains(&self.entry_of(k)))
            .collect())
    }
    /// The setting in force (the LAN settings, the primary service), for status and the
    /// guard's cheap check.
    fn current(&self) -> Result<Current, SysProxyError>;
    /// Makes each entry of `target` read exactly as `target` says, given `now`, the read
    /// just made of them; writes only what differs and nothing outside `target`.
    fn write(&self, target: &Snapshot, now: &Snapshot) -> Result<(), SysProxyError>;
    /// The entry a snapshot key belongs to.
    fn entry_of(&self, key: &str) -> String;
    /// One entry's record pointed at `desired`, everything the mode does not use kept.
    fn wanted(
        &self,
        entry: &str,
        desired: &Desired,
        now: &Snapshot,
    ) -> Result<Snapshot, SysProxyError>;
    /// One entry at restore, part by part (see [`ownership`]): what to write back.
    fn merge(&self, entry: &str, parts: Parts<'_>) -> Result<Merged, SysProxyError>;
    /// The record routes something through `ours`.
    fn routes_through(&self, entry: &str, record: &Snapshot, ours: &Ours) -> bool;
    /// The record this OS ships for such an entry (what to restore when all we could
    /// have saved was our own leftover).
    fn os_default(&self, entry: &str, now: &Snapshot) -> Snapshot;
    /// From now on nobody can answer a password prompt (the session is ending): a change
    /// that needs one fails instead of waiting (macOS).
    fn set_unattended(&self) {}
}

/// One entry's three records at restore, and who we were.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub saved: &'a Snapshot,
    pub written: &'a Snapshot,
    pub now: &'a Snapshot,
    pub ours: &'a Ours,
}

/// A snapshot split into its entries.
fn entries(backend: &dyn Backend, snapshot: &Snapshot) -> BTreeMap<String, Snapshot> {
    let mut out: BTreeMap<String, Snapshot> = BTreeMap::new();
    for (key, value) in snapshot {
        out.entry(backend.entry_of(key))
            .or_default()
            .insert(key.clone(), value.clone());
    }
    out
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
    /// The user changed every part we had set since; theirs was kept and the state file
    /// dropped.
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
    /// Set when a re-apply needed an administrator and the prompt was refused: the guard
    /// asks no more until the user turns the proxy on again (no prompt every 3 s).
    guard_paused: AtomicBool,
    /// A restore at the next login, registered while the state file exists.
    login: Option<(Box<dyn LoginRestore>, RestoreCommand)>,
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
            guard_paused: AtomicBool::new(false),
            login: None,
        }
    }

    /// While the setting is ours, `command` is registered to run at the next login (see
    /// [`login_restore`]), so a power cut is repaired even if SocksBridge never starts.
    pub fn with_login_restore(
        mut self,
        at: Box<dyn LoginRestore>,
        command: RestoreCommand,
    ) -> Self {
        self.login = Some((at, command));
        self
    }

    /// [`with_login_restore`](Self::with_login_restore) at this OS's place, running this
    /// executable with `args`.
    pub fn restore_at_login(self, args: &[&str]) -> Self {
        match (
            login_restore::for_this_os(),
            RestoreCommand::for_this_program(args),
        ) {
            (Some(at), Some(command)) => self.with_login_restore(at, command),
            _ => self,
        }
    }

    fn register_login_restore(&self) {
        if let Some((at, command)) = &self.login {
            if let Err(e) = at.register(command) {
                tracing::warn!(
                    "cannot register a restore at the next login ({e}); after a power cut, \
                     `socksbridge system-proxy restore` puts the setting back"
                );
            }
        }
    }

    fn unregister_login_restore(&self) {
        if let Some((at, _)) = &self.login {
            if let Err(e) = at.unregister() {
                tracing::warn!("cannot remove the restore registered for the next login: {e}");
            }
        }
    }

    /// The state file is gone: nothing is left to restore at the next login.
    fn forget_state(&self) -> Result<(), SysProxyError> {
        state::remove(&self.state_path)?;
        self.unregister_login_restore();
        Ok(())
    }

    /// The session is ending: a restore that would need a password prompt fails at once
    /// and keeps the state file, which the restore registered for the next login (and the
    /// next start) repairs.
    pub fn set_unattended(&self) {
        self.backend.set_unattended();
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
        lock(&self.lock)
    }

    /// Points the OS at `desired`. Each entry is saved to the state file *before* our first
    /// write to it, the ones that appeared since the last call included (a new VPN, a USB
    /// network adapter); switching modes keeps what was saved. If applying fails, the
    /// user's setting is put back and the error returned.
    pub fn enable(&self, desired: &Desired) -> Result<(), SysProxyError> {
        let _guard = self.locked();
        self.guard_paused.store(false, Ordering::Relaxed);
        let mut state = match state::read(&self.state_path)? {
            Some(existing) if existing.pid == std::process::id() => existing,
            Some(existing) if state::owner_alive(existing.pid) => {
                return Err(SysProxyError::Busy { pid: existing.pid })
            }
            Some(stale) => {
                // A crashed run's leftover: repair first so we save the user's setting.
                self.recover_locked(&stale)?;
                self.fresh_state(desired)
            }
            None => self.fresh_state(desired),
        };
        if let Err(e) = self.apply_locked(&mut state, desired) {
            match self.restore_locked(&state) {
                Ok(_) => self.forget_state()?,
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

    fn fresh_state(&self, desired: &Desired) -> StateFile {
        StateFile {
            version: state::VERSION,
            backend: self.backend.name().to_string(),
            pid: std::process::id(),
            applied: desired.clone(),
            snapshot: Snapshot::new(),
            written: Snapshot::new(),
        }
    }

    /// Saves every entry not saved yet, records what we are about to write, then writes it:
    /// exactly the entries read here, none enumerated afresh behind the state file's back.
    fn apply_locked(&self, state: &mut StateFile, desired: &Desired) -> Result<(), SysProxyError> {
        let backend = self.backend.as_ref();
        let read = backend.snapshot()?;
        let now = entries(backend, &read);
        let saved = entries(backend, &state.snapshot);
        let ours = [Ours::of(desired), Ours::of(&state.applied)];
        let mut written = Snapshot::new();
        for (entry, record) in &now {
            if !saved.contains_key(entry) {
                if ours
                    .iter()
                    .any(|o| backend.routes_through(entry, record, o))
                {
                    tracing::warn!(
                        "{entry} already pointed at SocksBridge ({}) and no saved setting of \
                         it is left (a state file lost or from another user or version): it \
                         will be set to the system's default when SocksBridge stops",
                        ours[0].listener()
                    );
                    state.snapshot.extend(backend.os_default(entry, record));
                } else {
                    state.snapshot.extend(record.clone());
                }
            }
            written.extend(backend.wanted(entry, desired, record)?);
        }
        state.applied = desired.clone();
        state.written = written;
        state::write(&self.state_path, state)?;
        self.register_login_restore();
        backend.write(&state.written, &read)
    }

    /// Puts back, entry by entry and part by part, what still routes through us or is as
    /// we wrote it; keeps every change the user made. The state file stays.
    fn restore_locked(&self, state: &StateFile) -> Result<Restored, SysProxyError> {
        let backend = self.backend.as_ref();
        let saved_entries = entries(backend, &state.snapshot);
        let read = backend.read(&saved_entries.keys().cloned().collect())?;
        let now = entries(backend, &read);
        let written = entries(backend, &state.written);
        let ours = Ours::of(&state.applied);
        let mut target = Snapshot::new();
        let mut outcome = Restored::default();
        for (entry, saved) in saved_entries {
            // An entry deleted since has nothing left to restore.
            let Some(now) = now.get(&entry) else {
                continue;
            };
            // A state file from before `written` was recorded: what one apply writes.
            let written = match written.get(&entry) {
                Some(w) => w.clone(),
                None => backend.wanted(&entry, &state.applied, &saved)?,
            };
            let merged = backend.merge(
                &entry,
                Parts {
                    saved: &saved,
                    written: &written,
                    now,
                    ours: &ours,
                },
            )?;
            outcome.changed |= merged.record != *now;
            outcome
                .kept
                .extend(merged.kept.iter().map(|part| format!("{entry}: {part}")));
            target.extend(merged.record);
        }
        backend.write(&target, &read)?;
        if !outcome.kept.is_empty() {
            tracing::info!(
                "the system proxy ({}) was changed while SocksBridge ran or since; kept as \
                 the user set it: {}",
                backend.name(),
                outcome.kept.join("; ")
            );
        }
        Ok(outcome)
    }

    /// Puts the user's setting back and drops the state file. Ok(false) when we had
    /// changed nothing. Decided per entry and part: what still routes through us goes
    /// back, a change the user (or a program they run) made is kept.
    pub fn disable(&self) -> Result<bool, SysProxyError> {
        let _guard = self.locked();
        self.disable_locked()
    }

    fn disable_locked(&self) -> Result<bool, SysProxyError> {
        let Some(state) = state::read(&self.state_path)? else {
            return Ok(false);
        };
        self.restore_locked(&state)?;
        self.forget_state()?;
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

    /// [`disable`](Self::disable) from a panic hook. The panic may have been raised while
    /// this very thread held the lock (inside a backend call): waiting for it would never
    /// return, so the restore runs without it; the process ends right after.
    pub fn disable_while_panicking(&self) -> Result<bool, SysProxyError> {
        let _guard = match self.lock.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        self.disable_locked()
    }

    /// Repairs what a crashed run left: puts back what still routes through that run,
    /// keeps the user's own changes. Idempotent.
    pub fn recover(&self) -> Result<Recovery, SysProxyError> {
        let _guard = self.locked();
        match state::read(&self.state_path)? {
            None => {
                // A login entry whose state file went another way has nothing to do.
                self.unregister_login_restore();
                Ok(Recovery::Clean)
            }
            Some(state) if state.pid != std::process::id() && state::owner_alive(state.pid) => {
                Ok(Recovery::OwnerRunning { pid: state.pid })
            }
            Some(state) => self.recover_locked(&state),
        }
    }

    fn recover_locked(&self, state: &StateFile) -> Result<Recovery, SysProxyError> {
        let restored = self.restore_locked(state)?;
        self.forget_state()?;
        Ok(if restored.changed || restored.kept.is_empty() {
            tracing::warn!(
                "a previous run left the system proxy pointing at it; restored the user's setting"
            );
            Recovery::Restored
        } else {
            Recovery::KeptUserSetting
        })
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
    /// Never re-applies without our state file (the snapshot to restore later), nor after
    /// an administrator prompt was refused, until the next [`enable`](Self::enable).
    pub fn reassert(&self, desired: &Desired) -> Result<Option<Current>, SysProxyError> {
        if self.guard_paused.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let current = self.backend.current()?;
        if current.points_at(desired) {
            return Ok(None);
        }
        let _guard = self.locked();
        match state::read(&self.state_path)? {
            Some(mut state) if state.pid == std::process::id() => {
                match self.apply_locked(&mut state, desired) {
                    Ok(()) => Ok(Some(current)),
                    Err(e @ SysProxyError::NeedsAdmin { .. }) => {
                        self.guard_paused.store(true, Ordering::Relaxed);
                        tracing::warn!(
                            "the guard stops re-applying the system proxy until it is turned \
                             on again, so no password prompt follows this one"
                        );
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            }
            _ => Ok(None),
        }
    }
}

/// What a restore did: whether it wrote anything back, and the user's changes it kept.
#[derive(Debug, Default)]
struct Restored {
    changed: bool,
    kept: Vec<String>,
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
        let ours_pac = &crate::pac::pac_url(listen, &[]);
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
