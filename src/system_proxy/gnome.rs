//! GNOME and GNOME-based desktops (Cinnamon, MATE, Budgie, Pantheon): the
//! `org.gnome.system.proxy*` keys through `gsettings`, which Firefox and GTK apps read too.
//!
//! Restore is exact in kind as well as value: a key that was at its default (never set by
//! the user, as `dconf dump` shows) is reset, not written with the default's value, so it
//! keeps following the desktop's default. Without the `dconf` tool values are written.

use std::collections::BTreeSet;

use super::command::CommandEnv;
use super::ownership::{self, Merged, Ours};
use super::{gvariant, Backend, Current, Desired, Parts, Snapshot, SysProxyError};
use crate::bypass;

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

/// What gsettings-desktop-schemas ships for each key, as `gsettings` prints it.
const DEFAULTS: [&str; 16] = [
    "'none'",
    "''",
    "['localhost', '127.0.0.0/8', '::1']",
    "true",
    "''",
    "8080",
    "false",
    "false",
    "''",
    "''",
    "''",
    "0",
    "''",
    "0",
    "''",
    "0",
];

/// The one entry the GNOME keys make.
pub const ENTRY: &str = "GNOME proxy keys";

const MODE: &str = "org.gnome.system.proxy mode";
/// Why a gsettings write reads back unchanged, most often.
const HINT: &str = "is the desktop session's D-Bus running?";

/// Snapshot entry listing the keys that were at their defaults (comma-separated "schema
/// key" names). Absent when that is unknown: no `dconf` tool, or an older state file.
const AT_DEFAULT: &str = "dconf at-default";

/// One step of a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `gsettings set` to this GVariant text.
    Set(String),
    /// `gsettings reset`: back to following the default.
    Reset,
}

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

    fn reset(&self, entry: &str) -> Result<(), SysProxyError> {
        let (schema, name) = entry.split_once(' ').unwrap_or((entry, ""));
        self.env
            .run("gsettings", &["reset", schema, name])
            .map(|_| ())
    }

    fn read_all(&self) -> Result<Snapshot, SysProxyError> {
        let listing = self
            .env
            .run("gsettings", &["list-recursively", "org.gnome.system.proxy"])?;
        let mut snapshot = parse_listing(&listing);
        if self.env.has_program("dconf") {
            match self.env.run("dconf", &["dump", "/system/proxy/"]) {
                Ok(dump) => {
                    snapshot.insert(AT_DEFAULT.to_string(), at_default(&dump).join(","));
                }
                Err(e) => tracing::debug!("cannot tell which keys are at their defaults: {e}"),
            }
        }
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

/// The keys `dconf dump /system/proxy/` does not list: those at their defaults.
pub fn at_default(dump: &str) -> Vec<String> {
    let mut set = BTreeSet::new();
    let mut section = String::new();
    for line in dump.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim_matches('/').to_string();
        } else if let Some((name, _)) = line.split_once('=') {
            let schema = match section.as_str() {
                "" => "org.gnome.system.proxy".to_string(),
                sub => format!("org.gnome.system.proxy.{}", sub.replace('/', ".")),
            };
            set.insert(key(&schema, name.trim()));
        }
    }
    KEYS.iter()
        .map(|(schema, name)| key(schema, name))
        .filter(|k| !set.contains(k))
        .collect()
}

fn at_default_set(snapshot: &Snapshot) -> Option<BTreeSet<&str>> {
    snapshot
        .get(AT_DEFAULT)
        .map(|list| list.split(',').filter(|k| !k.is_empty()).collect())
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

/// The steps that put `snapshot` back, given the setting `now`: mode first, so nothing is
/// routed through us while the rest is restored; only keys that differ are touched. A key
/// that was at its default is reset when it is not now (or its value differs).
pub fn restore_plan(snapshot: &Snapshot, now: &Snapshot) -> Vec<(String, Step)> {
    let was_default = at_default_set(snapshot);
    let is_default = at_default_set(now);
    let mut plan: Vec<(String, Step)> = snapshot
        .iter()
        .filter(|(k, _)| k.as_str() != AT_DEFAULT)
        .filter_map(|(k, v)| {
            let differs = !now.get(k).is_some_and(|n| gvariant::same(n, v));
            match &was_default {
                Some(defaults) if defaults.contains(k.as_str()) => {
                    let set_now = is_default.as_ref().is_some_and(|d| !d.contains(k.as_str()));
                    (differs || set_now).then(|| (k.clone(), Step::Reset))
                }
                _ => differs.then(|| (k.clone(), Step::Set(v.clone()))),
            }
        })
        .collect();
    plan.sort_by_key(|(k, _)| k != MODE);
    plan
}

/// The record `desired` makes of `now`: our keys written, the rest as they are; the keys
/// we write no longer count as at their defaults.
pub fn wanted(desired: &Desired, now: &Snapshot) -> Snapshot {
    let plan = apply_plan(desired);
    let mut record = now.clone();
    if let Some(defaults) = at_default_set(now) {
        let still: Vec<&str> = defaults
            .into_iter()
            .filter(|k| !plan.iter().any(|(p, _)| p == k))
            .collect();
        record.insert(AT_DEFAULT.to_string(), still.join(","));
    }
    record.extend(plan);
    record
}

/// The steps that make the keys read as `target`: a target in use gets its mode last (no
/// app sees "manual" with stale hosts), one that is off gets it first (nothing is routed
/// through us while the rest changes).
pub fn write_plan(target: &Snapshot, now: &Snapshot) -> Vec<(String, Step)> {
    let mut plan = restore_plan(target, now);
    if current_of(target).in_use() {
        plan.sort_by_key(|(k, _)| k == MODE);
    }
    plan
}

/// The GNOME keys are one part: back when they still route through us, are as we wrote
/// them, or are off as they were before.
pub fn merge(parts: Parts<'_>) -> Merged {
    ownership::whole_entry(
        parts,
        &current_of(parts.now),
        &current_of(parts.saved),
        restore_plan(parts.written, parts.now).is_empty(),
        !restore_plan(parts.saved, parts.now).is_empty(),
    )
}

/// Every key as the schemas ship it, and (where `dconf` tells) at its default.
pub fn os_default(now: &Snapshot) -> Snapshot {
    let mut record: Snapshot = KEYS
        .iter()
        .zip(DEFAULTS)
        .map(|((schema, name), value)| (key(schema, name), value.to_string()))
        .collect();
    if now.contains_key(AT_DEFAULT) {
        let all: Vec<String> = KEYS.iter().map(|(s, k)| key(s, k)).collect();
        record.insert(AT_DEFAULT.to_string(), all.join(","));
    }
    record
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
        (!host.is_empty() && port > 0).then(|| super::host_port(&host, port))
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

impl Gnome {
    /// Makes the keys read as `target`, then reads them back in a fresh process: a write
    /// that dconf failed to commit (no session bus, read-only database) exits 0 and only
    /// shows up there.
    pub(crate) fn write_keys(
        &self,
        target: &Snapshot,
        now: &Snapshot,
    ) -> Result<(), SysProxyError> {
        let plan = write_plan(target, now);
        if plan.is_empty() {
            return Ok(());
        }
        for (entry, step) in plan {
            match step {
                Step::Set(value) => self.set(&entry, &value)?,
                Step::Reset => self.reset(&entry)?,
            }
        }
        let after = self.read_all()?;
        match restore_plan(target, &after).first() {
            None => Ok(()),
            Some((entry, step)) => Err(SysProxyError::DidNotTake {
                detail: format!(
                    "{entry} is {}, expected {}",
                    after.get(entry).map_or("unset", |v| v),
                    match step {
                        Step::Set(value) => value.as_str(),
                        Step::Reset => "its default",
                    }
                ),
                hint: HINT,
            }),
        }
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

    fn write(&self, target: &Snapshot, now: &Snapshot) -> Result<(), SysProxyError> {
        self.write_keys(target, now)
    }

    fn entry_of(&self, _key: &str) -> String {
        ENTRY.to_string()
    }

    fn wanted(
        &self,
        _: &str,
        desired: &Desired,
        now: &Snapshot,
    ) -> Result<Snapshot, SysProxyError> {
        Ok(wanted(desired, now))
    }

    fn merge(&self, _: &str, parts: Parts<'_>) -> Result<Merged, SysProxyError> {
        Ok(merge(parts))
    }

    fn routes_through(&self, _: &str, record: &Snapshot, ours: &Ours) -> bool {
        ours.routes(&current_of(record))
    }

    fn os_default(&self, _: &str, now: &Snapshot) -> Snapshot {
        os_default(now)
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

    /// An endpoint needs a host and a port; IPv6 hosts come back in brackets, once.
    #[test]
    fn endpoints_need_host_and_port_and_bracket_ipv6() {
        let http = |host: &str, port: &str| {
            let snap = Snapshot::from([
                (
                    key("org.gnome.system.proxy.http", "host"),
                    gvariant::quote(host),
                ),
                (key("org.gnome.system.proxy.http", "port"), port.to_string()),
            ]);
            current_of(&snap).http
        };
        assert_eq!(http("h", "1").as_deref(), Some("h:1"));
        assert_eq!(http("", "1095"), None);
        assert_eq!(http("h", "0"), None);
        assert_eq!(http("::1", "1095").as_deref(), Some("[::1]:1095"));
        assert_eq!(http("[::1]", "1095").as_deref(), Some("[::1]:1095"));
        assert_eq!(Gnome::new(CommandEnv::new()).name(), "GNOME (gsettings)");
    }

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
                (MODE.to_string(), Step::Set("'manual'".to_string())),
                (
                    "org.gnome.system.proxy.http host".into(),
                    Step::Set("'corp-proxy.example'".into())
                )
            ]
        );
        assert!(restore_plan(&before, &before).is_empty());
    }

    #[test]
    fn keys_that_were_at_their_defaults_are_reset_not_written() {
        let dump = "[/]\nmode='manual'\n\n[http]\nhost='corp-proxy.example'\nport=3128\n";
        let defaults = at_default(dump);
        assert_eq!(defaults.len(), KEYS.len() - 3);
        assert!(!defaults.contains(&MODE.to_string()));
        assert!(defaults.contains(&"org.gnome.system.proxy.https host".to_string()));
        assert!(defaults.contains(&"org.gnome.system.proxy autoconfig-url".to_string()));

        let mut before = parse_listing(LISTING);
        before.insert(AT_DEFAULT.into(), defaults.join(","));
        // We wrote https host (at default before) and the mode (set by the user before).
        let mut now = before.clone();
        now.insert(MODE.into(), "'auto'".into());
        now.insert(
            "org.gnome.system.proxy.https host".into(),
            "'127.0.0.1'".into(),
        );
        // ignore-hosts: same value as its default, but written explicitly now.
        let now_defaults: Vec<String> = defaults
            .iter()
            .filter(|k| {
                !k.ends_with("https host") && k.as_str() != "org.gnome.system.proxy ignore-hosts"
            })
            .cloned()
            .collect();
        now.insert(AT_DEFAULT.into(), now_defaults.join(","));
        let plan = restore_plan(&before, &now);
        assert_eq!(
            plan,
            vec![
                (MODE.to_string(), Step::Set("'manual'".into())),
                ("org.gnome.system.proxy ignore-hosts".into(), Step::Reset),
                ("org.gnome.system.proxy.https host".into(), Step::Reset),
            ]
        );
        // Unknown defaults (no dconf tool, an older state file): values are written.
        let mut old = parse_listing(LISTING);
        old.remove(AT_DEFAULT);
        assert!(restore_plan(&old, &now)
            .iter()
            .all(|(_, step)| matches!(step, Step::Set(_))));
    }
}
