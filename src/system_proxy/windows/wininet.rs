//! The executor of the Windows backend: the only file of it that calls into Windows, hence
//! the only `unsafe` code of the backend (allowed block by block, each with its `SAFETY`).
//!
//! - The four per-connection options go through WinINet's documented calls,
//!   `InternetQueryOptionW`/`InternetSetOptionW(INTERNET_OPTION_PER_CONNECTION_OPTION)`, for
//!   the LAN settings (`pszConnection` null) or one phonebook entry (its name). Strings that
//!   WinINet returns are freed with `GlobalFree`, as documented; empty strings are written as
//!   null, "not set" (for `""` Wine leaves an empty `ProxyServer` value behind; for null it
//!   deletes it), and a null read back is the empty string.
//! - The phonebook's dial-up, VPN and PPPoE entries come from `RasEnumEntriesW`; a machine
//!   without one (no phonebook file, no RAS) has none.
//! - If WinINet refuses a LAN write, the legacy registry values that older programs read are
//!   written instead, and the plan's read-back decides whether that took.
//!
//! Under Wine the LAN setting is read and written in the registry directly (`registry.rs`):
//! Wine 8's WinINet keeps only `ProxyEnable` and `ProxyServer`, reports the server as its
//! `http=` part only, never reports a PAC URL or automatic detection and rejects
//! `INTERNET_PER_CONN_FLAGS_UI` and `INTERNET_OPTION_REFRESH` (measured; `scripts/wine-test.sh`).

use super::registry;
use std::ffi::c_void;
use std::mem::size_of;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{GetLastError, GlobalFree};
use windows_sys::Win32::NetworkManagement::Rras::{
    RasEnumEntriesW, ERROR_BUFFER_TOO_SMALL, RASENTRYNAMEW,
};
use windows_sys::Win32::Networking::WinInet::{
    InternetQueryOptionW, InternetSetOptionW, INTERNET_OPTION_PER_CONNECTION_OPTION,
    INTERNET_OPTION_REFRESH, INTERNET_OPTION_SETTINGS_CHANGED, INTERNET_PER_CONN_AUTOCONFIG_URL,
    INTERNET_PER_CONN_FLAGS, INTERNET_PER_CONN_FLAGS_UI, INTERNET_PER_CONN_OPTIONW,
    INTERNET_PER_CONN_OPTIONW_0, INTERNET_PER_CONN_OPTION_LISTW, INTERNET_PER_CONN_PROXY_BYPASS,
    INTERNET_PER_CONN_PROXY_SERVER,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

use super::{ConnOptions, Connection, Store};
use crate::system_proxy::SysProxyError;

/// WinINet, and the registry under Wine.
#[derive(Debug, Clone, Copy, Default)]
pub struct WinInet;

const LIST_SIZE: u32 = size_of::<INTERNET_PER_CONN_OPTION_LISTW>() as u32;

fn os_error(command: String, code: u32) -> SysProxyError {
    SysProxyError::CommandFailed {
        command,
        detail: std::io::Error::from_raw_os_error(code as i32).to_string(),
    }
}

fn last_error() -> u32 {
    // SAFETY: reads the calling thread's last-error value; no arguments.
    #[allow(unsafe_code)]
    unsafe {
        GetLastError()
    }
}

/// True inside Wine, whose `ntdll.dll` exports `wine_get_version`.
fn is_wine() -> bool {
    static WINE: OnceLock<bool> = OnceLock::new();
    *WINE.get_or_init(|| {
        let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain([0]).collect();
        // SAFETY: both names are NUL-terminated and outlive the calls; ntdll is mapped into
        // every process and `GetModuleHandleW` takes no reference to release; the function
        // pointer is only tested for presence, never called.
        #[allow(unsafe_code)]
        unsafe {
            let module = GetModuleHandleW(ntdll.as_ptr());
            !module.is_null()
                && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
        }
    })
}

/// `text` as a NUL-terminated UTF-16 string; `None` for an empty one (written as null).
fn wide(text: &str, what: &str) -> Result<Option<Vec<u16>>, SysProxyError> {
    if text.contains('\0') {
        return Err(SysProxyError::CommandFailed {
            command: format!("InternetSetOptionW({what})"),
            detail: "the text contains a NUL character".into(),
        });
    }
    Ok((!text.is_empty()).then(|| text.encode_utf16().chain([0]).collect()))
}

/// `pszConnection`: null for the LAN settings, the entry's name otherwise.
fn connection_name(connection: &Connection) -> Result<Option<Vec<u16>>, SysProxyError> {
    match connection {
        Connection::Lan => Ok(None),
        Connection::Ras(name) => {
            let name = wide(name, "connection name")?;
            Ok(Some(name.unwrap_or_else(|| vec![0])))
        }
    }
}

fn ptr_or_null(text: &Option<Vec<u16>>) -> *mut u16 {
    // WinINet only reads the input strings of a set or the connection name of a query.
    text.as_ref().map_or(null_mut(), |t| t.as_ptr().cast_mut())
}

fn string_option(option: u32, text: &Option<Vec<u16>>) -> INTERNET_PER_CONN_OPTIONW {
    INTERNET_PER_CONN_OPTIONW {
        dwOption: option,
        Value: INTERNET_PER_CONN_OPTIONW_0 {
            pszValue: ptr_or_null(text),
        },
    }
}

/// Copies a string WinINet allocated for a query and frees it; null is the empty string.
fn take_string(option: &mut INTERNET_PER_CONN_OPTIONW) -> String {
    // SAFETY: this module initialised `pszValue` (to null) and a query only replaces it
    // with a string, so it is the member in use.
    #[allow(unsafe_code)]
    let value = unsafe { option.Value.pszValue };
    if value.is_null() {
        return String::new();
    }
    option.Value.pszValue = null_mut();
    // SAFETY: a non-null value is a NUL-terminated UTF-16 string that WinINet allocated
    // with `GlobalAlloc` for this query and that the caller must free with `GlobalFree`: it
    // is read up to its NUL, then freed exactly once (the option no longer points at it).
    #[allow(unsafe_code)]
    unsafe {
        let len = (0..).take_while(|&i| *value.add(i) != 0).count();
        let text = String::from_utf16_lossy(std::slice::from_raw_parts(value, len));
        GlobalFree(value.cast());
        text
    }
}

/// One `InternetQueryOptionW` of the four options, with `flags_option` for the flags.
/// `Err` holds `GetLastError()`.
fn query(name: &Option<Vec<u16>>, flags_option: u32) -> Result<ConnOptions, u32> {
    let empty = |option| string_option(option, &None);
    let mut options = [
        empty(flags_option),
        empty(INTERNET_PER_CONN_PROXY_SERVER),
        empty(INTERNET_PER_CONN_PROXY_BYPASS),
        empty(INTERNET_PER_CONN_AUTOCONFIG_URL),
    ];
    let mut list = INTERNET_PER_CONN_OPTION_LISTW {
        dwSize: LIST_SIZE,
        pszConnection: ptr_or_null(name),
        dwOptionCount: options.len() as u32,
        dwOptionError: 0,
        pOptions: options.as_mut_ptr(),
    };
    let mut size = LIST_SIZE;
    // SAFETY: `list` is a valid INTERNET_PER_CONN_OPTION_LISTW of `size` bytes whose
    // `pOptions` points at `options.len()` options and whose connection name (or null) is
    // NUL-terminated; all of them outlive the call, which fills the options in place.
    #[allow(unsafe_code)]
    let ok = unsafe {
        InternetQueryOptionW(
            null(),
            INTERNET_OPTION_PER_CONNECTION_OPTION,
            (&mut list as *mut INTERNET_PER_CONN_OPTION_LISTW).cast::<c_void>(),
            &mut size,
        )
    } != 0;
    let error = if ok { 0 } else { last_error() };
    // Taken even after a failure: Wine fills the options it knows before failing on one it
    // does not (`INTERNET_PER_CONN_FLAGS_UI`), and those strings are ours to free.
    let [flags, server, bypass, pac_url] = &mut options;
    // SAFETY: the flags option is a `dwValue`; it was zeroed by its null `pszValue`.
    #[allow(unsafe_code)]
    let flags = unsafe { flags.Value.dwValue };
    let result = ConnOptions {
        flags,
        server: take_string(server),
        bypass: take_string(bypass),
        pac_url: take_string(pac_url),
    };
    if ok {
        Ok(result)
    } else {
        Err(error)
    }
}

/// The options as WinINet reports them: the flags as the Internet Options dialog shows
/// them (`INTERNET_PER_CONN_FLAGS_UI`, Windows 7 and later), else `INTERNET_PER_CONN_FLAGS`.
fn read_wininet(connection: &Connection) -> Result<ConnOptions, SysProxyError> {
    let name = connection_name(connection)?;
    query(&name, INTERNET_PER_CONN_FLAGS_UI).or_else(|code| {
        tracing::debug!(
            "INTERNET_PER_CONN_FLAGS_UI not available for {connection} (os error {code}); \
             asking for INTERNET_PER_CONN_FLAGS"
        );
        query(&name, INTERNET_PER_CONN_FLAGS).map_err(|code| {
            os_error(
                format!(
                    "InternetQueryOptionW(INTERNET_OPTION_PER_CONNECTION_OPTION, {connection})"
                ),
                code,
            )
        })
    })
}

/// One `InternetSetOptionW` of the four options. `Err` holds `GetLastError()`.
fn set(name: &Option<Vec<u16>>, options: &ConnOptions) -> Result<Result<(), u32>, SysProxyError> {
    let server = wide(&options.server, "proxy server")?;
    let bypass = wide(&options.bypass, "proxy bypass")?;
    let pac_url = wide(&options.pac_url, "autoconfig URL")?;
    let mut list_options = [
        INTERNET_PER_CONN_OPTIONW {
            dwOption: INTERNET_PER_CONN_FLAGS,
            Value: INTERNET_PER_CONN_OPTIONW_0 {
                dwValue: options.flags,
            },
        },
        string_option(INTERNET_PER_CONN_PROXY_SERVER, &server),
        string_option(INTERNET_PER_CONN_PROXY_BYPASS, &bypass),
        string_option(INTERNET_PER_CONN_AUTOCONFIG_URL, &pac_url),
    ];
    let list = INTERNET_PER_CONN_OPTION_LISTW {
        dwSize: LIST_SIZE,
        pszConnection: ptr_or_null(name),
        dwOptionCount: list_options.len() as u32,
        dwOptionError: 0,
        pOptions: list_options.as_mut_ptr(),
    };
    // SAFETY: `list` is a valid INTERNET_PER_CONN_OPTION_LISTW of LIST_SIZE bytes; its
    // options, their NUL-terminated strings (or null) and the connection name all outlive
    // the call, which only reads them.
    #[allow(unsafe_code)]
    let ok = unsafe {
        InternetSetOptionW(
            null(),
            INTERNET_OPTION_PER_CONNECTION_OPTION,
            (&list as *const INTERNET_PER_CONN_OPTION_LISTW).cast::<c_void>(),
            LIST_SIZE,
        )
    } != 0;
    Ok(if ok { Ok(()) } else { Err(last_error()) })
}

/// An option without a buffer, on the global (null) handle.
fn announce(option: u32, what: &str) -> Result<(), SysProxyError> {
    // SAFETY: the option takes no buffer (null, length 0); a null handle addresses the
    // process-wide settings.
    #[allow(unsafe_code)]
    let ok = unsafe { InternetSetOptionW(null(), option, null(), 0) } != 0;
    if ok {
        Ok(())
    } else {
        Err(os_error(
            format!("InternetSetOptionW({what})"),
            last_error(),
        ))
    }
}

/// The phonebook's entry names, each once, in its order, or the error code that stopped
/// the read (the plan decides which codes mean "no phonebook").
fn ras_entries() -> Result<Vec<String>, u32> {
    const ENTRY: usize = size_of::<RASENTRYNAMEW>();
    let blank = RASENTRYNAMEW {
        dwSize: ENTRY as u32,
        szEntryName: [0; 257],
        dwFlags: 0,
        szPhonebookPath: [0; 261],
    };
    let mut entries = vec![blank];
    // Twice normally (size, then names); a third time if an entry appeared in between.
    for _ in 0..3 {
        let mut bytes = (entries.len() * ENTRY) as u32;
        let mut count = 0u32;
        // SAFETY: `entries` holds `bytes` bytes of RASENTRYNAMEW, each with `dwSize` set; the
        // call writes at most that many bytes and the two counters, all owned here.
        #[allow(unsafe_code)]
        let code = unsafe {
            RasEnumEntriesW(null(), null(), entries.as_mut_ptr(), &mut bytes, &mut count)
        };
        match code {
            0 => {
                let mut names: Vec<String> = Vec::new();
                for entry in entries.iter().take(count as usize) {
                    let len = entry
                        .szEntryName
                        .iter()
                        .position(|&c| c == 0)
                        .unwrap_or(257);
                    let name = String::from_utf16_lossy(&entry.szEntryName[..len]);
                    // An entry can be in the user's and the all-users phonebook.
                    if !name.is_empty() && !names.contains(&name) {
                        names.push(name);
                    }
                }
                return Ok(names);
            }
            ERROR_BUFFER_TOO_SMALL => {
                let wanted = (bytes as usize).div_ceil(ENTRY).max(entries.len() + 1);
                entries = vec![blank; wanted];
            }
            code => return Err(code),
        }
    }
    Err(ERROR_BUFFER_TOO_SMALL)
}

impl Store for WinInet {
    fn ras_entries(&self) -> Result<Vec<String>, SysProxyError> {
        super::phonebook(ras_entries())
    }

    fn read(&self, connection: &Connection) -> Result<ConnOptions, SysProxyError> {
        if is_wine() && *connection == Connection::Lan {
            return registry::read();
        }
        read_wininet(connection)
    }

    fn write(&self, connection: &Connection, options: &ConnOptions) -> Result<(), SysProxyError> {
        if is_wine() && *connection == Connection::Lan {
            return registry::write(options);
        }
        // A refused write is an error, never a fallback to the legacy registry values:
        // nothing would undo those, and Python's urllib (pip, requests) reads exactly them.
        let name = connection_name(connection)?;
        match set(&name, options)? {
            Ok(()) => Ok(()),
            Err(code) => Err(os_error(
                format!("InternetSetOptionW(INTERNET_OPTION_PER_CONNECTION_OPTION, {connection})"),
                code,
            )),
        }
    }

    fn notify(&self) -> Result<(), SysProxyError> {
        /// wininet.h: "alert all available WinInet instances" that the proxy changed (with
        /// a null buffer), as sysproxy-rs and shadowsocks' sysproxy send it.
        const INTERNET_OPTION_PROXY_SETTINGS_CHANGED: u32 = 95;
        if let Err(e) = announce(
            INTERNET_OPTION_PROXY_SETTINGS_CHANGED,
            "INTERNET_OPTION_PROXY_SETTINGS_CHANGED",
        ) {
            // Older WinINet builds lack it; the two below still reach every program.
            tracing::debug!("{e}");
        }
        announce(
            INTERNET_OPTION_SETTINGS_CHANGED,
            "INTERNET_OPTION_SETTINGS_CHANGED",
        )?;
        if is_wine() {
            // Wine answers ERROR_INTERNET_INCORRECT_HANDLE_TYPE for the null handle, and
            // its WinINet reads the registry afresh for every new session anyway.
            return Ok(());
        }
        announce(INTERNET_OPTION_REFRESH, "INTERNET_OPTION_REFRESH")
    }
}

#[cfg(test)]
mod tests {
    use super::super::registry::{blob_change, view, Blob, BlobChange, Legacy};
    use super::*;
    use crate::system_proxy::windows::{
        PROXY_TYPE_AUTO_DETECT, PROXY_TYPE_AUTO_PROXY_URL, PROXY_TYPE_DIRECT, PROXY_TYPE_PROXY,
    };

    fn options(flags: u32, server: &str, bypass: &str, pac_url: &str) -> ConnOptions {
        ConnOptions {
            flags,
            server: server.into(),
            bypass: bypass.into(),
            pac_url: pac_url.into(),
        }
    }

    const D: u32 = PROXY_TYPE_DIRECT;
    const P: u32 = PROXY_TYPE_PROXY;
    const U: u32 = PROXY_TYPE_AUTO_PROXY_URL;
    const A: u32 = PROXY_TYPE_AUTO_DETECT;
    const OURS: &str = "http=127.0.0.1:1095;https=127.0.0.1:1095";
    const PAC: &str = "http://wpad.corp.example/proxy.pac";

    /// Every setting the plan writes comes back from the registry as written, with or
    /// without a blob before, and a setting the legacy values hold needs no blob.
    #[test]
    fn the_registry_holds_every_setting_and_the_blob_only_when_needed() {
        let table = [
            (options(D, "", "", ""), false),
            (options(D | P, "corp:3128", "<local>", ""), false),
            (options(D | P, OURS, "<local>;*.local", PAC), true), // PAC kept while off
            (options(D | U, "corp:3128", "", PAC), false),
            (options(D | A, "", "", ""), true),
            (options(D | P | A, "corp:3128", "", ""), true),
            (options(D | U | A, "", "", PAC), true),
            (options(D | U, "", "", ""), true), // the PAC flag without a URL
        ];
        for (wanted, needs_blob) in table {
            for existing in [None, Some(Blob::new(&options(D | A, "x:1", "", "")))] {
                let blob = match blob_change(existing.as_ref(), &wanted) {
                    BlobChange::Leave => existing.clone(),
                    BlobChange::Delete => None,
                    BlobChange::Write(blob) => Some(blob),
                };
                assert_eq!(blob.is_some(), needs_blob, "{wanted:?} over {existing:?}");
                let legacy = Legacy::of(&wanted);
                assert_eq!(view(blob.as_ref(), &legacy), wanted, "{wanted:?}");
            }
        }
    }

    #[test]
    fn a_blob_round_trips_byte_for_byte_and_a_foreign_one_is_updated_not_removed() {
        let blob = Blob::new(&options(D | A, "h:1", "<local>", PAC));
        assert_eq!(Blob::parse(&blob.to_bytes()), Some(blob.clone()));
        let bytes = blob.to_bytes();
        assert_eq!(&bytes[..12], &[0x46, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0]);
        assert_eq!(Blob::parse(&bytes[..bytes.len() - 41]), None);

        let windows = Blob {
            counter: 17,
            tail: vec![1, 2, 3],
            ..blob
        };
        let direct = options(D, "", "", "");
        match blob_change(Some(&windows), &direct) {
            BlobChange::Write(updated) => {
                assert_eq!((updated.counter, &updated.tail[..]), (17, &[1, 2, 3][..]));
                assert_eq!(updated.flags, D);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn legacy_values_win_over_the_blob() {
        let blob = Blob::new(&options(D | A, "old:1", "old", ""));
        let legacy = Legacy {
            enable: Some(1),
            server: Some("new:2".into()),
            bypass: None,
            autoconfig: Some(PAC.into()),
        };
        assert_eq!(
            view(Some(&blob), &legacy),
            options(D | A | P | U, "new:2", "old", PAC)
        );
    }

    /// The real WinINet calls, on this machine's real setting (changed, then put back as
    /// WinINet reports it): run by `scripts/wine-test.sh` in its own Wine prefix.
    #[test]
    #[ignore = "changes this machine's proxy setting"]
    fn wininet_calls_on_this_machine() {
        let lan = None;
        let before = query(&lan, INTERNET_PER_CONN_FLAGS).expect("query");
        let ours = options(D | P, "127.0.0.1:1095", "", "");
        set(&lan, &ours).unwrap().expect("set");
        let after = read_wininet(&Connection::Lan).expect("read");
        assert_ne!(after.flags & P, 0, "{after:?}");
        assert_eq!(after.server, "127.0.0.1:1095");
        set(&lan, &before).unwrap().expect("set back");
        assert_eq!(query(&lan, INTERNET_PER_CONN_FLAGS), Ok(before));
        let entries = super::super::phonebook(ras_entries()).expect("the phonebook lists");
        assert!(entries.iter().all(|name| !name.is_empty()), "{entries:?}");
        announce(INTERNET_OPTION_SETTINGS_CHANGED, "SETTINGS_CHANGED").expect("notify");
        assert!(set(&lan, &options(D, "a\0b", "", "")).is_err());
    }

    #[test]
    fn wine_is_detected_where_it_runs() {
        // Wine passes its environment on; Windows has no WINEPREFIX.
        if std::env::var_os("WINEPREFIX").is_some() {
            assert!(is_wine());
        }
    }
}
