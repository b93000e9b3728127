//! Windows: the per-user WinINet setting under `HKCU\…\Internet Settings`, followed by the
//! notification that makes running apps re-read it. (Compiled and tested on Windows only.)

use winreg::enums::{HKEY_CURRENT_USER, KEY_READ, KEY_WRITE};
use winreg::RegKey;

use super::{bypass, Backend, Current, Desired, Snapshot, SysProxyError};

const PATH: &str = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings";
const VALUES: [&str; 4] = [
    "ProxyEnable",
    "ProxyServer",
    "ProxyOverride",
    "AutoConfigURL",
];

#[derive(Debug, Clone, Default)]
pub struct Windows;

impl Windows {
    pub fn new() -> Windows {
        Windows
    }

    fn key(&self) -> Result<RegKey, SysProxyError> {
        RegKey::predef(HKEY_CURRENT_USER)
            .open_subkey_with_flags(PATH, KEY_READ | KEY_WRITE)
            .map_err(|e| SysProxyError::CommandFailed {
                command: format!("open HKCU\\{PATH}"),
                detail: e.to_string(),
            })
    }

    fn write(&self, key: &RegKey, name: &str, value: Option<&str>) -> Result<(), SysProxyError> {
        let fail = |e: std::io::Error| SysProxyError::CommandFailed {
            command: format!("write {name}"),
            detail: e.to_string(),
        };
        match (name, value) {
            ("ProxyEnable", Some(v)) => key
                .set_value(name, &v.parse::<u32>().unwrap_or(0))
                .map_err(fail),
            (_, Some(v)) => key.set_value(name, &v.to_string()).map_err(fail),
            (_, None) => match key.delete_value(name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail(e)),
                _ => Ok(()),
            },
        }
    }

    fn notify(&self) {
        use windows_sys::Win32::Networking::WinInet::{
            InternetSetOptionW, INTERNET_OPTION_REFRESH, INTERNET_OPTION_SETTINGS_CHANGED,
        };
        // SAFETY: both options take no buffer; a null handle addresses the global settings.
        #[allow(unsafe_code)]
        unsafe {
            InternetSetOptionW(
                std::ptr::null_mut(),
                INTERNET_OPTION_SETTINGS_CHANGED,
                std::ptr::null(),
                0,
            );
            InternetSetOptionW(
                std::ptr::null_mut(),
                INTERNET_OPTION_REFRESH,
                std::ptr::null(),
                0,
            );
        }
    }
}

fn current_of(snapshot: &Snapshot) -> Current {
    let get = |k: &str| snapshot.get(k).cloned().unwrap_or_default();
    let server = get("ProxyServer");
    // "host:port" for all protocols, or "http=h:p;https=h:p;socks=h:p".
    let for_scheme = |scheme: &str| -> Option<String> {
        if server.is_empty() {
            return None;
        }
        if !server.contains('=') {
            return Some(server.clone());
        }
        server
            .split(';')
            .find_map(|part| part.strip_prefix(&format!("{scheme}=")).map(String::from))
    };
    let mode = if !get("AutoConfigURL").is_empty() {
        "auto"
    } else if get("ProxyEnable") == "1" {
        "manual"
    } else {
        "none"
    };
    Current {
        mode: mode.into(),
        http: for_scheme("http"),
        https: for_scheme("https"),
        socks: for_scheme("socks"),
        bypass: super::split_list(&get("ProxyOverride"), ';'),
        pac_url: get("AutoConfigURL"),
    }
}

impl Backend for Windows {
    fn name(&self) -> &'static str {
        "Windows (WinINet, per user)"
    }

    fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
        let key = self.key()?;
        let mut snapshot = Snapshot::new();
        for name in VALUES {
            let value = if name == "ProxyEnable" {
                key.get_value::<u32, _>(name).ok().map(|v| v.to_string())
            } else {
                key.get_value::<String, _>(name).ok()
            };
            if let Some(v) = value {
                snapshot.insert(name.to_string(), v);
            }
        }
        Ok(snapshot)
    }

    fn current(&self) -> Result<Current, SysProxyError> {
        Ok(current_of(&self.snapshot()?))
    }

    fn apply(&self, desired: &Desired) -> Result<(), SysProxyError> {
        let key = self.key()?;
        match desired {
            Desired::Global {
                proxy,
                bypass: list,
                socks,
            } => {
                let server = if *socks {
                    format!("http={proxy};https={proxy};socks={proxy}")
                } else {
                    format!("http={proxy};https={proxy}")
                };
                self.write(&key, "ProxyServer", Some(&server))?;
                self.write(&key, "ProxyOverride", Some(&bypass::for_windows(list)))?;
                self.write(&key, "AutoConfigURL", None)?;
                self.write(&key, "ProxyEnable", Some("1"))?;
            }
            Desired::Pac { url } => {
                self.write(&key, "AutoConfigURL", Some(url))?;
                self.write(&key, "ProxyEnable", Some("0"))?;
            }
        }
        self.notify();
        self.current()?.expect_points_at(desired)
    }

    fn restore(&self, snapshot: &Snapshot) -> Result<(), SysProxyError> {
        let key = self.key()?;
        for name in VALUES {
            self.write(&key, name, snapshot.get(name).map(String::as_str))?;
        }
        self.notify();
        let after = self.snapshot()?;
        if &after != snapshot {
            return Err(SysProxyError::DidNotTake {
                detail: "Internet Settings differ from the snapshot after restoring".into(),
            });
        }
        Ok(())
    }
}
