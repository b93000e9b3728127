//! The capture's journal: every routing change, written to disk *before* it is made, so
//! whatever ends the process — a stop, a signal, a panic, `kill -9`, a power cut — the
//! next start or `socksbridge tun restore` knows exactly what to undo. Written atomically
//! beside the system-proxy state file; gone once everything is undone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rules::Change;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    /// The process that made the changes.
    pub pid: u32,
    /// The TUN device they route into.
    pub device: String,
    /// The changes made (or about to be made: the last one may not have happened), in
    /// order.
    pub changes: Vec<Change>,
}

/// A journal that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("TUN journal {}: {problem}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    pub problem: String,
}

fn failed(path: &Path, problem: impl ToString) -> JournalError {
    JournalError {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

/// `$XDG_STATE_HOME/socksbridge/tun.json` (`~/.local/state/…`; root's when the capture
/// runs with privileges).
pub fn default_path() -> PathBuf {
    crate::system_proxy::default_state_path().with_file_name("tun.json")
}

/// The running capture's control socket: `tun.sock` beside the journal.
pub fn control_socket_path() -> PathBuf {
    default_path().with_file_name("tun.sock")
}

/// The journal, if a capture left one.
pub fn read(path: &Path) -> Result<Option<Journal>, JournalError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(path, e)),
    };
    match serde_json::from_slice::<Journal>(&bytes) {
        Ok(journal) if journal.version == VERSION => Ok(Some(journal)),
        Ok(journal) => Err(failed(
            path,
            format!(
                "version {} is not {VERSION}; undo its changes by hand (`ip rule`, `ip route`)",
                journal.version
            ),
        )),
        Err(e) => Err(failed(
            path,
            format!("damaged ({e}); undo its changes by hand (`ip rule`, `ip route`)"),
        )),
    }
}

pub fn write(path: &Path, journal: &Journal) -> Result<(), JournalError> {
    let json = serde_json::to_vec_pretty(journal).map_err(|e| failed(path, e))?;
    crate::fsutil::write_atomic(path, &json).map_err(|e| failed(path, e))
}

pub fn remove(path: &Path) -> Result<(), JournalError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tun::rules::{changes, Capture};

    #[test]
    fn written_read_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("tun.json");
        assert!(read(&path).unwrap().is_none());
        let journal = Journal {
            version: VERSION,
            pid: 42,
            device: "sbtun0".into(),
            changes: changes(&Capture {
                device: "sbtun0".into(),
                table: 1095,
                mark: 1,
                exclude: vec![],
            }),
        };
        write(&path, &journal).unwrap();
        assert_eq!(read(&path).unwrap(), Some(journal));
        remove(&path).unwrap();
        assert!(read(&path).unwrap().is_none());
        remove(&path).unwrap();
    }

    #[test]
    fn a_damaged_journal_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tun.json");
        std::fs::write(&path, b"{\"version\": 1, \"pid\"").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
        assert!(error.contains("by hand"), "{error}");
        assert!(path.exists(), "kept for the user");
    }
}
