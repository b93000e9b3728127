//! KDE Plasma 5 and 6: KIO's `kioslaverc` through `kwriteconfig5`/`kwriteconfig6`, then
//! KIO's reparse signal over D-Bus; the GNOME keys are written as well, because Firefox and
//! GTK apps on Plasma read only those.

use super::command::CommandEnv;
use super::gnome::Gnome;
use super::{bypass, Backend, Current, Desired, Snapshot, SysProxyError};

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

    fn apply_kio(&self, desired: &Desired) -> Result<(), SysProxyError> {
        for (key, value) in kio_plan(desired) {
            self.write_kio(key, &value)?;
        }
        self.reparse();
        kio_current(&self.read_kio()?).expect_points_at(desired, HINT)
    }

    fn restore_kio(&self, snapshot: &Snapshot) -> Result<(), SysProxyError> {
        // ProxyType first: nothing routes through us while the rest is put back.
        let mut keys = KEYS.to_vec();
        keys.sort_by_key(|k| *k != "ProxyType");
        for key in keys {
            let value = snapshot
                .get(&format!("{PREFIX}{key}"))
                .map(String::as_str)
                .unwrap_or("");
            self.write_kio(key, value)?;
        }
        self.reparse();
        let after = self.read_kio()?;
        for (key, value) in snapshot.iter().filter(|(k, _)| k.starts_with(PREFIX)) {
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
        Some((host, port)) => Some(format!("{}:{}", host.trim(), port.trim())),
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

    fn apply(&self, desired: &Desired) -> Result<(), SysProxyError> {
        let before = self.snapshot()?;
        let result = self.apply_kio(desired).and_then(|()| match &self.gnome {
            Some(gnome) => gnome.apply(desired),
            None => Ok(()),
        });
        if result.is_err() {
            // Never leave the desktop half-switched.
            let _ = self.restore(&before);
        }
        result
    }

    fn restore(&self, snapshot: &Snapshot) -> Result<(), SysProxyError> {
        let kio = self.restore_kio(snapshot);
        let gnome = match &self.gnome {
            Some(gnome) => {
                let part: Snapshot = snapshot
                    .iter()
                    .filter(|(k, _)| !k.starts_with(PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if part.is_empty() {
                    Ok(())
                } else {
                    gnome.restore(&part)
                }
            }
            None => Ok(()),
        };
        kio.and(gnome)
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
