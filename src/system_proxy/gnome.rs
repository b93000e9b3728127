//! GNOME and GNOME-based desktops (Cinnamon, MATE, Budgie, Pantheon): the
//! `org.gnome.system.proxy*` keys through `gsettings`, which Firefox and GTK apps read too.

use super::command::CommandEnv;
use super::{bypass, gvariant, Backend, Current, Desired, Snapshot, SysProxyError};

/// Every key we may touch; the snapshot holds all of them so restore is exact.
const KEYS: [(&str, &str); 16] = [
    ("org.gnome.system.proxy", "mode"),
    ("org.gnome.system.proxy", "autoconfig-url"),
    ("org.gnome.system.proxy", "ignore-hosts"),
    ("org.gnome.system.proxy", "use-same-proxy"),
    ("org.gnome.system.proxy.http", "host"),
    ("org.gnome.system.proxy.http", "port"),
    ("org.gnome.system.proxy.http", "enabled"),
    ("org.gnome.system.proxy.http", "use-authentication"),
    ("org.gnome.system.proxy.http", "authentication-user"),
    ("org.gnome.system.proxy.http", "authentication-password"),
    ("org.gnome.system.proxy.https", "host"),
    ("org.gnome.system.proxy.https", "port"),
    ("org.gnome.system.proxy.ftp", "host"),
    ("org.gnome.system.proxy.ftp", "port"),
    ("org.gnome.system.proxy.socks", "host"),
    ("org.gnome.system.proxy.socks", "port"),
];

const MODE: &str = "org.gnome.system.proxy mode";

fn key(schema: &str, name: &str) -> String {
    format!("{schema} {name}")
}

#[derive(Debug, Clone)]
pub struct Gnome {
    env: CommandEnv,
}

impl Gnome {
    pub fn new(env: CommandEnv) -> Gnome {
        Gnome { env }
    }

    fn set(&self, entry: &str, value: &str) -> Result<(), SysProxyError> {
        let (schema, name) = entry.split_once(' ').unwrap_or((entry, ""));
        self.env
            .run("gsettings", &["set", schema, name, value])
            .map(|_| ())
    }

    fn read_all(&self) -> Result<Snapshot, SysProxyError> {
        let listing = self
            .env
            .run("gsettings", &["list-recursively", "org.gnome.system.proxy"])?;
        let snapshot = parse_listing(&listing);
        for (schema, name) in KEYS {
            if !snapshot.contains_key(&key(schema, name)) {
                return Err(SysProxyError::CommandFailed {
                    command: "gsettings list-recursively org.gnome.system.proxy".into(),
                    detail: format!(
                        "key {schema} {name} is missing (is gsettings-desktop-schemas installed?)"
                    ),
                });
            }
        }
        Ok(snapshot)
    }
}

/// Parses `gsettings list-recursively` output into "schema key" → GVariant text.
pub fn parse_listing(listing: &str) -> Snapshot {
    let wanted: Vec<String> = KEYS.iter().map(|(s, k)| key(s, k)).collect();
    listing
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (schema, name, value) = (parts.next()?, parts.next()?, parts.next()?);
            let k = key(schema, name);
            wanted.contains(&k).then(|| (k, value.to_string()))
        })
        .collect()
}

/// The writes that apply `desired`, mode last so no app sees "manual" with stale hosts.
pub fn apply_plan(desired: &Desired) -> Vec<(String, String)> {
    let s = |v: &str| gvariant::quote(v);
    let mut plan = Vec::new();
    match desired {
        Desired::Global {
            proxy,
            bypass: list,
            socks,
        } => {
            let host = proxy.ip().to_string();
            let port = proxy.port().to_string();
            for schema in [
                "org.gnome.system.proxy.http",
                "org.gnome.system.proxy.https",
            ] {
                plan.push((key(schema, "host"), s(&host)));
                plan.push((key(schema, "port"), port.clone()));
            }
            // A SOCKS value makes GNOME export all_proxy=socks://…, which many CLI
            // tools reject: only when asked for.
            let (socks_host, socks_port) = if *socks {
                (host.clone(), port.clone())
            } else {
                (String::new(), "0".into())
            };
            plan.push((key("org.gnome.system.proxy.socks", "host"), s(&socks_host)));
            plan.push((key("org.gnome.system.proxy.socks", "port"), socks_port));
            plan.push((
                key("org.gnome.system.proxy", "use-same-proxy"),
                "false".into(),
            ));
            plan.push((
                key("org.gnome.system.proxy", "ignore-hosts"),
                gvariant::quote_array(&bypass::for_gnome(list)),
            ));
            plan.push((MODE.to_string(), s("manual")));
        }
        Desired::Pac { url } => {
            plan.push((key("org.gnome.system.proxy", "autoconfig-url"), s(url)));
            plan.push((MODE.to_string(), s("auto")));
        }
    }
    plan
}

/// The writes that put `snapshot` back: mode first, so nothing is routed through us
/// while the rest is restored; only keys that differ from `now` are written.
pub fn restore_plan(snapshot: &Snapshot, now: &Snapshot) -> Vec<(String, String)> {
    let mut plan: Vec<(String, String)> = snapshot
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    plan.sort_by_key(|(k, _)| k != MODE);
    plan
}

/// The neutral view of a GNOME snapshot.
pub fn current_of(snapshot: &Snapshot) -> Current {
    let text = |k: &str| {
        snapshot
            .get(k)
            .and_then(|v| gvariant::parse_str(v))
            .unwrap_or_default()
    };
    let endpoint = |schema: &str| {
        let host = text(&key(schema, "host"));
        let port = snapshot
            .get(&key(schema, "port"))
            .and_then(|v| gvariant::parse_int(v))
            .unwrap_or(0);
        (!host.is_empty() && port > 0).then(|| format!("{}:{port}", bracket(&host)))
    };
    Current {
        mode: text(MODE),
        http: endpoint("org.gnome.system.proxy.http"),
        https: endpoint("org.gnome.system.proxy.https"),
        socks: endpoint("org.gnome.system.proxy.socks"),
        bypass: snapshot
            .get(&key("org.gnome.system.proxy", "ignore-hosts"))
            .and_then(|v| gvariant::parse_array(v))
            .unwrap_or_default(),
        pac_url: text(&key("org.gnome.system.proxy", "autoconfig-url")),
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl Backend for Gnome {
    fn name(&self) -> &'static str {
        "GNOME (gsettings)"
    }

    fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
        self.read_all()
    }

    fn current(&self) -> Result<Current, SysProxyError> {
        Ok(current_of(&self.read_all()?))
    }

    fn apply(&self, desired: &Desired) -> Result<(), SysProxyError> {
        for (entry, value) in apply_plan(desired) {
            self.set(&entry, &value)?;
        }
        // Read back in a fresh process: a write that dconf failed to commit (no session
        // bus, read-only database) exits 0 and only shows up here.
        let now = self.current()?;
        now.expect_points_at(desired)
    }

    fn restore(&self, snapshot: &Snapshot) -> Result<(), SysProxyError> {
        let now = self.read_all()?;
        for (entry, value) in restore_plan(snapshot, &now) {
            self.set(&entry, &value)?;
        }
        let after = self.read_all()?;
        match restore_plan(snapshot, &after).first() {
            None => Ok(()),
            Some((entry, value)) => Err(SysProxyError::DidNotTake {
                detail: format!(
                    "{entry} is {}, expected {value}",
                    after.get(entry).map_or("unset", |v| v)
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "org.gnome.system.proxy autoconfig-url ''
org.gnome.system.proxy ignore-hosts ['localhost', '127.0.0.0/8', '::1']
org.gnome.system.proxy mode 'manual'
org.gnome.system.proxy use-same-proxy true
org.gnome.system.proxy.ftp host ''
org.gnome.system.proxy.ftp port 0
org.gnome.system.proxy.http authentication-password ''
org.gnome.system.proxy.http authentication-user ''
org.gnome.system.proxy.http enabled false
org.gnome.system.proxy.http host 'corp-proxy.example'
org.gnome.system.proxy.http port 3128
org.gnome.system.proxy.http use-authentication false
org.gnome.system.proxy.https host ''
org.gnome.system.proxy.https port 0
org.gnome.system.proxy.socks host ''
org.gnome.system.proxy.socks port 0
org.gnome.desktop.other key 'ignored'";

    #[test]
    fn parses_a_listing_into_a_neutral_view() {
        let snap = parse_listing(LISTING);
        assert_eq!(snap.len(), KEYS.len());
        let current = current_of(&snap);
        assert_eq!(current.mode, "manual");
        assert_eq!(current.http.as_deref(), Some("corp-proxy.example:3128"));
        assert_eq!(current.https, None);
        assert_eq!(current.bypass, vec!["localhost", "127.0.0.0/8", "::1"]);
    }

    #[test]
    fn apply_plan_sets_mode_last_and_leaves_socks_empty_unless_asked() {
        let desired = Desired::Global {
            proxy: "127.0.0.1:1095".parse().unwrap(),
            bypass: vec!["localhost".into(), "it's".into()],
            socks: false,
        };
        let plan = apply_plan(&desired);
        assert_eq!(
            plan.last().unwrap(),
            &(MODE.to_string(), "'manual'".to_string())
        );
        assert!(plan.contains(&("org.gnome.system.proxy.https port".into(), "1095".into())));
        assert!(plan.contains(&("org.gnome.system.proxy.socks host".into(), "''".into())));
        assert!(plan.contains(&(
            "org.gnome.system.proxy ignore-hosts".into(),
            r"['localhost', 'it\'s']".into()
        )));
        let pac = apply_plan(&Desired::Pac {
            url: "http://127.0.0.1:1095/proxy.pac".into(),
        });
        assert_eq!(pac.last().unwrap().1, "'auto'");
    }

    #[test]
    fn restore_plan_writes_only_differences_mode_first() {
        let before = parse_listing(LISTING);
        let mut now = before.clone();
        now.insert(
            "org.gnome.system.proxy.http host".into(),
            "'127.0.0.1'".into(),
        );
        now.insert(MODE.into(), "'auto'".into());
        let plan = restore_plan(&before, &now);
        assert_eq!(
            plan,
            vec![
                (MODE.to_string(), "'manual'".to_string()),
                (
                    "org.gnome.system.proxy.http host".into(),
                    "'corp-proxy.example'".into()
                )
            ]
        );
        assert!(restore_plan(&before, &before).is_empty());
    }
}
