//! What one network service's proxy setting is, what it should become, and the
//! `networksetup` commands that get it there — for apply and restore alike.
//!
//! `networksetup` cannot clear a server: turning a proxy off keeps its server and port
//! (`Enabled: No`, `Server: 127.0.0.1`). So a restore compares what it can put back: a
//! proxy that was off with no server comes back off, whatever server text remains.
//! "Authenticated Proxy Enabled" is never written (our proxy asks for no password) and is
//! compared like the rest. "Auto Proxy Discovery" (WPAD) is switched off while the setting
//! is ours, as on Windows: a discovered proxy must not take the traffic meant for us.

use super::super::ownership::{Judge, Ours, Routing};
use super::super::{Current, Desired, Snapshot, SysProxyError};
use crate::bypass;

/// The three proxies `networksetup` names `web`, `secureweb` and `socksfirewall`.
pub const KINDS: [&str; 3] = ["web", "secureweb", "socksfirewall"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub enabled: bool,
    pub server: String,
    pub port: String,
    pub authenticated: bool,
    /// Our own endpoint: whatever "Authenticated Proxy Enabled" reads is fine (our proxy
    /// asks for no password, and whether `-set…proxy` keeps the flag is unconfirmed).
    pub any_auth: bool,
}

impl Endpoint {
    /// `host:port`, with brackets around an IPv6 host (`[::1]:1095`).
    pub fn address(&self) -> Option<String> {
        (self.enabled && !self.server.is_empty())
            .then(|| super::super::host_port(&self.server, &self.port))
    }

    /// On, and at our listener.
    pub fn routes_through(&self, ours: &Ours) -> bool {
        self.address().is_some_and(|a| ours.is_listener(&a))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoProxy {
    pub enabled: bool,
    pub url: String,
}

impl AutoProxy {
    /// On, with our PAC URL.
    pub fn routes_through(&self, ours: &Ours) -> bool {
        self.enabled && ours.is_pac_url(&self.url)
    }
}

impl ServiceSettings {
    /// Any of its proxies, or its PAC URL, routes through us.
    pub fn routes_through(&self, ours: &Ours) -> bool {
        self.proxies.iter().any(|p| p.routes_through(ours)) || self.auto.routes_through(ours)
    }
}

/// One service's setting, as the `-get…` commands report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    /// In [`KINDS`] order.
    pub proxies: [Endpoint; 3],
    pub auto: AutoProxy,
    pub bypass: Vec<String>,
    /// "Auto Proxy Discovery" (WPAD).
    pub discovery: bool,
}

/// What to tell a user whose change did not take on macOS.
pub const HINT: &str = "a configuration profile or a VPN app may manage this Mac's proxy setting";

pub fn current_of(settings: &ServiceSettings) -> Current {
    let [web, secure, socks] = &settings.proxies;
    let mode = if settings.auto.enabled {
        "auto"
    } else if web.address().is_some() {
        "manual"
    } else if settings.discovery {
        "auto-detect"
    } else {
        "none"
    };
    Current {
        mode: mode.into(),
        http: web.address(),
        https: secure.address(),
        socks: socks.address(),
        bypass: settings.bypass.clone(),
        pac_url: settings.auto.url.clone(),
    }
}

/// The setting that points one service at `desired`, leaving everything else as it was.
pub fn wanted(desired: &Desired, before: &ServiceSettings) -> ServiceSettings {
    let mut to = before.clone();
    to.discovery = false;
    match desired {
        Desired::Global {
            proxy,
            bypass: list,
            socks,
        } => {
            let ours = |e: &Endpoint| Endpoint {
                enabled: true,
                server: proxy.ip().to_string(),
                port: proxy.port().to_string(),
                authenticated: e.authenticated,
                any_auth: true,
            };
            to.proxies[0] = ours(&before.proxies[0]);
            to.proxies[1] = ours(&before.proxies[1]);
            to.proxies[2] = if *socks {
                ours(&before.proxies[2])
            } else {
                Endpoint {
                    enabled: false,
                    ..before.proxies[2].clone()
                }
            };
            to.bypass = bypass::for_macos(list);
            to.auto.enabled = false;
        }
        Desired::Pac { url } => {
            for proxy in &mut to.proxies {
                proxy.enabled = false;
            }
            to.auto = AutoProxy {
                enabled: true,
                url: url.clone(),
            };
        }
    }
    to
}

/// One service at restore, part by part: the three proxies and the PAC URL route traffic;
/// the bypass list and automatic discovery only shape them. Returns the setting to write
/// and the parts kept as the user set them.
pub fn merge(
    saved: &ServiceSettings,
    written: &ServiceSettings,
    now: &ServiceSettings,
    ours: &Ours,
) -> (ServiceSettings, Vec<String>) {
    const NAMES: [&str; 3] = ["web proxy", "secure web proxy", "SOCKS proxy"];
    let mut judge = Judge::default();
    let mut out = now.clone();
    for (i, name) in NAMES.iter().enumerate() {
        let (s, w, n) = (&saved.proxies[i], &written.proxies[i], &now.proxies[i]);
        let part = Routing {
            routes_through_us: n.routes_through(ours),
            as_written: difference_in_endpoint(w, n).is_none(),
            on_now: n.enabled,
            on_before: s.enabled,
        };
        if judge.routing(
            name.to_string(),
            part,
            difference_in_endpoint(s, n).is_some(),
        ) {
            out.proxies[i] = s.clone();
        }
    }
    let auto_differs = |a: &AutoProxy, b: &AutoProxy| {
        a.enabled != b.enabled || ((a.enabled || !a.url.is_empty()) && a.url != b.url)
    };
    let part = Routing {
        routes_through_us: now.auto.routes_through(ours),
        as_written: !auto_differs(&written.auto, &now.auto),
        on_now: now.auto.enabled,
        on_before: saved.auto.enabled,
    };
    if judge.routing(
        "automatic proxy configuration".to_string(),
        part,
        auto_differs(&saved.auto, &now.auto),
    ) {
        out.auto = saved.auto.clone();
    }
    if judge.shaping(
        "bypass domains".to_string(),
        written.bypass == now.bypass,
        saved.bypass != now.bypass,
    ) {
        out.bypass = saved.bypass.clone();
    }
    if judge.shaping(
        "auto proxy discovery".to_string(),
        written.discovery == now.discovery,
        saved.discovery != now.discovery,
    ) {
        out.discovery = saved.discovery;
    }
    (out, judge.kept())
}

/// What a Mac ships for a service: every proxy off, no PAC URL, no discovery, and the
/// bypass list System Settings fills in.
pub fn os_default(now: &ServiceSettings) -> ServiceSettings {
    let mut to = ServiceSettings {
        bypass: vec!["*.local".into(), "169.254/16".into()],
        ..now.clone()
    };
    for proxy in &mut to.proxies {
        proxy.enabled = false;
    }
    to.auto.enabled = false;
    to.discovery = false;
    to
}

/// The `networksetup` arguments that turn `from` into `to` on `service`, only where they
/// differ. Setting a server turns its proxy on, so an "off with this server" is two steps.
pub fn commands(service: &str, from: &ServiceSettings, to: &ServiceSettings) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut push = |args: &[&str]| out.push(args.iter().map(|a| a.to_string()).collect());
    let state = |on: bool| if on { "on" } else { "off" };
    for (kind, (f, t)) in KINDS.iter().zip(from.proxies.iter().zip(&to.proxies)) {
        let moved = t.server != f.server || t.port != f.port;
        if !t.server.is_empty() && (moved || (t.enabled && !f.enabled)) {
            push(&[&format!("-set{kind}proxy"), service, &t.server, &t.port]);
            if !t.enabled {
                push(&[&format!("-set{kind}proxystate"), service, "off"]);
            }
        } else if t.enabled != f.enabled {
            push(&[&format!("-set{kind}proxystate"), service, state(t.enabled)]);
        }
    }
    let (f, t) = (&from.auto, &to.auto);
    if !t.url.is_empty() && (t.url != f.url || (t.enabled && !f.enabled)) {
        push(&["-setautoproxyurl", service, &t.url]);
        if !t.enabled {
            push(&["-setautoproxystate", service, "off"]);
        }
    } else if t.enabled != f.enabled {
        push(&["-setautoproxystate", service, state(t.enabled)]);
    }
    if to.discovery != from.discovery {
        push(&["-setproxyautodiscovery", service, state(to.discovery)]);
    }
    if to.bypass != from.bypass {
        let mut args = vec!["-setproxybypassdomains".to_string(), service.to_string()];
        if to.bypass.is_empty() {
            args.push("Empty".into());
        } else {
            args.extend(to.bypass.iter().cloned());
        }
        out.push(args);
    }
    out
}

/// Where `now` differs from `wanted` in anything `networksetup` can set, described.
pub fn difference(wanted: &ServiceSettings, now: &ServiceSettings) -> Option<String> {
    for (kind, (w, n)) in KINDS.iter().zip(wanted.proxies.iter().zip(&now.proxies)) {
        if let Some(difference) = difference_in_endpoint(w, n) {
            return Some(format!("{kind} {difference}"));
        }
    }
    let (w, n) = (&wanted.auto, &now.auto);
    if w.enabled != n.enabled || ((w.enabled || !w.url.is_empty()) && w.url != n.url) {
        return Some(format!("automatic proxy is {n:?}, expected {w:?}"));
    }
    if wanted.discovery != now.discovery {
        return Some(format!(
            "auto proxy discovery is {}, expected {}",
            now.discovery, wanted.discovery
        ));
    }
    if wanted.bypass != now.bypass {
        return Some(format!(
            "bypass domains are {:?}, expected {:?}",
            now.bypass, wanted.bypass
        ));
    }
    None
}

/// Where one proxy differs in what `networksetup` can set: a server left behind by an off
/// proxy with none saved is no difference.
fn difference_in_endpoint(wanted: &Endpoint, now: &Endpoint) -> Option<String> {
    let address_matters = wanted.enabled || !wanted.server.is_empty();
    if wanted.enabled != now.enabled
        || (address_matters && (wanted.server != now.server || wanted.port != now.port))
    {
        return Some(format!("proxy is {now:?}, expected {wanted:?}"));
    }
    let auth_differs = !wanted.any_auth && wanted.authenticated != now.authenticated;
    auth_differs.then(|| {
        format!(
            "proxy's \"Proxy server requires password\" is {}, expected {}: networksetup \
             cannot turn it on without the password; turn it on again in System Settings → \
             Network → Details → Proxies, then run `socksbridge system-proxy restore`",
            if now.authenticated { "on" } else { "off" },
            if wanted.authenticated { "on" } else { "off" },
        )
    })
}

/// The snapshot's spelling: `SERVICE|web` → `on|host|port|auth`, `SERVICE|auto` →
/// `on|url`, `SERVICE|bypass` → one domain per line.
pub fn encode(service: &str, settings: &ServiceSettings, into: &mut Snapshot) {
    let on = |b: bool| if b { "on" } else { "off" };
    for (kind, e) in KINDS.iter().zip(&settings.proxies) {
        into.insert(
            format!("{service}|{kind}"),
            format!(
                "{}|{}|{}|{}",
                on(e.enabled),
                e.server,
                e.port,
                if e.any_auth {
                    "-".to_string()
                } else {
                    u8::from(e.authenticated).to_string()
                }
            ),
        );
    }
    into.insert(
        format!("{service}|auto"),
        format!("{}|{}", on(settings.auto.enabled), settings.auto.url),
    );
    into.insert(format!("{service}|bypass"), settings.bypass.join("\n"));
    into.insert(
        format!("{service}|discovery"),
        on(settings.discovery).to_string(),
    );
}

/// The inverse of [`encode`] for every service in the snapshot, in name order.
pub fn decode(snapshot: &Snapshot) -> Result<Vec<(String, ServiceSettings)>, SysProxyError> {
    let bad = |key: &str| SysProxyError::DidNotTake {
        detail: format!("the saved macOS setting is not readable ({key})"),
        hint: HINT,
    };
    let mut out: std::collections::BTreeMap<String, ServiceSettings> = Default::default();
    for (key, value) in snapshot {
        let (service, field) = key.rsplit_once('|').ok_or_else(|| bad(key))?;
        let settings = out.entry(service.to_string()).or_default();
        if let Some(i) = KINDS.iter().position(|k| *k == field) {
            let parts: Vec<&str> = value.split('|').collect();
            let [state, server, port, ref rest @ ..] = parts[..] else {
                return Err(bad(key));
            };
            settings.proxies[i] = Endpoint {
                enabled: state == "on",
                server: server.into(),
                port: port.into(),
                authenticated: rest.first() == Some(&"1"),
                any_auth: rest.first() == Some(&"-"),
            };
        } else if field == "auto" {
            let (state, url) = value.split_once('|').ok_or_else(|| bad(key))?;
            settings.auto = AutoProxy {
                enabled: state == "on",
                url: url.into(),
            };
        } else if field == "bypass" {
            settings.bypass = value.lines().map(String::from).collect();
        } else if field == "discovery" {
            settings.discovery = value == "on";
        } else {
            return Err(bad(key));
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn endpoint(enabled: bool, server: &str, port: &str) -> Endpoint {
        Endpoint {
            enabled,
            server: server.into(),
            port: port.into(),
            authenticated: false,
            any_auth: false,
        }
    }

    fn never_set() -> ServiceSettings {
        ServiceSettings {
            proxies: [
                endpoint(false, "", "0"),
                endpoint(false, "", "0"),
                endpoint(false, "", "0"),
            ],
            ..ServiceSettings::default()
        }
    }

    fn listen() -> SocketAddr {
        "127.0.0.1:1095".parse().unwrap()
    }

    /// Plays the commands on a settings value the way `networksetup` does.
    fn play(mut s: ServiceSettings, commands: &[Vec<String>]) -> ServiceSettings {
        for c in commands {
            let kind = |prefix: &str, suffix: &str| {
                let k = c[0].strip_prefix(prefix)?.strip_suffix(suffix)?;
                KINDS.iter().position(|x| *x == k)
            };
            if let Some(i) = kind("-set", "proxystate") {
                s.proxies[i].enabled = c[2] == "on";
            } else if let Some(i) = kind("-set", "proxy") {
                s.proxies[i].enabled = true;
                s.proxies[i].server = c[2].clone();
                s.proxies[i].port = c[3].clone();
            } else if c[0] == "-setautoproxyurl" {
                s.auto = AutoProxy {
                    enabled: true,
                    url: c[2].clone(),
                };
            } else if c[0] == "-setautoproxystate" {
                s.auto.enabled = c[2] == "on";
            } else if c[0] == "-setproxyautodiscovery" {
                s.discovery = c[2] == "on";
            } else if c[0] == "-setproxybypassdomains" {
                s.bypass = if c[2] == "Empty" {
                    Vec::new()
                } else {
                    c[2..].to_vec()
                };
            } else {
                panic!("unknown command {c:?}");
            }
        }
        s
    }

    fn starting_points() -> Vec<(&'static str, ServiceSettings)> {
        let mut manual = never_set();
        manual.proxies[0] = endpoint(true, "corp.example", "3128");
        manual.proxies[1] = endpoint(true, "corp.example", "3128");
        manual.proxies[1].authenticated = true;
        manual.bypass = vec!["*.local".into(), "169.254/16".into()];
        let mut pac = never_set();
        pac.auto = AutoProxy {
            enabled: true,
            url: "http://wpad.corp.example/p.pac".into(),
        };
        let mut left_over = never_set();
        left_over.proxies[0] = endpoint(false, "old.example", "8080");
        left_over.auto.url = "http://old.example/p.pac".into();
        let mut local = never_set();
        local.proxies[0] = endpoint(true, "127.0.0.1", "3128");
        local.proxies[1] = endpoint(true, "127.0.0.1", "3128");
        local.proxies[2] = endpoint(true, "127.0.0.1", "1081");
        let wpad = ServiceSettings {
            discovery: true,
            ..never_set()
        };
        vec![
            ("never set", never_set()),
            ("WPAD on", wpad),
            ("another local proxy, SOCKS on", local),
            ("the user's manual proxy", manual),
            ("the user's PAC URL", pac),
            ("off, with an old server kept", left_over),
        ]
    }

    #[test]
    fn apply_then_restore_commands_reach_each_state_with_nothing_else_changed() {
        let modes = [
            Desired::global(listen(), vec!["*.local".into()], false),
            Desired::global("[::1]:1095".parse().unwrap(), Vec::new(), true),
            Desired::pac(listen(), &[]),
        ];
        for (name, before) in starting_points() {
            for desired in &modes {
                let to = wanted(desired, &before);
                if let Desired::Global { bypass, socks, .. } = desired {
                    assert_eq!(&to.bypass, bypass, "{name}");
                    assert_eq!(
                        to.proxies[2].enabled, *socks,
                        "{name}: SOCKS follows the mode"
                    );
                }
                let applied = play(before.clone(), &commands("S", &before, &to));
                assert_eq!(difference(&to, &applied), None, "{name} {desired:?}");
                assert!(!applied.discovery, "{name}: no WPAD while ours");
                assert!(
                    current_of(&applied).points_at(desired),
                    "{name} {desired:?}"
                );
                assert_eq!(
                    applied
                        .proxies
                        .iter()
                        .map(|p| p.authenticated)
                        .collect::<Vec<_>>(),
                    before
                        .proxies
                        .iter()
                        .map(|p| p.authenticated)
                        .collect::<Vec<_>>()
                );
                let restored = play(applied.clone(), &commands("S", &applied, &before));
                assert_eq!(difference(&before, &restored), None, "{name} {desired:?}");
                assert!(commands("S", &restored, &before).is_empty(), "{name}");
            }
        }
    }

    #[test]
    fn only_what_differs_is_written() {
        let before = never_set();
        let desired = Desired::pac(listen(), &[]);
        let Desired::Pac { url } = &desired else {
            unreachable!()
        };
        let to = wanted(&desired, &before);
        assert_eq!(
            commands("Wi-Fi ", &before, &to),
            [vec![
                "-setautoproxyurl".to_string(),
                "Wi-Fi ".into(),
                url.clone()
            ]]
        );
        assert!(commands("S", &to, &to).is_empty());
    }

    #[test]
    fn a_server_left_behind_by_an_off_proxy_is_no_difference_but_anything_else_is() {
        let before = never_set();
        let mut now = never_set();
        now.proxies[0] = endpoint(false, "127.0.0.1", "1095");
        now.auto.url = "http://127.0.0.1:1095/proxy.pac".into();
        assert_eq!(difference(&before, &now), None);
        for change in [
            |n: &mut ServiceSettings| n.proxies[0].enabled = true,
            |n: &mut ServiceSettings| n.proxies[2].authenticated = true,
            |n: &mut ServiceSettings| n.auto.enabled = true,
            |n: &mut ServiceSettings| n.bypass = vec!["x".into()],
            |n: &mut ServiceSettings| n.discovery = true,
        ] {
            let mut changed = now.clone();
            change(&mut changed);
            assert!(difference(&before, &changed).is_some(), "{changed:?}");
        }
        let mut had_server = never_set();
        had_server.proxies[1] = endpoint(false, "mine.example", "1");
        assert!(difference(&had_server, &now).is_some());
        // A saved server is compared by host and port alike, on or off.
        let mut port_only = had_server.clone();
        port_only.proxies[1].port = "2".into();
        assert!(difference(&had_server, &port_only).is_some());
        let mut had_url = never_set();
        had_url.auto.url = "http://mine.example/p.pac".into();
        assert!(difference(&had_url, &now).is_some());
    }

    #[test]
    fn ipv6_listeners_read_back_in_brackets() {
        let mut s = never_set();
        s.proxies[0] = endpoint(true, "::1", "1095");
        assert_eq!(current_of(&s).http.as_deref(), Some("[::1]:1095"));
        s.proxies[0].enabled = false;
        assert_eq!(current_of(&s).http, None);
    }

    #[test]
    fn snapshots_round_trip_names_with_bars_and_spaces() {
        let mut snapshot = Snapshot::new();
        let all = starting_points();
        for (i, (_, settings)) in all.iter().enumerate() {
            encode(&format!("Wi|Fi {i} "), settings, &mut snapshot);
        }
        let decoded = decode(&snapshot).unwrap();
        assert_eq!(decoded.len(), all.len());
        for (i, (_, settings)) in all.iter().enumerate() {
            let name = format!("Wi|Fi {i} ");
            assert_eq!(
                decoded.iter().find(|(n, _)| *n == name).map(|(_, s)| s),
                Some(settings)
            );
        }
        let foreign = Snapshot::from([("Wi-Fi|colour".to_string(), "on".to_string())]);
        assert!(decode(&foreign).is_err());
    }
}
