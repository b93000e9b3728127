//! Windows: WinINet's per-connection proxy options, for the LAN settings *and* every
//! dial-up, VPN and PPPoE entry (each keeps its own, and on a VPN only the VPN's count).
//! Written the documented way, `InternetSetOption(INTERNET_OPTION_PER_CONNECTION_OPTION)`,
//! which also updates the `DefaultConnectionSettings` blob WinINet reads and the legacy
//! registry values older programs read; then every running program is told to re-read.
//!
//! This file is the plan (what to write, how to read, compare and restore), plain code
//! compiled and tested on every OS against a model of WinINet (`model.rs`); only
//! `wininet.rs` (and `registry.rs`, its fallback and its stand-in under Wine) calls into
//! Windows. "Automatically detect settings" (WPAD, on by default)
//! would run before our setting, so it is switched off while we own the setting and put
//! back with the rest.

#[cfg(test)]
pub(crate) mod model;
#[cfg(windows)]
mod registry;
#[cfg(test)]
mod tests;
#[cfg(windows)]
mod wininet;

use std::collections::BTreeMap;

use super::ownership::{Judge, Merged, Ours, Routing};
use super::{Backend, Current, Desired, Parts, Snapshot, SysProxyError};
use crate::bypass;

/// `PROXY_TYPE_*` flags of `INTERNET_PER_CONN_FLAGS` (wininet.h).
pub const PROXY_TYPE_DIRECT: u32 = 0x1;
pub const PROXY_TYPE_PROXY: u32 = 0x2;
pub const PROXY_TYPE_AUTO_PROXY_URL: u32 = 0x4;
pub const PROXY_TYPE_AUTO_DETECT: u32 = 0x8;

/// The four per-connection options we own, as WinINet reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnOptions {
    /// `PROXY_TYPE_*` bits.
    pub flags: u32,
    /// `INTERNET_PER_CONN_PROXY_SERVER`: `host:port` or `http=h:p;https=h:p;…`.
    pub server: String,
    /// `INTERNET_PER_CONN_PROXY_BYPASS`: `;`-separated, `<local>` for plain names.
    pub bypass: String,
    /// `INTERNET_PER_CONN_AUTOCONFIG_URL`.
    pub pac_url: String,
}

/// A set of connection settings WinINet keeps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Connection {
    /// "LAN settings": `DefaultConnectionSettings`.
    Lan,
    /// A phonebook entry (`RasEnumEntries`): dial-up, VPN, PPPoE.
    Ras(String),
}

impl Connection {
    fn key(&self) -> String {
        match self {
            Connection::Lan => "lan".to_string(),
            Connection::Ras(name) => format!("ras:{name}"),
        }
    }

    fn from_key(key: &str) -> Option<Connection> {
        match key {
            "lan" => Some(Connection::Lan),
            _ => key
                .strip_prefix("ras:")
                .map(|name| Connection::Ras(name.to_string())),
        }
    }
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Lan => f.write_str("LAN settings"),
            Connection::Ras(name) => write!(f, "connection {name:?}"),
        }
    }
}

/// What the backend needs from Windows: filled by WinINet on Windows, by the model in tests.
pub trait Store: Send + Sync {
    /// The phonebook's dial-up, VPN and PPPoE entries.
    fn ras_entries(&self) -> Result<Vec<String>, SysProxyError>;
    fn read(&self, connection: &Connection) -> Result<ConnOptions, SysProxyError>;
    /// Writes the four options of one connection in one call.
    fn write(&self, connection: &Connection, options: &ConnOptions) -> Result<(), SysProxyError>;
    /// `INTERNET_OPTION_PROXY_SETTINGS_CHANGED`, `…_SETTINGS_CHANGED` and `…_REFRESH`:
    /// running programs re-read the setting.
    fn notify(&self) -> Result<(), SysProxyError>;
}

/// The options that point one connection at `desired`, keeping the user's own text in the
/// fields the chosen mode does not use (Windows' dialog shows them greyed out).
pub fn wanted(desired: &Desired, before: &ConnOptions) -> ConnOptions {
    match desired {
        Desired::Global {
            proxy,
            bypass: list,
            socks,
        } => ConnOptions {
            flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY,
            server: if *socks {
                format!("http={proxy};https={proxy};socks={proxy}")
            } else {
                format!("http={proxy};https={proxy}")
            },
            bypass: bypass::for_windows(list),
            pac_url: before.pac_url.clone(),
        },
        Desired::Pac { url } => ConnOptions {
            flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL,
            pac_url: url.clone(),
            ..before.clone()
        },
    }
}

/// The setting as a person would describe it. Automatic detection runs first when on, so
/// a setting with it is never "ours".
pub fn current_of(options: &ConnOptions) -> Current {
    let server = &options.server;
    // "host:port" for every protocol, or "http=h:p;https=h:p;socks=h:p".
    let for_scheme = |scheme: &str| -> Option<String> {
        if server.is_empty() {
            None
        } else if !server.contains('=') {
            Some(server.clone())
        } else {
            server.split(';').find_map(|part| {
                part.trim()
                    .strip_prefix(&format!("{scheme}="))
                    .map(String::from)
            })
        }
    };
    let has = |flag: u32| options.flags & flag != 0;
    let mode = if has(PROXY_TYPE_AUTO_DETECT) {
        "auto-detect"
    } else if has(PROXY_TYPE_AUTO_PROXY_URL) && !options.pac_url.is_empty() {
        "auto"
    } else if has(PROXY_TYPE_PROXY) {
        "manual"
    } else {
        "none"
    };
    Current {
        mode: mode.into(),
        http: for_scheme("http"),
        https: for_scheme("https"),
        socks: for_scheme("socks"),
        bypass: super::split_list(&options.bypass, ';'),
        pac_url: options.pac_url.clone(),
    }
}

/// One connection at restore, part by part: the proxy server (with its bypass list) and
/// the PAC URL route traffic; automatic detection only shapes them.
pub fn merge(
    saved: &ConnOptions,
    written: &ConnOptions,
    now: &ConnOptions,
    ours: &Ours,
) -> (ConnOptions, Vec<String>) {
    let proxy = |o: &ConnOptions| {
        (
            o.flags & PROXY_TYPE_PROXY,
            o.server.clone(),
            o.bypass.clone(),
        )
    };
    let pac = |o: &ConnOptions| (o.flags & PROXY_TYPE_AUTO_PROXY_URL, o.pac_url.clone());
    let detect = |o: &ConnOptions| o.flags & PROXY_TYPE_AUTO_DETECT;
    let (server_ours, pac_ours) = routing(now, ours);
    let mut judge = Judge::default();
    let mut out = now.clone();
    let server_back = judge.routing(
        "proxy server".to_string(),
        Routing {
            routes_through_us: server_ours,
            as_written: proxy(now) == proxy(written),
            on_now: server_on(now),
            on_before: server_on(saved),
        },
        proxy(now) != proxy(saved),
    );
    if server_back {
        out.flags = (out.flags & !PROXY_TYPE_PROXY) | (saved.flags & PROXY_TYPE_PROXY);
        out.server = saved.server.clone();
        out.bypass = saved.bypass.clone();
    }
    let pac_back = judge.routing(
        "automatic configuration script".to_string(),
        Routing {
            routes_through_us: pac_ours,
            as_written: pac(now) == pac(written),
            on_now: pac_on(now),
            on_before: pac_on(saved),
        },
        pac(now) != pac(saved),
    );
    if pac_back {
        out.flags =
            (out.flags & !PROXY_TYPE_AUTO_PROXY_URL) | (saved.flags & PROXY_TYPE_AUTO_PROXY_URL);
        out.pac_url = saved.pac_url.clone();
    }
    if judge.shaping(
        "automatically detect settings".to_string(),
        detect(now) == detect(written),
        detect(now) != detect(saved),
    ) {
        out.flags = (out.flags & !PROXY_TYPE_AUTO_DETECT) | detect(saved);
    }
    (out, judge.kept())
}

fn server_on(options: &ConnOptions) -> bool {
    options.flags & PROXY_TYPE_PROXY != 0 && !options.server.is_empty()
}

fn pac_on(options: &ConnOptions) -> bool {
    options.flags & PROXY_TYPE_AUTO_PROXY_URL != 0 && !options.pac_url.is_empty()
}

/// Whether the connection's proxy server, and its PAC URL, are in use and ours.
fn routing(options: &ConnOptions, ours: &Ours) -> (bool, bool) {
    let current = current_of(options);
    let server = server_on(options)
        && [&current.http, &current.https, &current.socks]
            .into_iter()
            .flatten()
            .any(|a| ours.is_listener(a));
    (server, pac_on(options) && ours.is_pac_url(&options.pac_url))
}

/// What Windows ships for a connection: direct, with "Automatically detect settings" on.
pub fn os_default() -> ConnOptions {
    ConnOptions {
        flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_DETECT,
        ..ConnOptions::default()
    }
}

/// The snapshot's spelling of every connection's options (`lan|flags`, `ras:VPN|server`…).
pub fn encode(settings: &BTreeMap<Connection, ConnOptions>) -> Snapshot {
    let mut snapshot = Snapshot::new();
    for (connection, options) in settings {
        let key = connection.key();
        snapshot.insert(format!("{key}|flags"), options.flags.to_string());
        snapshot.insert(format!("{key}|server"), options.server.clone());
        snapshot.insert(format!("{key}|bypass"), options.bypass.clone());
        snapshot.insert(format!("{key}|pac"), options.pac_url.clone());
    }
    snapshot
}

/// The inverse of [`encode`]; a snapshot that is not ours is an error, never a guess.
pub fn decode(snapshot: &Snapshot) -> Result<BTreeMap<Connection, ConnOptions>, SysProxyError> {
    let bad = |what: &str| SysProxyError::DidNotTake {
        detail: format!("the saved Windows setting is not readable ({what})"),
        hint: HINT,
    };
    let mut settings: BTreeMap<Connection, ConnOptions> = BTreeMap::new();
    for (key, value) in snapshot {
        let (connection, field) = key.rsplit_once('|').ok_or_else(|| bad(key))?;
        let connection = Connection::from_key(connection).ok_or_else(|| bad(key))?;
        let options = settings.entry(connection).or_default();
        match field {
            "flags" => options.flags = value.parse().map_err(|_| bad(key))?,
            "server" => options.server = value.clone(),
            "bypass" => options.bypass = value.clone(),
            "pac" => options.pac_url = value.clone(),
            _ => return Err(bad(key)),
        }
    }
    Ok(settings)
}

/// `RasEnumEntries` (no phonebook path, no entry buffer) failed with the code `Err`: only
/// `ERROR_CANNOT_OPEN_PHONEBOOK`, a machine that never had an entry, means "none". Any
/// other failure must stop a restore (and keep the state file) rather than read as "no VPN
/// entries", which would drop every saved entry still pointing at us.
pub fn phonebook(read: Result<Vec<String>, u32>) -> Result<Vec<String>, SysProxyError> {
    const ERROR_CANNOT_OPEN_PHONEBOOK: u32 = 621;
    match read {
        Ok(names) => Ok(names),
        Err(ERROR_CANNOT_OPEN_PHONEBOOK) => Ok(Vec::new()),
        Err(code) => Err(SysProxyError::CommandFailed {
            command: "RasEnumEntriesW".into(),
            detail: format!("the dial-up and VPN entries cannot be listed (error {code})"),
        }),
    }
}

/// What to tell a user whose change did not take on Windows.
const HINT: &str =
    "a group policy or another program may manage the Internet Options proxy setting";

/// The backend: the plan above over a [`Store`].
#[derive(Debug, Default)]
pub struct Windows<S> {
    store: S,
}

#[cfg(windows)]
impl Windows<wininet::WinInet> {
    pub fn new() -> Self {
        Windows {
            store: wininet::WinInet,
        }
    }
}

impl<S: Store> Windows<S> {
    pub fn with_store(store: S) -> Self {
        Windows { store }
    }

    fn connections(&self) -> Result<Vec<Connection>, SysProxyError> {
        let mut all = vec![Connection::Lan];
        all.extend(self.store.ras_entries()?.into_iter().map(Connection::Ras));
        Ok(all)
    }

    fn read_all(
        &self,
        connections: &[Connection],
    ) -> Result<BTreeMap<Connection, ConnOptions>, SysProxyError> {
        connections
            .iter()
            .map(|c| Ok((c.clone(), self.store.read(c)?)))
            .collect()
    }

    /// Writes `wanted` where it differs from `now`, tells running programs, and reads
    /// every one back.
    fn write_all(
        &self,
        wanted: &BTreeMap<Connection, ConnOptions>,
        now: &BTreeMap<Connection, ConnOptions>,
    ) -> Result<(), SysProxyError> {
        let mut wrote = false;
        for (connection, options) in wanted {
            if now.get(connection) != Some(options) {
                wrote = true;
                self.store
                    .write(connection, options)
                    .map_err(|e| SysProxyError::DidNotTake {
                        detail: format!("writing {connection} was refused: {e}"),
                        hint: HINT,
                    })?;
            }
        }
        if wrote {
            self.store.notify()?;
        }
        for (connection, options) in wanted {
            let now = self.store.read(connection)?;
            if &now != options {
                return Err(SysProxyError::DidNotTake {
                    detail: format!(
                        "{connection} reads back as {}, flags {:#x}",
                        current_of(&now),
                        now.flags
                    ),
                    hint: HINT,
                });
            }
        }
        Ok(())
    }
}

/// The one connection a record of [`encode`] holds.
fn single(record: &Snapshot) -> Result<(Connection, ConnOptions), SysProxyError> {
    decode(record)?
        .into_iter()
        .next()
        .ok_or_else(|| SysProxyError::DidNotTake {
            detail: "the saved Windows setting is empty".into(),
            hint: HINT,
        })
}

impl<S: Store> Backend for Windows<S> {
    fn name(&self) -> &'static str {
        "Windows (WinINet, LAN and every dial-up/VPN connection)"
    }

    fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
        Ok(encode(&self.read_all(&self.connections()?)?))
    }

    /// The LAN settings: one query, cheap enough for the guard's every few seconds.
    fn current(&self) -> Result<Current, SysProxyError> {
        Ok(current_of(&self.store.read(&Connection::Lan)?))
    }

    /// Writes every connection of `target` that the read `now` found; one deleted since
    /// has nothing left to write.
    fn write(&self, target: &Snapshot, now: &Snapshot) -> Result<(), SysProxyError> {
        let now = decode(now)?;
        let mut wanted = decode(target)?;
        wanted.retain(|connection, _| now.contains_key(connection));
        self.write_all(&wanted, &now)
    }

    fn entry_of(&self, key: &str) -> String {
        key.rsplit_once('|').map_or(key, |(c, _)| c).to_string()
    }

    fn wanted(
        &self,
        _: &str,
        desired: &Desired,
        now: &Snapshot,
    ) -> Result<Snapshot, SysProxyError> {
        let (connection, before) = single(now)?;
        Ok(encode(&BTreeMap::from([(
            connection,
            wanted(desired, &before),
        )])))
    }

    fn merge(&self, _: &str, parts: Parts<'_>) -> Result<Merged, SysProxyError> {
        let (connection, now) = single(parts.now)?;
        let (_, saved) = single(parts.saved)?;
        let (_, written) = single(parts.written)?;
        let (record, kept) = merge(&saved, &written, &now, parts.ours);
        Ok(Merged {
            record: encode(&BTreeMap::from([(connection, record)])),
            kept,
        })
    }

    fn routes_through(&self, _: &str, record: &Snapshot, ours: &Ours) -> bool {
        single(record).is_ok_and(|(_, options)| {
            let (server, pac) = routing(&options, ours);
            server || pac
        })
    }

    fn os_default(&self, entry: &str, _: &Snapshot) -> Snapshot {
        Connection::from_key(entry).map_or_else(Snapshot::new, |connection| {
            encode(&BTreeMap::from([(connection, os_default())]))
        })
    }
}
