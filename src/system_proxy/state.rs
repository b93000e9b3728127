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
    /// Each entry as it was before our first write to it.
    pub snapshot: Snapshot,
    /// Each entry as our last write made it: a part still like this is ours at restore.
    /// Absent from files of earlier versions, which then judge by one apply's result.
    #[serde(default)]
    pub written: Snapshot,
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

/// True when `pid` is a running socksbridge process: the CLI or the app, whose state file
/// a second instance or `socksbridge system-proxy restore` must leave alone.
pub fn owner_alive(pid: u32) -> bool {
    pid == std::process::id() || process_name(pid).is_some_and(|name| is_socksbridge(&name))
}

/// A process name (Linux), or an executable's path (Windows, macOS), is one of ours:
/// `socksbridge`, `socksbridge.exe`, `socksbridge-app`, `…/SocksBridge.app/…/SocksBridge`.
fn is_socksbridge(name: &str) -> bool {
    let name = name.trim();
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    file.get(..11)
        .is_some_and(|start| start.eq_ignore_ascii_case("socksbridge"))
}

/// The name of the running process `pid`: its `comm`.
#[cfg(target_os = "linux")]
fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()
}

/// The path of the running process `pid`'s executable, from `ps` (run only at start-up and
/// by `restore`, when a state file names another process).
#[cfg(target_os = "macos")]
fn process_name(pid: u32) -> Option<String> {
    let output = std::process::Command::new("/bin/ps")
        .args(["-p", &pid.to_string(), "-o", "comm="])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The path of the running process `pid`'s executable; `None` when there is no such
/// process, it has exited (`STILL_ACTIVE` is what a running one reports) or it cannot be
/// opened.
#[cfg(windows)]
fn process_name(pid: u32) -> Option<String> {
    use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, QueryFullProcessImageNameW, PROCESS_NAME_WIN32,
        PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: plain values in; the handle returned, if any, is closed below.
    #[allow(unsafe_code)]
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return None;
    }
    let mut code = 0u32;
    let mut path = [0u16; 1024];
    let mut len = path.len() as u32;
    // SAFETY: `process` is an open handle with PROCESS_QUERY_LIMITED_INFORMATION access;
    // `code`, `path` (`len` UTF-16 units) and `len` are ours and outlive the calls; the
    // handle is closed exactly once.
    #[allow(unsafe_code)]
    let running = unsafe {
        let running = GetExitCodeProcess(process, &mut code) != 0
            && code == STILL_ACTIVE as u32
            && QueryFullProcessImageNameW(process, PROCESS_NAME_WIN32, path.as_mut_ptr(), &mut len)
                != 0;
        CloseHandle(process);
        running
    };
    running.then(|| String::from_utf16_lossy(&path[..(len as usize).min(path.len())]))
}

/// Elsewhere we cannot tell; the state file's owner is taken to be gone.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn process_name(_pid: u32) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_process_names_and_paths_are_recognised() {
        for (name, ours) in [
            ("socksbridge", true),
            ("socksbridge\n", true),
            ("socksbridge-app", true),
            ("SocksBridge", true),
            ("/usr/local/bin/socksbridge", true),
            (
                "/Applications/SocksBridge.app/Contents/MacOS/SocksBridge",
                true,
            ),
            (r"C:\Program Files\SocksBridge\socksbridge.exe", true),
            (r"C:\Users\me\SOCKSBRIDGE-APP.EXE", true),
            ("", false),
            ("bash", false),
            ("socksbrid", false),
            ("mysocksbridge", false),
            ("/opt/socksbridge/bin/python3", false),
            (r"C:\socksbridge\explorer.exe", false),
            ("/socksbridge/", false),
            ("sócksbridge", false),
        ] {
            assert_eq!(is_socksbridge(name), ours, "{name:?}");
        }
    }

    /// A live process counts only when it is one of ours, by the name the OS gives it.
    #[cfg(unix)]
    #[test]
    fn a_running_socksbridge_is_alive_and_any_other_running_program_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let sleep = std::path::Path::new("/bin/sleep");
        let ours = dir.path().join("socksbridge-sleeper");
        std::fs::copy(sleep, &ours).unwrap();
        let spawn = |program: &std::path::Path| {
            std::process::Command::new(program)
                .arg("30")
                .spawn()
                .unwrap()
        };
        let (mut socksbridge, mut other) = (spawn(&ours), spawn(sleep));
        let (ours_alive, other_alive) = (owner_alive(socksbridge.id()), owner_alive(other.id()));
        for child in [&mut socksbridge, &mut other] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(ours_alive, "a running socksbridge-… process");
        assert!(!other_alive, "a running program of another name");
    }

    #[test]
    fn the_state_file_lives_in_the_users_state_directory() {
        let path = default_state_path();
        assert!(path.ends_with("socksbridge/system-proxy.json"), "{path:?}");
        assert!(path.is_absolute(), "{path:?}");
    }

    /// Only "there is no file" means "nothing to do"; any other failure is reported.
    #[test]
    fn a_missing_file_is_nothing_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        assert_eq!(read(&missing).unwrap(), None);
        remove(&missing).unwrap();
        let directory = dir.path().join("a-directory");
        std::fs::create_dir(&directory).unwrap();
        std::fs::write(directory.join("x"), "x").unwrap();
        assert!(matches!(read(&directory), Err(SysProxyError::State { .. })));
        assert!(matches!(
            remove(&directory),
            Err(SysProxyError::State { .. })
        ));
    }

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_not() {
        assert!(owner_alive(std::process::id()));
        // A child that has exited (and, on Linux, been reaped) is gone, though the test
        // binary it ran is named socksbridge-….
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!owner_alive(pid));
    }

    fn state() -> StateFile {
        StateFile {
            version: VERSION,
            backend: "test".into(),
            pid: 42,
            applied: Desired::Pac {
                url: "http://127.0.0.1:1095/proxy.pac".into(),
            },
            snapshot: Snapshot::from([("mode".to_string(), "'none'".to_string())]),
            written: Snapshot::from([("mode".to_string(), "'auto'".to_string())]),
        }
    }

    /// A state file written before `written` existed still reads, with nothing written.
    #[test]
    fn a_state_file_of_the_previous_layout_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system-proxy.json");
        let old = r#"{"version":1,"backend":"test","pid":42,
            "applied":{"mode":"pac","url":"http://127.0.0.1:1095/proxy.pac"},
            "snapshot":{"mode":"'none'"}}"#;
        std::fs::write(&path, old).unwrap();
        let read = read(&path).unwrap().expect("readable");
        assert!(read.written.is_empty());
        assert_eq!(read.snapshot, state().snapshot);
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
