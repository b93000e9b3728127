//! Configuration: [`Settings`] is the JSON schema people and the app write (plain strings
//! and numbers, every field defaulted); [`Settings::validate`] turns it into a typed
//! [`Config`] — the data path's [`ProxyConfig`] and the OS setting's [`SystemProxyConfig`],
//! kept apart so a change to one never reloads the other — or into field-named errors the
//! UI can show inline.

mod direct;
pub mod links;
mod servers;
pub mod store;
mod upstream;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

use crate::message::Message;

pub use upstream::{
    Credentials, HttpProxy, SocksServer, SocksVersion, Upstream, UpstreamError, DEFAULT_SOCKS_PORT,
};

pub use direct::{DirectRules, RuleError};
pub use servers::{
    default_name, FailoverConfig, FailoverSettings, Server, ServerList, ServerSettings, MAX_NAME,
};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:1095";
pub const DEFAULT_UPSTREAM: &str = "socks5h://127.0.0.1:1080";

/// The settings file / `--config` schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `IP:PORT` the mixed HTTP + SOCKS port listens on.
    pub listen: String,
    /// The upstream servers, in failover order. (Files from before the list hold one
    /// `upstream` URL and `upstream_via`; they are migrated when read.)
    pub servers: Vec<ServerSettings>,
    /// The name of the server to use; empty for the first.
    pub active: String,
    /// Checking the server in use, and moving to the next when it dies.
    pub failover: FailoverSettings,
    /// Hosts, `*.suffix` patterns and CIDRs that skip the upstream.
    pub direct: Vec<String>,
    /// Credentials inbound clients must present; `null` for none.
    pub auth: Option<InboundAuthSettings>,
    /// Allow listening beyond loopback without credentials: an open proxy.
    pub open_proxy: bool,
    /// Concurrent client connections; above it new ones get a 503.
    pub max_connections: u32,
    /// SOCKS5 UDP ASSOCIATE on the mixed port (UDP through a SOCKS5 server, or direct
    /// with `direct://`); refused where the server in use cannot carry UDP.
    pub udp: bool,
    pub timeouts: TimeoutSettings,
    /// How the operating system's proxy setting is pointed at us.
    pub system_proxy: SystemProxySettings,
    /// The tray app's own preferences (the CLI ignores them).
    pub app: AppSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    pub start_at_login: bool,
    pub enable_on_launch: bool,
    pub notify_upstream_down: bool,
    /// `host:port` the upstream checks (failover's too, so the CLI uses it) and the Test
    /// button connect to through a server.
    pub probe_target: String,
    /// The tray's and the window's language: `auto` (the OS's), `en`, `zh-CN` or `ru`.
    pub language: String,
}

/// The languages the app speaks (`app.language`, besides `auto`).
pub const LANGUAGES: [&str; 3] = ["en", "zh-CN", "ru"];

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            start_at_login: false,
            enable_on_launch: false,
            notify_upstream_down: true,
            probe_target: "example.com:443".into(),
            language: "auto".into(),
        }
    }
}

/// `off` never touches the OS setting; `global` points HTTP/HTTPS at us; `pac` serves
/// `/proxy.pac` and points the OS at it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SystemProxyMode {
    #[default]
    Off,
    Global,
    Pac,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemProxySettings {
    pub mode: SystemProxyMode,
    /// Destinations that skip the proxy: hosts, `*.suffix` patterns, CIDRs.
    pub bypass: Vec<String>,
    /// Re-apply when another program changes the setting.
    pub guard: bool,
    /// Fill the OS's SOCKS slot too (GNOME then exports `all_proxy=socks://…`, which
    /// some command-line tools reject).
    pub socks: bool,
}

impl Default for SystemProxySettings {
    fn default() -> Self {
        SystemProxySettings {
            mode: SystemProxyMode::Off,
            bypass: crate::bypass::default_bypass(),
            guard: false,
            socks: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundAuthSettings {
    pub username: String,
    pub password: Secret,
    /// Let clients on this machine in without credentials (an OS proxy setting cannot
    /// carry them, so the desktop itself would otherwise get 407s).
    #[serde(default)]
    pub exempt_loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSettings {
    /// Connecting to, and handshaking with, the SOCKS server or a direct target.
    pub connect_ms: u64,
    /// Receiving a complete request head (slowloris guard).
    pub header_ms: u64,
    /// A tunnel with no bytes either way for this long is closed.
    pub idle_secs: u64,
    /// On shutdown, how long running connections may finish.
    pub drain_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: DEFAULT_LISTEN.to_string(),
            servers: vec![ServerSettings::new("Local SOCKS", DEFAULT_UPSTREAM)],
            active: String::new(),
            failover: FailoverSettings::default(),
            direct: Vec::new(),
            auth: None,
            open_proxy: false,
            max_connections: 8192,
            udp: true,
            timeouts: TimeoutSettings::default(),
            system_proxy: SystemProxySettings::default(),
            app: AppSettings::default(),
        }
    }
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        TimeoutSettings {
            connect_ms: 10_000,
            header_ms: 10_000,
            idle_secs: 600,
            drain_ms: 3_000,
        }
    }
}

/// One invalid field, by its JSON path: the message in English, and as a catalogue key
/// with arguments for the window to show in the user's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    #[serde(flatten)]
    pub text: Message,
}

impl FieldError {
    pub fn new(field: &str, text: Message) -> FieldError {
        FieldError {
            field: field.to_string(),
            message: text.english(),
            text,
        }
    }
}

/// Every invalid field of a [`Settings`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// Credentials inbound clients must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAuth {
    pub username: String,
    pub password: Secret,
    pub exempt_loopback: bool,
}

/// Validated timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub header: Duration,
    pub idle: Duration,
    pub drain: Duration,
}

/// Validated settings, in the parts that change independently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The data path, dialling through the chosen server.
    pub proxy: ProxyConfig,
    pub system_proxy: SystemProxyConfig,
    pub servers: ServerList,
    pub failover: FailoverConfig,
}

impl Config {
    /// The data path's config dialling through the list's server at `index`.
    pub fn through(&self, index: usize) -> ProxyConfig {
        self.proxy.using(&self.servers.servers[index])
    }
}

/// What the data path runs on; only ever built by [`Settings::validate`] (and switched to
/// another of its servers by [`ProxyConfig::using`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    /// The name of the server in use (shown for each connection).
    pub server: String,
    /// The server in use.
    pub upstream: Upstream,
    /// The HTTP proxy in front of the upstream, if any.
    pub via: Option<HttpProxy>,
    pub direct: DirectRules,
    pub auth: Option<InboundAuth>,
    pub open_proxy: bool,
    pub max_connections: usize,
    /// UDP ASSOCIATE is served.
    pub udp: bool,
    pub timeouts: Timeouts,
    /// The bypass list the served `/proxy.pac` carries (the system-proxy bypass list).
    pub pac_bypass: Vec<String>,
}

impl ProxyConfig {
    /// The same config dialling through `server`.
    pub fn using(&self, server: &Server) -> ProxyConfig {
        ProxyConfig {
            server: server.name.clone(),
            upstream: server.upstream.clone(),
            via: server.via.clone(),
            ..self.clone()
        }
    }

    /// The proxies this proxy itself connects to: the server in use (none with
    /// `direct://`) and the `via` proxy in front of it.
    pub fn hops(&self) -> impl Iterator<Item = &crate::target::Target> {
        let server = match &self.upstream {
            Upstream::Socks(server) => Some(&server.address),
            Upstream::Http(proxy) => Some(&proxy.address),
            Upstream::Direct => None,
        };
        server
            .into_iter()
            .chain(self.via.as_ref().map(|via| &via.address))
    }

    /// True when targets are dialled exactly as under `other`: same upstream, same direct
    /// rules, same connect timeout. Pooled connections stay valid across such a change.
    pub fn dials_like(&self, other: &ProxyConfig) -> bool {
        self.upstream == other.upstream
            && self.via == other.via
            && self.direct == other.direct
            && self.timeouts.connect == other.timeouts.connect
    }
}

/// Validated system-proxy settings; bypass entries are normalised (`127.0.0.1/8` →
/// `127.0.0.0/8`, lower-case names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemProxyConfig {
    pub mode: SystemProxyMode,
    pub bypass: Vec<String>,
    pub guard: bool,
    pub socks: bool,
}

impl Default for Config {
    fn default() -> Self {
        match Settings::default().validate() {
            Ok(config) => config,
            Err(e) => unreachable!("default settings are valid: {e}"),
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Config::default().proxy
    }
}

/// A settings file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid settings file: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Settings {
    /// Reads a settings file (JSON). Validation is separate: see [`Settings::validate`].
    pub fn load(path: &Path) -> Result<Settings, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::from_json(&text).map_err(|source| LoadError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn from_json(text: &str) -> Result<Settings, serde_json::Error> {
        Settings::from_json_migrating(text).map(|(settings, _)| settings)
    }

    /// Parses settings; a file from before the server list is migrated, and the flag
    /// says so (the app then keeps a backup of the old file).
    pub fn from_json_migrating(text: &str) -> Result<(Settings, bool), serde_json::Error> {
        match serde_json::from_str(text) {
            Ok(settings) => Ok((settings, false)),
            Err(original) => {
                let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
                    return Err(original);
                };
                match servers::migrate_legacy(&mut value) {
                    Ok(true) => serde_json::from_value(value).map(|s| (s, true)),
                    Ok(false) => Err(original),
                    Err(message) => Err(serde::de::Error::custom(message)),
                }
            }
        }
    }

    /// Parses settings from a JSON value, migrating as [`Settings::from_json`] does.
    pub fn from_value(mut value: serde_json::Value) -> Result<Settings, serde_json::Error> {
        servers::migrate_legacy(&mut value).map_err(serde::de::Error::custom)?;
        serde_json::from_value(value)
    }

    /// These settings with one server, `url`, named after its address: what one
    /// `--upstream` means.
    pub fn with_upstream(self, url: &str) -> Settings {
        Settings {
            servers: vec![ServerSettings::named_after(url)],
            active: String::new(),
            ..self
        }
    }

    /// Checks every field and builds the typed config; reports all bad fields at once.
    pub fn validate(&self) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, text: Message| errors.push(FieldError::new(field, text));

        let listen = self.listen.trim().parse::<SocketAddr>().map_err(|_| {
            Message::new(
                "core.listen_format",
                [
                    ("value", self.listen.clone()),
                    ("example", DEFAULT_LISTEN.into()),
                ],
            )
        });
        let listen = listen.map_err(|m| bad("listen", m)).ok();
        let servers = servers::validate_list(&self.servers, &self.active, &mut bad);
        let direct = DirectRules::parse(&self.direct)
            .map_err(|e| bad("direct", e.message()))
            .ok();

        let auth = match &self.auth {
            None => None,
            Some(a) => {
                if a.username.is_empty() || a.username.len() > 255 {
                    bad("auth.username", Message::new("core.bytes_1_255", []));
                } else if a.username.contains(':') {
                    bad("auth.username", Message::new("core.no_colon", []));
                }
                if a.password.is_empty() || a.password.len() > 255 {
                    bad("auth.password", Message::new("core.bytes_1_255", []));
                }
                Some(InboundAuth {
                    username: a.username.clone(),
                    password: a.password.clone(),
                    exempt_loopback: a.exempt_loopback,
                })
            }
        };
        if let Some(addr) = listen {
            if !addr.ip().is_loopback() && auth.is_none() && !self.open_proxy {
                bad(
                    "listen",
                    Message::new("core.listen_exposed", [("address", addr.to_string())]),
                );
            }
        }
        if self.max_connections == 0 {
            bad("max_connections", Message::new("core.at_least_one", []));
        }
        let mut bypass = Vec::new();
        for (i, entry) in self.system_proxy.bypass.iter().enumerate() {
            match normalise_bypass(entry) {
                Ok(Some(e)) => bypass.push(e),
                Ok(None) => {}
                Err(message) => bad(&format!("system_proxy.bypass[{i}]"), message),
            }
        }
        let probe_target = parse_probe_target(&self.app.probe_target)
            .map_err(|m| bad("app.probe_target", m))
            .ok();
        if self.app.language != "auto" && !LANGUAGES.contains(&self.app.language.as_str()) {
            bad(
                "app.language",
                Message::new(
                    "core.language",
                    [
                        ("value", self.app.language.clone()),
                        ("languages", LANGUAGES.join(", ")),
                    ],
                ),
            );
        }
        let t = &self.timeouts;
        for (field, value, min, max) in [
            ("timeouts.connect_ms", t.connect_ms, 100, 300_000),
            ("timeouts.header_ms", t.header_ms, 100, 300_000),
            ("timeouts.idle_secs", t.idle_secs, 1, 7 * 24 * 3600),
            ("timeouts.drain_ms", t.drain_ms, 0, 300_000),
            (
                "failover.interval_secs",
                self.failover.interval_secs,
                1,
                3600,
            ),
            ("failover.failures", self.failover.failures.into(), 1, 100),
            (
                "failover.hold_down_secs",
                self.failover.hold_down_secs,
                0,
                3600,
            ),
        ] {
            if !(min..=max).contains(&value) {
                bad(
                    field,
                    Message::new(
                        "core.range",
                        [("min", min.to_string()), ("max", max.to_string())],
                    ),
                );
            }
        }

        match (listen, servers, direct, probe_target) {
            (Some(listen), Some(servers), Some(direct), Some(target)) if errors.is_empty() => {
                let f = &self.failover;
                Ok(Config {
                    proxy: ProxyConfig {
                        listen,
                        server: servers.active().name.clone(),
                        upstream: servers.active().upstream.clone(),
                        via: servers.active().via.clone(),
                        direct,
                        auth,
                        open_proxy: self.open_proxy,
                        max_connections: self.max_connections as usize,
                        udp: self.udp,
                        timeouts: Timeouts {
                            connect: Duration::from_millis(t.connect_ms),
                            header: Duration::from_millis(t.header_ms),
                            idle: Duration::from_secs(t.idle_secs),
                            drain: Duration::from_millis(t.drain_ms),
                        },
                        pac_bypass: bypass.clone(),
                    },
                    system_proxy: SystemProxyConfig {
                        mode: self.system_proxy.mode,
                        bypass,
                        guard: self.system_proxy.guard,
                        socks: self.system_proxy.socks,
                    },
                    servers,
                    failover: FailoverConfig {
                        enabled: f.enabled,
                        switch_back: f.switch_back,
                        interval: Duration::from_secs(f.interval_secs),
                        failures: f.failures,
                        hold_down: Duration::from_secs(f.hold_down_secs),
                        target,
                    },
                })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// The `host:port` checks and the Test button dial (`app.probe_target`).
pub fn parse_probe_target(raw: &str) -> Result<crate::target::Target, Message> {
    crate::target::Target::parse_authority(raw.trim()).map_err(|e| {
        Message::new(
            "core.not_host_port",
            [("value", raw.to_string()), ("reason", e.to_string())],
        )
    })
}

/// One bypass entry in canonical form; blank entries are dropped.
fn normalise_bypass(entry: &str) -> Result<Option<String>, Message> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Ok(None);
    }
    if entry.eq_ignore_ascii_case("<local>") {
        return Ok(Some("<local>".into()));
    }
    if entry.contains('/') {
        return entry
            .parse::<ipnet::IpNet>()
            .map(|net| Some(net.trunc().to_string()))
            .map_err(|_| Message::new("core.cidr_invalid", [("entry", entry.to_string())]));
    }
    DirectRules::parse([entry]).map_err(|e| e.message())?;
    Ok(Some(
        entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Settings::default().validate().unwrap().proxy;
        assert_eq!(config.listen.to_string(), "127.0.0.1:1095");
        assert_eq!(config.upstream.to_url(), "socks5h://127.0.0.1:1080");
        assert!(config.direct.is_empty());
        assert_eq!(config.timeouts.connect, Duration::from_secs(10));
        assert_eq!(Settings::from_json("{}").unwrap(), Settings::default());
    }

    #[test]
    fn valid_fixtures() {
        let fixtures = [
            r#"{"listen":"127.0.0.1:0","upstream":"socks5://u:p@[::1]:1080"}"#,
            r#"{"listen":"[::1]:1095","upstream":"direct://","direct":["*.lan","10.0.0.0/8"]}"#,
            r#"{"upstream":"http://u:p@office.example:3128"}"#,
            r#"{"upstream":"socks5h://h:1080","upstream_via":"http://office.example:3128"}"#,
            r#"{"listen":"0.0.0.0:1095","auth":{"username":"u","password":"p"}}"#,
            r#"{"listen":"0.0.0.0:1095","open_proxy":true}"#,
            r#"{"timeouts":{"connect_ms":500},"max_connections":10}"#,
        ];
        for json in fixtures {
            let settings = Settings::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            settings
                .validate()
                .unwrap_or_else(|e| panic!("{json}: {e}"));
        }
    }

    #[test]
    fn invalid_fixtures_name_the_field() {
        let fixtures = [
            (r#"{"listen":"localhost:1095"}"#, vec!["listen"]),
            (r#"{"listen":"0.0.0.0:1095"}"#, vec!["listen"]),
            (r#"{"upstream":"http://x"}"#, vec!["servers[0].url"]),
            (r#"{"upstream_via":"socks5://h:1"}"#, vec!["servers[0].via"]),
            (r#"{"servers":[]}"#, vec!["servers"]),
            (
                r#"{"servers":[{"name":"A","url":"direct://"}],"active":"B"}"#,
                vec!["active"],
            ),
            (
                r#"{"failover":{"interval_secs":0,"failures":0}}"#,
                vec!["failover.interval_secs", "failover.failures"],
            ),
            (
                r#"{"app":{"probe_target":"nope"}}"#,
                vec!["app.probe_target"],
            ),
            (r#"{"app":{"language":"de"}}"#, vec!["app.language"]),
            (
                r#"{"upstream":"direct://","upstream_via":"http://h:1"}"#,
                vec!["servers[0].via"],
            ),
            (r#"{"direct":["10.0.0.0/99"]}"#, vec!["direct"]),
            (
                r#"{"auth":{"username":"","password":""}}"#,
                vec!["auth.username", "auth.password"],
            ),
            (
                r#"{"auth":{"username":"a:b","password":"x"}}"#,
                vec!["auth.username"],
            ),
            (
                r#"{"max_connections":0,"timeouts":{"idle_secs":0}}"#,
                vec!["max_connections", "timeouts.idle_secs"],
            ),
            (
                r#"{"upstream":"socks9://h","listen":"x"}"#,
                vec!["listen", "servers[0].url"],
            ),
        ];
        for (json, fields) in fixtures {
            let errors = Settings::from_json(json).unwrap().validate().unwrap_err();
            let got: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{json}: {errors}");
            for e in &errors.0 {
                assert!(crate::message::known(e.text.key), "{}", e.text.key);
                assert_eq!(e.message, e.text.english());
            }
        }
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_parse_errors() {
        for json in [
            r#"{"lisen":"127.0.0.1:1"}"#,
            r#"{"upstream":"direct://","servers":[]}"#,
            r#"{"max_connections":"many"}"#,
            r#"{"auth":{"user":"x"}}"#,
            "[1]",
            "{",
        ] {
            assert!(Settings::from_json(json).is_err(), "{json}");
        }
    }

    #[test]
    fn bypass_entries_are_normalised_or_named() {
        let settings = Settings::from_json(
            r#"{"system_proxy":{"mode":"pac","bypass":["127.0.0.1/8"," *.Local ","[::1]","<local>",""]}}"#,
        )
        .unwrap();
        let config = settings.validate().unwrap();
        assert_eq!(config.system_proxy.mode, SystemProxyMode::Pac);
        assert_eq!(
            config.system_proxy.bypass,
            vec!["127.0.0.0/8", "*.local", "::1", "<local>"]
        );
        assert_eq!(config.proxy.pac_bypass, config.system_proxy.bypass);
        let bad = Settings::from_json(
            r#"{"system_proxy":{"bypass":["ok.example","10.0.0.0/99","bad host"]}}"#,
        )
        .unwrap();
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec!["system_proxy.bypass[1]", "system_proxy.bypass[2]"]
        );
        assert_eq!(Settings::default().system_proxy.mode, SystemProxyMode::Off);
    }

    #[test]
    fn only_upstream_rules_and_connect_timeout_change_how_targets_are_dialled() {
        let base = Settings::default();
        let config = |f: &dyn Fn(&mut Settings)| {
            let mut s = base.clone();
            f(&mut s);
            s.validate().unwrap().proxy
        };
        let before = config(&|_| {});
        let same_dials: [&dyn Fn(&mut Settings); 6] = [
            &|s| s.timeouts.idle_secs = 5,
            &|s| s.timeouts.header_ms = 500,
            &|s| s.max_connections = 7,
            &|s| s.system_proxy.bypass = vec!["*.lan".into()],
            &|s| s.system_proxy.mode = SystemProxyMode::Global,
            &|s| s.listen = "127.0.0.1:2000".into(),
        ];
        for change in same_dials {
            assert!(before.dials_like(&config(change)));
        }
        let other_dials: [&dyn Fn(&mut Settings); 4] = [
            &|s| s.servers = vec![ServerSettings::named_after("socks5://127.0.0.1:1080")],
            &|s| s.servers = vec![ServerSettings::named_after("direct://")],
            &|s| s.direct = vec!["*.lan".into()],
            &|s| s.timeouts.connect_ms = 500,
        ];
        for change in other_dials {
            assert!(!before.dials_like(&config(change)));
        }
    }

    #[test]
    fn the_chosen_server_is_what_the_data_path_dials() {
        let settings = Settings::from_json(
            r#"{"servers":[{"name":"A","url":"socks5h://a:1"},
                           {"name":"B","url":"socks5h://b:2","via":"http://o:3"}],
                "active":"B","failover":{"enabled":false,"interval_secs":5}}"#,
        )
        .unwrap();
        let config = settings.validate().unwrap();
        assert_eq!(config.proxy.upstream.to_url(), "socks5h://b:2");
        assert_eq!(
            config.proxy.via.as_ref().unwrap().address.to_string(),
            "o:3"
        );
        assert_eq!(config.servers.active, 1);
        assert!(!config.failover.enabled);
        assert_eq!(config.failover.interval, Duration::from_secs(5));
        assert_eq!(config.failover.target.to_string(), "example.com:443");
        let first = config.proxy.using(&config.servers.servers[0]);
        assert_eq!(first.upstream.to_url(), "socks5h://a:1");
        assert_eq!(first.via, None);
        assert_eq!(first.listen, config.proxy.listen);
        let (migrated, was_old) =
            Settings::from_json_migrating(r#"{"upstream":"socks5h://h:1"}"#).unwrap();
        assert!(was_old);
        assert_eq!(
            migrated.servers,
            vec![ServerSettings::new("h:1", "socks5h://h:1")]
        );
        assert!(!Settings::from_json_migrating("{}").unwrap().1);
        assert_eq!(
            Settings::from_value(serde_json::json!({"upstream": "direct://"}))
                .unwrap()
                .servers[0]
                .name,
            "Direct"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = r#"{"upstream":"socks5h://u:upsecret@h:1","auth":{"username":"u","password":"insecret"}}"#;
        let config = Settings::from_json(s).unwrap().validate().unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("upsecret") && !debug.contains("insecret"),
            "{debug}"
        );
    }
}
