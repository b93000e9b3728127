//! The state file: the user's setting as it was before we changed it, and what we
//! applied, in the OS state directory. Written atomically; its presence at start-up means
//! a previous run did not get to restore.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Desired, Snapshot, SysProxyError};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub backend: String,
    /// The process that applied the setting.
    pub pid: u32,
    pub applied: Desired,
    pub snapshot: Snapshot,
}

/// `$XDG_STATE_HOME/socksbridge/system-proxy.json` (`~/.local/state/…`); the local data
/// directory on macOS and Windows.
pub fn default_state_path() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("socksbridge")
        .join("system-proxy.json")
}

fn err(path: &Path, source: std::io::Error) -> SysProxyError {
    SysProxyError::State {
        path: path.to_path_buf(),
        source,
    }
}

pub fn read(path: &Path) -> Result<Option<StateFile>, SysProxyError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            err(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(path, e)),
    }
}

pub fn write(path: &Path, state: &StateFile) -> Result<(), SysProxyError> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| err(path, std::io::Error::other(e)))?;
    crate::fsutil::write_atomic(path, &json).map_err(|e| err(path, e))
}

pub fn remove(path: &Path) -> Result<(), SysProxyError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(path, e)),
        _ => Ok(()),
    }
}

/// True when `pid` is a running socksbridge process (Linux: `/proc`; elsewhere we cannot
/// tell cheaply and assume it is gone — the app is single-instance there).
pub fn owner_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => comm.trim().starts_with("socksbridge"),
        Err(_) => false,
    }
}
