//! How the whole-desktop mode captures a Linux machine's traffic, as data: the routes and
//! policy rules to add (in the order they are safe to add), each with the exact `ip`
//! arguments that add it and that delete it again. The journal records this list before
//! anything is changed, so a stop, a crash or a power loss is undone with the same
//! deletions.
//!
//! The main routing table is never touched. A table of our own holds one default route
//! into the TUN device, and rules above `main` decide who uses it:
//!
//! ```text
//! pref 9000  fwmark MARK            lookup main   our own upstream sockets: never captured
//! pref 9001  to SERVER              lookup main   the SOCKS server's address (and `via`)
//! pref 9002  ipproto udp dport 53   lookup TABLE  every DNS query, even to a LAN resolver
//! pref 9002  ipproto tcp dport 53   lookup TABLE
//! pref 9003  lookup main suppress_prefixlength 0  the LAN and other specific routes stay
//! pref 9004                         lookup TABLE  everything else: into the TUN
//! ```
//!
//! (The same for IPv6.) Loopback and this machine's own addresses are decided by the
//! `local` table at pref 0, before any of these.

use std::net::IpAddr;

use ipnet::IpNet;

use serde::{Deserialize, Serialize};

/// The first rule preference this mode uses; it takes five from here.
pub const FIRST_PREF: u32 = 9000;

/// What the capture is built around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The TUN device's name.
    pub device: String,
    /// The routing table that sends everything into the device.
    pub table: u32,
    /// The firewall mark on the engine's own sockets.
    pub mark: u32,
    /// Networks that must never enter the TUN: the SOCKS server, the `via` proxy, and
    /// what a local SOCKS client (`ssh -D`, Tor) itself connects to.
    pub exclude: Vec<IpNet>,
}

/// IPv4 or IPv6: which `ip` family flag a change takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// A route or a policy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Object {
    Route,
    Rule,
}

impl Object {
    fn word(self) -> &'static str {
        match self {
            Object::Route => "route",
            Object::Rule => "rule",
        }
    }
}

/// One change to the routing set-up: `ip FAMILY OBJECT add SPEC…`, undone by
/// `ip FAMILY OBJECT del SPEC…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub family: Family,
    pub object: Object,
    pub spec: Vec<String>,
}

impl Change {
    fn new(family: Family, object: Object, spec: &[&str]) -> Change {
        Change {
            family,
            object,
            spec: spec.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The arguments to `ip` that make this change.
    pub fn add_args(&self) -> Vec<String> {
        self.args("add")
    }

    /// The arguments to `ip` that undo it.
    pub fn del_args(&self) -> Vec<String> {
        self.args("del")
    }

    fn args(&self, verb: &str) -> Vec<String> {
        let mut args = vec![
            self.family.flag().to_string(),
            self.object.word().to_string(),
            verb.to_string(),
        ];
        args.extend(self.spec.iter().cloned());
        args
    }
}

/// Every change that captures the traffic, in the order to make them: the route and the
/// escapes first, the catch-all last, so at no moment is the engine's own traffic, or the
/// server's, sent into the TUN. Undo in reverse order.
pub fn changes(capture: &Capture) -> Vec<Change> {
    let table = capture.table.to_string();
    let mark = format!("{:#x}", capture.mark);
    let pref = |offset: u32| (FIRST_PREF + offset).to_string();
    let mut out = Vec::new();
    for family in [Family::V4, Family::V6] {
        out.push(Change::new(
            family,
            Object::Route,
            &["default", "dev", &capture.device, "table", &table],
        ));
    }
    for family in [Family::V4, Family::V6] {
        let rule = |offset: u32, spec: &[&str]| {
            let mut all = vec!["pref", &pref(offset)]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>();
            all.extend(spec.iter().map(|s| s.to_string()));
            Change {
                family,
                object: Object::Rule,
                spec: all,
            }
        };
        out.push(rule(0, &["fwmark", &mark, "lookup", "main"]));
        for net in capture
            .exclude
            .iter()
            .filter(|net| Family::of(net.addr()) == family)
        {
            out.push(rule(1, &["to", &net.trunc().to_string(), "lookup", "main"]));
        }
        for protocol in ["udp", "tcp"] {
            out.push(rule(
                2,
                &["ipproto", protocol, "dport", "53", "lookup", &table],
            ));
        }
        out.push(rule(3, &["lookup", "main", "suppress_prefixlength", "0"]));
        out.push(rule(4, &["lookup", &table]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> Capture {
        Capture {
            device: "sbtun0".into(),
            table: 1095,
            mark: 0x1095,
            exclude: vec![
                "203.0.113.1/32".parse().unwrap(),
                "2001:db8::1/128".parse().unwrap(),
                "198.51.100.9/24".parse().unwrap(),
            ],
        }
    }

    fn joined(changes: &[Change], add: bool) -> Vec<String> {
        changes
            .iter()
            .map(|c| if add { c.add_args() } else { c.del_args() }.join(" "))
            .collect()
    }

    #[test]
    fn the_whole_plan_in_order() {
        let plan = changes(&capture());
        assert_eq!(
            joined(&plan, true),
            [
                "-4 route add default dev sbtun0 table 1095",
                "-6 route add default dev sbtun0 table 1095",
                "-4 rule add pref 9000 fwmark 0x1095 lookup main",
                "-4 rule add pref 9001 to 203.0.113.1/32 lookup main",
                "-4 rule add pref 9001 to 198.51.100.0/24 lookup main",
                "-4 rule add pref 9002 ipproto udp dport 53 lookup 1095",
                "-4 rule add pref 9002 ipproto tcp dport 53 lookup 1095",
                "-4 rule add pref 9003 lookup main suppress_prefixlength 0",
                "-4 rule add pref 9004 lookup 1095",
                "-6 rule add pref 9000 fwmark 0x1095 lookup main",
                "-6 rule add pref 9001 to 2001:db8::1/128 lookup main",
                "-6 rule add pref 9002 ipproto udp dport 53 lookup 1095",
                "-6 rule add pref 9002 ipproto tcp dport 53 lookup 1095",
                "-6 rule add pref 9003 lookup main suppress_prefixlength 0",
                "-6 rule add pref 9004 lookup 1095",
            ]
        );
    }

    #[test]
    fn each_change_is_undone_by_the_same_spec() {
        for change in changes(&capture()) {
            let add = change.add_args();
            let del = change.del_args();
            assert_eq!(add[2], "add");
            assert_eq!(del[2], "del");
            assert_eq!(add[..2], del[..2]);
            assert_eq!(add[3..], del[3..]);
        }
    }

    #[test]
    fn the_catch_all_comes_after_every_escape_in_each_family() {
        let plan = changes(&capture());
        for family in [Family::V4, Family::V6] {
            let rules: Vec<&Change> = plan
                .iter()
                .filter(|c| c.family == family && c.object == Object::Rule)
                .collect();
            let last = rules.last().unwrap();
            assert_eq!(last.spec, ["pref", "9004", "lookup", "1095"]);
            assert_eq!(rules[0].spec[2], "fwmark", "the engine's escape is first");
        }
    }

    #[test]
    fn a_plan_survives_the_journal() {
        let plan = changes(&capture());
        let text = serde_json::to_string(&plan).unwrap();
        assert!(text.contains(r#""family":"v4","object":"route""#), "{text}");
        let back: Vec<Change> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, plan);
    }
}
