//! The LAN setting in the registry, stored the way Windows and Wine 9 store it: the
//! `Connections\DefaultConnectionSettings` blob (flags, server, bypass, PAC URL) and the
//! legacy values under `Internet Settings`, which win over the blob when present. Used
//! under Wine, whose WinINet (8.0) keeps only the legacy `ProxyEnable` and `ProxyServer`
//! and cannot hold automatic detection or a PAC URL; and, for the legacy values, when
//! WinINet refuses a LAN write.
//!
//! Wine 8 never writes the blob: it is created only for what the legacy values cannot
//! hold (automatic detection, a PAC URL kept while switched off) and removed again, if it
//! is one we would have created, when they can, so a round trip leaves the registry
//! byte for byte as it was.

use std::io;

use winreg::enums::{HKEY_CURRENT_USER, KEY_READ, KEY_WRITE, REG_BINARY};
use winreg::{RegKey, RegValue};

use super::{ConnOptions, PROXY_TYPE_AUTO_PROXY_URL, PROXY_TYPE_DIRECT, PROXY_TYPE_PROXY};
use crate::system_proxy::SysProxyError;

const SETTINGS: &str = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings";
const CONNECTIONS: &str =
    r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections";
const BLOB: &str = "DefaultConnectionSettings";

fn failed(what: &str, name: &str, e: io::Error) -> SysProxyError {
    let separator = if name.is_empty() { "" } else { "\\" };
    SysProxyError::CommandFailed {
        command: format!(r"{what} HKCU\{SETTINGS}{separator}{name}"),
        detail: e.to_string(),
    }
}

/// The legacy values; `None` is an absent value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Legacy {
    pub enable: Option<u32>,
    pub server: Option<String>,
    pub bypass: Option<String>,
    pub autoconfig: Option<String>,
}

impl Legacy {
    /// What WinINet writes for `options`: `ProxyEnable` from the proxy flag, empty
    /// strings removed, `AutoConfigURL` only while the PAC flag is on.
    pub fn of(options: &ConnOptions) -> Legacy {
        let text = |value: &str, keep: bool| (keep && !value.is_empty()).then(|| value.to_string());
        Legacy {
            enable: Some(u32::from(options.flags & PROXY_TYPE_PROXY != 0)),
            server: text(&options.server, true),
            bypass: text(&options.bypass, true),
            autoconfig: text(
                &options.pac_url,
                options.flags & PROXY_TYPE_AUTO_PROXY_URL != 0,
            ),
        }
    }

    fn load(key: Option<&RegKey>) -> Legacy {
        let Some(key) = key else {
            return Legacy::default();
        };
        let text = |name: &str| key.get_value::<String, _>(name).ok();
        Legacy {
            enable: key.get_value::<u32, _>("ProxyEnable").ok(),
            server: text("ProxyServer"),
            bypass: text("ProxyOverride"),
            autoconfig: text("AutoConfigURL"),
        }
    }

    /// Writes every value: set, or deleted when `None`.
    pub fn store(&self) -> Result<(), SysProxyError> {
        let (key, _) = RegKey::predef(HKEY_CURRENT_USER)
            .create_subkey_with_flags(SETTINGS, KEY_READ | KEY_WRITE)
            .map_err(|e| failed("open", "", e))?;
        let delete = |name: &str| match key.delete_value(name) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(failed("delete", name, e)),
            _ => Ok(()),
        };
        match self.enable {
            Some(enable) => key
                .set_value("ProxyEnable", &enable)
                .map_err(|e| failed("write", "ProxyEnable", e))?,
            None => delete("ProxyEnable")?,
        }
        for (name, value) in [
            ("ProxyServer", &self.server),
            ("ProxyOverride", &self.bypass),
            ("AutoConfigURL", &self.autoconfig),
        ] {
            match value {
                Some(value) => key
                    .set_value(name, value)
                    .map_err(|e| failed("write", name, e))?,
                None => delete(name)?,
            }
        }
        Ok(())
    }
}

/// `DefaultConnectionSettings`: version, counter, flags, then three length-prefixed
/// strings (UTF-8 as Wine writes them), then data this module keeps as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub version: u32,
    pub counter: u32,
    pub flags: u32,
    pub server: String,
    pub bypass: String,
    pub pac_url: String,
    pub tail: Vec<u8>,
}

/// What Wine 9 writes: version 0x46, counter 0, ten zero DWORDs after the strings.
const VERSION: u32 = 0x46;
const TAIL: usize = 40;

impl Blob {
    pub fn new(options: &ConnOptions) -> Blob {
        Blob {
            version: VERSION,
            counter: 0,
            flags: options.flags,
            server: options.server.clone(),
            bypass: options.bypass.clone(),
            pac_url: options.pac_url.clone(),
            tail: vec![0; TAIL],
        }
    }

    /// `None` for a blob too short to be one.
    pub fn parse(bytes: &[u8]) -> Option<Blob> {
        let mut at = 0;
        let mut dword = || {
            let value = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
            at += 4;
            Some(value)
        };
        let (version, counter, flags) = (dword()?, dword()?, dword()?);
        let mut strings = [String::new(), String::new(), String::new()];
        for text in &mut strings {
            let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
            at += 4;
            *text = String::from_utf8_lossy(bytes.get(at..at.checked_add(len)?)?).into_owned();
            at += len;
        }
        let [server, bypass, pac_url] = strings;
        Some(Blob {
            version,
            counter,
            flags,
            server,
            bypass,
            pac_url,
            tail: bytes[at..].to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for value in [self.version, self.counter, self.flags] {
            bytes.extend(value.to_le_bytes());
        }
        for text in [&self.server, &self.bypass, &self.pac_url] {
            bytes.extend((text.len() as u32).to_le_bytes());
            bytes.extend(text.as_bytes());
        }
        bytes.extend(&self.tail);
        bytes
    }

    /// One this module would have created, and may therefore remove.
    fn is_plain(&self) -> bool {
        self.version == VERSION && self.counter == 0 && self.tail == [0; TAIL]
    }
}

/// The options as Windows and Wine 9 compose them: the blob (without one, a direct
/// connection), then the legacy values over it.
pub fn view(blob: Option<&Blob>, legacy: &Legacy) -> ConnOptions {
    let mut options = match blob {
        Some(blob) => ConnOptions {
            flags: blob.flags,
            server: blob.server.clone(),
            bypass: blob.bypass.clone(),
            pac_url: blob.pac_url.clone(),
        },
        None => ConnOptions {
            flags: PROXY_TYPE_DIRECT,
            ..ConnOptions::default()
        },
    };
    match legacy.enable {
        Some(0) => options.flags &= !PROXY_TYPE_PROXY,
        Some(_) => options.flags |= PROXY_TYPE_PROXY,
        None => {}
    }
    if let Some(server) = &legacy.server {
        options.server = server.clone();
    }
    if let Some(bypass) = &legacy.bypass {
        options.bypass = bypass.clone();
    }
    if let Some(url) = legacy.autoconfig.as_ref().filter(|url| !url.is_empty()) {
        options.flags |= PROXY_TYPE_AUTO_PROXY_URL;
        options.pac_url = url.clone();
    }
    options
}

/// What becomes of the blob when `options` are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobChange {
    Leave,
    Write(Blob),
    Delete,
}

pub fn blob_change(existing: Option<&Blob>, options: &ConnOptions) -> BlobChange {
    let legacy_suffices = view(None, &Legacy::of(options)) == *options;
    match existing {
        None if legacy_suffices => BlobChange::Leave,
        Some(blob) if legacy_suffices && blob.is_plain() => BlobChange::Delete,
        Some(blob) => BlobChange::Write(Blob {
            flags: options.flags,
            server: options.server.clone(),
            bypass: options.bypass.clone(),
            pac_url: options.pac_url.clone(),
            ..blob.clone()
        }),
        None => BlobChange::Write(Blob::new(options)),
    }
}

fn open(path: &str) -> Option<RegKey> {
    RegKey::predef(HKEY_CURRENT_USER)
        .open_subkey_with_flags(path, KEY_READ | KEY_WRITE)
        .ok()
}

fn load_blob(connections: Option<&RegKey>) -> Option<Blob> {
    let value = connections?.get_raw_value(BLOB).ok()?;
    (value.vtype == REG_BINARY)
        .then(|| Blob::parse(&value.bytes))
        .flatten()
}

pub fn read() -> Result<ConnOptions, SysProxyError> {
    let blob = load_blob(open(CONNECTIONS).as_ref());
    Ok(view(blob.as_ref(), &Legacy::load(open(SETTINGS).as_ref())))
}

pub fn write(options: &ConnOptions) -> Result<(), SysProxyError> {
    let connections = open(CONNECTIONS);
    match blob_change(load_blob(connections.as_ref()).as_ref(), options) {
        BlobChange::Leave => {}
        BlobChange::Delete => {
            if let Some(key) = connections {
                key.delete_value(BLOB)
                    .map_err(|e| failed("delete", &format!(r"Connections\{BLOB}"), e))?;
            }
        }
        BlobChange::Write(blob) => {
            let (key, _) = RegKey::predef(HKEY_CURRENT_USER)
                .create_subkey_with_flags(CONNECTIONS, KEY_READ | KEY_WRITE)
                .map_err(|e| failed("open", "Connections", e))?;
            let value = RegValue {
                bytes: blob.to_bytes(),
                vtype: REG_BINARY,
            };
            key.set_raw_value(BLOB, &value)
                .map_err(|e| failed("write", &format!(r"Connections\{BLOB}"), e))?;
        }
    }
    Legacy::of(options).store()
}
