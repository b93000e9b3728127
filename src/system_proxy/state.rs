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

/// Where a damaged state file is kept for the user.
pub fn damaged_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    path.with_file_name(name)
}

/// The state file, if there is one. A damaged one (truncated, edited, from a future
/// version) would otherwise stop every enable and every recovery: it is moved aside with a
/// message that says what that means, and reads as absent.
pub fn read(path: &Path) -> Result<Option<StateFile>, SysProxyError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, e)),
    };
    let problem = match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(state) if state.version == VERSION => return Ok(Some(state)),
        Ok(state) => format!("version {} is not {VERSION}", state.version),
        Err(e) => e.to_string(),
    };
    let aside = damaged_path(path);
    std::fs::rename(path, &aside).map_err(|e| err(path, e))?;
    tracing::error!(
        "the system-proxy state file {} was damaged ({problem}); it is kept as {}. The \
         setting it saved cannot be put back automatically: check your proxy setting \
         (`socksbridge system-proxy status`) and set it by hand if it still points at a \
         socksbridge that is not running",
        path.display(),
        aside.display()
    );
    Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> StateFile {
        StateFile {
            version: VERSION,
            backend: "test".into(),
            pid: 42,
            applied: Desired::Pac {
                url: "http://127.0.0.1:1095/proxy.pac".into(),
            },
            snapshot: Snapshot::from([("mode".to_string(), "'none'".to_string())]),
        }
    }

    #[test]
    fn a_damaged_state_file_is_kept_aside_and_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system-proxy.json");
        write(&path, &state()).unwrap();
        assert_eq!(read(&path).unwrap(), Some(state()));

        let newer = serde_json::to_string(&StateFile {
            version: VERSION + 1,
            ..state()
        })
        .unwrap();
        for damaged in [
            &b"{\"version\": 1, \"backend\": \"tr"[..],
            b"",
            newer.as_bytes(),
        ] {
            std::fs::write(&path, damaged).unwrap();
            assert_eq!(read(&path).unwrap(), None);
            assert!(!path.exists());
            assert_eq!(std::fs::read(damaged_path(&path)).unwrap(), damaged);
            assert_eq!(read(&path).unwrap(), None);
        }
        assert_eq!(
            damaged_path(&path).file_name().unwrap(),
            "system-proxy.json.damaged"
        );
    }
}
