//! The upstream servers: an ordered, named list, one of them the user's choice. The order
//! is the failover order. Each server is a URL (the same one `--upstream` takes, the
//! window edits it as separate fields) and, optionally, the HTTP proxy it is reached
//! through. Settings files from before the list (one `upstream` and `upstream_via`) are
//! migrated when read.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::upstream::{HttpProxy, Upstream};
use crate::message::Message;
use crate::target::Target;

/// Longest server name, in characters: it is a tray menu line.
pub const MAX_NAME: usize = 64;

/// One server as the settings file and the window hold it. Its `Debug` shows the URLs
/// without their passwords.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Shown in the tray and the window; unique in the list (ignoring case).
    pub name: String,
    /// `socks5h://user:pass@host:port`, `socks4a://…`, `http://…` or `direct://`.
    pub url: String,
    /// An HTTP proxy this server is reached through (`http://office.example:3128`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::secret::url_without_password;
        f.debug_struct("ServerSettings")
            .field("name", &self.name)
            .field("url", &url_without_password(&self.url))
            .field("via", &self.via.as_deref().map(url_without_password))
            .finish()
    }
}

impl ServerSettings {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> ServerSettings {
        ServerSettings {
            name: name.into(),
            url: url.into(),
            via: None,
        }
    }

    /// A server named after its address (`Direct` for `direct://`); `url` as given.
    pub fn named_after(url: &str) -> ServerSettings {
        let name = match Upstream::parse(url) {
            Ok(upstream) => default_name(&upstream),
            Err(_) => url.trim().chars().take(MAX_NAME).collect(),
        };
        ServerSettings::new(name, url.trim())
    }
}

/// The name a server gets when none is given: its address (cut to [`MAX_NAME`]
/// characters), or `Direct`.
pub fn default_name(upstream: &Upstream) -> String {
    let name = match upstream {
        Upstream::Direct => return "Direct".to_string(),
        Upstream::Socks(s) => s.address.to_string(),
        Upstream::Http(h) => h.address.to_string(),
    };
    name.chars().take(MAX_NAME).collect()
}

/// A validated server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub upstream: Upstream,
    pub via: Option<HttpProxy>,
}

/// When and how the active server is checked, and replaced when it dies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverSettings {
    /// Move to the next working server in list order when the active one fails.
    pub enabled: bool,
    /// Go back to the chosen server once it works again.
    pub switch_back: bool,
    /// Seconds between checks of the server in use, while the proxy is on.
    pub interval_secs: u64,
    /// Consecutive failed checks before another server takes over.
    pub failures: u32,
    /// Seconds after a switch during which no other switch happens.
    pub hold_down_secs: u64,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        FailoverSettings {
            enabled: true,
            switch_back: true,
            interval_secs: 30,
            failures: 3,
            hold_down_secs: 60,
        }
    }
}

/// Validated [`FailoverSettings`], with the target every check dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverConfig {
    pub enabled: bool,
    pub switch_back: bool,
    pub interval: Duration,
    pub failures: u32,
    pub hold_down: Duration,
    /// `host:port` each check connects to through the server (`app.probe_target`).
    pub target: Target,
}

/// The servers and the chosen one, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerList {
    pub servers: Vec<Server>,
    /// Index of the user's choice.
    pub active: usize,
}

impl ServerList {
    pub fn active(&self) -> &Server {
        &self.servers[self.active]
    }
}

/// Validates the list and the choice, reporting each bad entry by its field path.
pub(super) fn validate_list(
    servers: &[ServerSettings],
    active: &str,
    bad: &mut impl FnMut(&str, Message),
) -> Option<ServerList> {
    if servers.is_empty() {
        bad("servers", Message::new("core.servers_empty", []));
        return None;
    }
    let mut valid = Vec::with_capacity(servers.len());
    let mut all_good = true;
    let mut bad = |field: &str, message: Message| {
        all_good = false;
        bad(field, message);
    };
    for (i, server) in servers.iter().enumerate() {
        let name = server.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            bad(
                &format!("servers[{i}].name"),
                Message::new("core.server_name_length", [("max", MAX_NAME.to_string())]),
            );
        } else if servers[..i]
            .iter()
            .any(|other| other.name.trim().eq_ignore_ascii_case(name))
        {
            bad(
                &format!("servers[{i}].name"),
                Message::new("core.server_name_taken", [("name", name.to_string())]),
            );
        }
        let upstream = Upstream::parse(&server.url)
            .map_err(|e| bad(&format!("servers[{i}].url"), e.message()))
            .ok();
        let via = match (&server.via, &upstream) {
            (None, _) => None,
            (Some(raw), _) if raw.trim().is_empty() => None,
            (Some(_), Some(Upstream::Direct)) => {
                bad(
                    &format!("servers[{i}].via"),
                    Message::new("core.via_direct", []),
                );
                None
            }
            (Some(raw), _) => Upstream::parse_via(raw)
                .map_err(|e| bad(&format!("servers[{i}].via"), e.message()))
                .ok(),
        };
        if let Some(upstream) = upstream {
            valid.push(Server {
                name: name.to_string(),
                upstream,
                via,
            });
        }
    }
    let active = active.trim();
    let index = if active.is_empty() {
        Some(0)
    } else {
        servers.iter().position(|s| s.name.trim() == active)
    };
    let Some(index) = index else {
        bad(
            "active",
            Message::new("core.active_unknown", [("name", active.to_string())]),
        );
        return None;
    };
    all_good.then_some(ServerList {
        servers: valid,
        active: index,
    })
}

/// Rewrites a settings object from before the server list: `upstream` and `upstream_via`
/// become one server. Returns whether anything changed.
pub(super) fn migrate_legacy(value: &mut Value) -> Result<bool, String> {
    let Some(object) = value.as_object_mut() else {
        return Ok(false);
    };
    if !object.contains_key("upstream") && !object.contains_key("upstream_via") {
        return Ok(false);
    }
    if object.contains_key("servers") {
        return Err("give either `servers` or the older `upstream`, not both".into());
    }
    let text = |key: &str, v: Option<Value>| match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    };
    let url = text("upstream", object.remove("upstream"))?
        .unwrap_or_else(|| super::DEFAULT_UPSTREAM.to_string());
    let via = text("upstream_via", object.remove("upstream_via"))?;
    let server = ServerSettings {
        via,
        ..ServerSettings::named_after(&url)
    };
    let server = serde_json::to_value(server).map_err(|e| e.to_string())?;
    object.insert("servers".into(), Value::Array(vec![server]));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(servers: &[(&str, &str)], active: &str) -> Result<ServerList, Vec<String>> {
        let servers: Vec<ServerSettings> = servers
            .iter()
            .map(|(n, u)| ServerSettings::new(*n, *u))
            .collect();
        let mut errors = Vec::new();
        let valid = validate_list(&servers, active, &mut |f, m: Message| {
            errors.push(format!("{f}: {m}"))
        });
        match valid {
            Some(valid) if errors.is_empty() => Ok(valid),
            _ => Err(errors),
        }
    }

    #[test]
    fn valid_lists_and_the_chosen_server() {
        let two = [
            ("Home", "socks5h://10.0.0.2:1080"),
            ("Office", "http://o:3128"),
        ];
        assert_eq!(list(&two, "").unwrap().active, 0);
        assert_eq!(list(&two, "Office").unwrap().active, 1);
        assert_eq!(list(&two, " Office ").unwrap().active().name, "Office");
        assert_eq!(
            list(&[(" Spaced ", "direct://")], "").unwrap().servers[0].name,
            "Spaced"
        );
    }

    #[test]
    fn invalid_lists_name_the_entry() {
        let long = "x".repeat(MAX_NAME + 1);
        type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            (vec![], "", vec!["servers"]),
            (vec![("", "direct://")], "", vec!["servers[0].name"]),
            (vec![(&long, "direct://")], "", vec!["servers[0].name"]),
            (
                vec![("A", "direct://"), ("a", "socks5h://h:1")],
                "",
                vec!["servers[1].name"],
            ),
            (
                vec![("A", "direct://"), ("B", "socks9://h")],
                "",
                vec!["servers[1].url"],
            ),
            (vec![("A", "direct://")], "B", vec!["active"]),
        ];
        for (servers, active, fields) in cases {
            let errors = list(&servers, active).unwrap_err();
            let got: Vec<&str> = errors
                .iter()
                .map(|e| e.split(':').next().unwrap())
                .collect();
            assert_eq!(got, fields, "{servers:?}: {errors:?}");
        }
        let mut errors = Vec::new();
        let via = [
            ServerSettings {
                via: Some("http://o:1".into()),
                ..ServerSettings::new("D", "direct://")
            },
            ServerSettings {
                via: Some("socks5h://o:1".into()),
                ..ServerSettings::new("S", "socks5h://h:1")
            },
            ServerSettings {
                via: Some("  ".into()),
                ..ServerSettings::new("E", "socks5h://h:1")
            },
        ];
        assert!(validate_list(&via, "", &mut |f, _: Message| errors.push(f.to_string())).is_none());
        assert_eq!(errors, ["servers[0].via", "servers[1].via"]);
    }

    #[test]
    fn default_names_fit_the_limit() {
        let long = format!(
            "socks5h://{}.{}.example:1080",
            "a".repeat(40),
            "b".repeat(40)
        );
        let server = ServerSettings::named_after(&long);
        assert_eq!(server.name.chars().count(), MAX_NAME);
        let mut errors = Vec::new();
        assert!(validate_list(&[server], "", &mut |f, _: Message| errors
            .push(f.to_string()))
        .is_some());
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn old_single_upstream_files_become_a_list_of_one() {
        let cases = [
            (
                json!({"upstream": "socks5h://u:p@10.0.0.2:1080", "listen": "127.0.0.1:1"}),
                json!({"listen": "127.0.0.1:1", "servers": [
                    {"name": "10.0.0.2:1080", "url": "socks5h://u:p@10.0.0.2:1080"}]}),
            ),
            (
                json!({"upstream": "socks5h://h:1", "upstream_via": "http://o:3128"}),
                json!({"servers": [{"name": "h:1", "url": "socks5h://h:1", "via": "http://o:3128"}]}),
            ),
            (
                json!({"upstream_via": null}),
                json!({"servers": [{"name": "127.0.0.1:1080", "url": "socks5h://127.0.0.1:1080"}]}),
            ),
            (
                json!({"upstream": "direct://"}),
                json!({"servers": [{"name": "Direct", "url": "direct://"}]}),
            ),
        ];
        for (mut old, new) in cases {
            assert_eq!(migrate_legacy(&mut old), Ok(true));
            assert_eq!(old, new);
        }
        let mut current = json!({"servers": [], "listen": "x"});
        assert_eq!(migrate_legacy(&mut current), Ok(false));
        assert_eq!(migrate_legacy(&mut json!([1])), Ok(false));
        assert!(migrate_legacy(&mut json!({"upstream": "direct://", "servers": []})).is_err());
        assert!(migrate_legacy(&mut json!({"upstream": 5})).is_err());
    }
}
