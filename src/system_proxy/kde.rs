//! KDE Plasma 5 and 6: KIO's `kioslaverc` through `kwriteconfig5`/`kwriteconfig6`, then
//! KIO's reparse signal over D-Bus; the GNOME keys are written as well, because Firefox and
//! GTK apps on Plasma read only those.

use super::command::CommandEnv;
use super::gnome::{self, Gnome};
use super::ownership::{self, Merged, Ours};
use super::{Backend, Current, Desired, Parts, Snapshot, SysProxyError};
use crate::bypass;

const FILE: &str = "kioslaverc";
const GROUP: &str = "Proxy Settings";
const KEYS: [&str; 8] = [
    "ProxyType",
    "httpProxy",
    "httpsProxy",
    "ftpProxy",
    "socksProxy",
    "NoProxyFor",
    "Proxy Config Script",
    "ReversedException",
];
const PREFIX: &str = "kioslaverc ";
/// The entry KIO's keys make; the GNOME keys are the other.
pub const ENTRY: &str = "KDE proxy setting (kioslaverc)";
/// Why a kioslaverc or gsettings write reads back unchanged, most often.
const HINT: &str = "is the desktop session's D-Bus running, and is kioslaverc writable?";

/// How a key that is present with an empty value (`key=`) is kept in a snapshot. An absent
/// key is kept as "", as in state files written before the two were told apart; a NUL can
/// be no real value (no command-line argument holds one).
const PRESENT_EMPTY: &str = "\u{0}";
/// What `kreadconfig --default` answers for an absent key.
const ABSENT: &str = "socksbridge:absent";

/// A snapshot value as the setting's text: a present-but-empty key reads as empty.
fn text(value: &str) -> &str {
    if value == PRESENT_EMPTY {
        ""
    } else {
        value
    }
}

#[derive(Debug, Clone)]
pub struct Kde {
    env: CommandEnv,
    write_tool: &'static str,
    read_tool: &'static str,
    /// The GNOME half, when gsettings is installed.
    gnome: Option<Gnome>,
}

impl Kde {
    /// Picks kwriteconfig6 on Plasma 6 (or when it is the only one installed), else 5.
    pub fn new(env: CommandEnv) -> Result<Kde, SysProxyError> {
        let six = env.get("KDE_SESSION_VERSION").as_deref() == Some("6")
            || !env.has_program("kwriteconfig5");
        let (write_tool, read_tool) = if six && env.has_program("kwriteconfig6") {
            ("kwriteconfig6", "kreadconfig6")
        } else {
            ("kwriteconfig5", "kreadconfig5")
        };
        if !env.has_program(write_tool) {
            return Err(SysProxyError::ToolMissing {
                tool: write_tool.to_string(),
            });
        }
        let gnome = env
            .has_program("gsettings")
            .then(|| Gnome::new(env.clone()));
        Ok(Kde {
            env,
            write_tool,
            read_tool,
            gnome,
        })
    }

    fn read_kio(&self) -> Result<Snapshot, SysProxyError> {
        KEYS.iter()
            .map(|k| {
                let args = [
                    "--file",
                    FILE,
                    "--group",
                    GROUP,
                    "--key",
                    k,
                    "--default",
                    ABSENT,
                ];
                let read = self.env.run(self.read_tool, &args)?;
                let value = match read.trim_end_matches('\n') {
                    ABSENT => "",
                    "" => PRESENT_EMPTY,
                    value => value,
                };
                Ok((format!("{PREFIX}{k}"), value.to_string()))
            })
            .collect()
    }

    /// Writes `value`; "" deletes the key, [`PRESENT_EMPTY`] writes it empty.
    fn write_kio(&self, key: &str, value: &str) -> Result<(), SysProxyError> {
        let mut args = vec!["--file", FILE, "--group", GROUP, "--key", key];
        match value {
            "" => args.push("--delete"),
            PRESENT_EMPTY => args.push(""),
            value => args.push(value),
        }
        self.env.run(self.write_tool, &args).map(|_| ())
    }

    /// Tells running KIO apps to re-read the setting. Best effort: nothing listening is fine.
    fn reparse(&self) {
        let signal = [
            "--session",
            "--type=signal",
            "/KIO/Scheduler",
            "org.kde.KIO.Scheduler.reparseSlaveConfiguration",
            "string:",
        ];
        if let Err(e) = self.env.run("dbus-send", &signal) {
            tracing::warn!("could not tell KIO to reload its proxy setting: {e}");
        }
    }

    /// Makes KIO's keys read as `target` (ProxyType last when turning on, first when
    /// turning off), tells KIO, and reads them back.
    fn write_kio_record(&self, target: &Snapshot, now: &Snapshot) -> Result<(), SysProxyError> {
        let mut changes: Vec<(&str, &str)> = target
            .iter()
            .filter(|(k, v)| now.get(*k) != Some(*v))
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?, v.as_str())))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let turning_on = kio_current(target).in_use();
        changes.sort_by_key(|(k, _)| (*k == "ProxyType") == turning_on);
        for (key, value) in changes {
            self.write_kio(key, value)?;
        }
        self.reparse();
        let after = self.read_kio()?;
        for (key, value) in target {
            if after.get(key) != Some(value) {
                return Err(SysProxyError::DidNotTake {
                    detail: format!("{key} is {:?}, expected {value:?}", after.get(key)),
                    hint: HINT,
                });
            }
        }
        Ok(())
    }
}

/// KIO writes for `desired`, ProxyType last.
pub fn kio_plan(desired: &Desired) -> Vec<(&'static str, String)> {
    match desired {
        Desired::Global {
            proxy,
            bypass: list,
            socks,
        } => {
            let http = format!("http://{} {}", proxy.ip(), proxy.port());
            let socks_value = if *socks {
                format!("socks://{} {}", proxy.ip(), proxy.port())
            } else {
                String::new()
            };
            vec![
                ("httpProxy", http.clone()),
                ("httpsProxy", http),
                ("socksProxy", socks_value),
                ("NoProxyFor", bypass::for_kde(list)),
                ("ReversedException", "false".into()),
                ("ProxyType", "1".into()),
            ]
        }
        Desired::Pac { url } => vec![
            ("Proxy Config Script", url.clone()),
            ("ProxyType", "2".into()),
        ],
    }
}

/// Parses KIO's `http://host port` (or `host:port`) into `host:port`.
fn kio_endpoint(value: &str) -> Option<String> {
    let rest = value.split_once("://").map_or(value, |(_, r)| r).trim();
    if rest.is_empty() {
        return None;
    }
    match rest.rsplit_once(' ') {
        Some((host, port)) => Some(super::host_port(host.trim(), port.trim())),
        None => Some(rest.to_string()),
    }
}

pub fn kio_current(snapshot: &Snapshot) -> Current {
    let get = |k: &str| {
        snapshot
            .get(&format!("{PREFIX}{k}"))
            .map(|v| text(v).to_string())
            .unwrap_or_default()
    };
    let mode = match get("ProxyType").as_str() {
        "" | "0" => "none",
        "1" => "manual",
        "2" => "auto",
        "3" => "auto-detect",
        "4" => "environment",
        _ => "unknown",
    };
    Current {
        mode: mode.to_string(),
        http: kio_endpoint(&get("httpProxy")),
        https: kio_endpoint(&get("httpsProxy")),
        socks: kio_endpoint(&get("socksProxy")),
        bypass: super::split_list(&get("NoProxyFor"), ','),
        pac_url: get("Proxy Config Script"),
    }
}

/// KIO's record pointed at `desired`, every other key as it is.
pub fn kio_wanted(desired: &Desired, now: &Snapshot) -> Snapshot {
    let mut record = now.clone();
    for (key, value) in kio_plan(desired) {
        record.insert(format!("{PREFIX}{key}"), value);
    }
    record
}

/// KIO's keys are one part, judged like the GNOME keys.
pub fn kio_merge(parts: Parts<'_>) -> Merged {
    ownership::whole_entry(
        parts,
        &kio_current(parts.now),
        &kio_current(parts.saved),
        parts.written == parts.now,
        parts.saved != parts.now,
    )
}

/// KDE ships no kioslaverc proxy keys at all: every key absent.
pub fn kio_default() -> Snapshot {
    KEYS.iter()
        .map(|k| (format!("{PREFIX}{k}"), String::new()))
        .collect()
}

fn is_kio(entry: &str) -> bool {
    entry == ENTRY
}

impl Backend for Kde {
    fn name(&self) -> &'static str {
        if self.gnome.is_some() {
            "KDE (kioslaverc) + GNOME keys"
        } else {
            "KDE (kioslaverc)"
        }
    }

    fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
        let mut snapshot = self.read_kio()?;
        if let Some(gnome) = &self.gnome {
            snapshot.extend(gnome.snapshot()?);
        }
        Ok(snapshot)
    }

    fn current(&self) -> Result<Current, SysProxyError> {
        Ok(kio_current(&self.read_kio()?))
    }

    /// KIO first, then the GNOME keys; both are tried, the first error is returned.
    fn write(&self, target: &Snapshot, now: &Snapshot) -> Result<(), SysProxyError> {
        let (kio, rest): (Snapshot, Snapshot) = target
            .clone()
            .into_iter()
            .partition(|(k, _)| k.starts_with(PREFIX));
        let kio = self.write_kio_record(&kio, now);
        let gnome = match &self.gnome {
            Some(gnome) if !rest.is_empty() => gnome.write_keys(&rest, now),
            _ => Ok(()),
        };
        kio.and(gnome)
    }

    fn entry_of(&self, key: &str) -> String {
        if key.starts_with(PREFIX) {
            ENTRY.to_string()
        } else {
            gnome::ENTRY.to_string()
        }
    }

    fn wanted(
        &self,
        entry: &str,
        desired: &Desired,
        now: &Snapshot,
    ) -> Result<Snapshot, SysProxyError> {
        Ok(if is_kio(entry) {
            kio_wanted(desired, now)
        } else {
            gnome::wanted(desired, now)
        })
    }

    fn merge(&self, entry: &str, parts: Parts<'_>) -> Result<Merged, SysProxyError> {
        Ok(if is_kio(entry) {
            kio_merge(parts)
        } else {
            gnome::merge(parts)
        })
    }

    fn routes_through(&self, entry: &str, record: &Snapshot, ours: &Ours) -> bool {
        if is_kio(entry) {
            ours.routes(&kio_current(record))
        } else {
            ours.routes(&gnome::current_of(record))
        }
    }

    fn os_default(&self, entry: &str, now: &Snapshot) -> Snapshot {
        if is_kio(entry) {
            kio_default()
        } else {
            gnome::os_default(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_types_read_as_modes() {
        for (kind, mode) in [
            ("", "none"),
            ("0", "none"),
            ("1", "manual"),
            ("2", "auto"),
            ("3", "auto-detect"),
            ("4", "environment"),
            ("9", "unknown"),
        ] {
            let snap = Snapshot::from([(format!("{PREFIX}ProxyType"), kind.to_string())]);
            assert_eq!(kio_current(&snap).mode, mode, "ProxyType {kind:?}");
        }
    }

    #[test]
    fn kio_values_table() {
        assert_eq!(
            kio_endpoint("http://127.0.0.1 1095").as_deref(),
            Some("127.0.0.1:1095")
        );
        assert_eq!(
            kio_endpoint("proxy.corp:3128").as_deref(),
            Some("proxy.corp:3128")
        );
        assert_eq!(kio_endpoint(""), None);
        let plan = kio_plan(&Desired::Global {
            proxy: "127.0.0.1:1095".parse().unwrap(),
            bypass: vec!["localhost".into(), "*.local".into()],
            socks: false,
        });
        assert_eq!(plan.last().unwrap(), &("ProxyType", "1".to_string()));
        assert!(plan.contains(&("NoProxyFor", "localhost,.local".to_string())));
        assert!(plan.contains(&("socksProxy", String::new())));
        let snap: Snapshot = plan
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.clone()))
            .collect();
        let current = kio_current(&snap);
        assert_eq!(
            (current.mode.as_str(), current.http.as_deref()),
            ("manual", Some("127.0.0.1:1095"))
        );
        assert_eq!(current.bypass, vec!["localhost", ".local"]);
        let mut present_empty = snap.clone();
        present_empty.insert(format!("{PREFIX}httpProxy"), PRESENT_EMPTY.into());
        assert_eq!(kio_current(&present_empty).http, None);
        assert_eq!(text(PRESENT_EMPTY), "");
    }
}
