//! The `--direct` list: hosts, `*.suffix` patterns and CIDRs whose targets skip the
//! upstream. Pure matching, no DNS: a name is matched as a name, an IP literal as an address.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::target::{Host, Target};

/// One `--direct` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Every target.
    All,
    /// Exactly this name.
    Exact(String),
    /// This name and every name below it (`*.example.com` or `.example.com`).
    Suffix(String),
    /// An address range; a single IP is a /32 or /128.
    Net(IpNet),
}

/// The parsed `--direct` list. Empty means everything goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectRules {
    rules: Vec<Rule>,
}

/// An entry that is neither a host, a `*.suffix` pattern nor a CIDR. Its `Display` is
/// the English of its [`Message`](crate::message::Message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub entry: String,
    pub reason: RuleProblem,
}

/// What is wrong with a `--direct` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleProblem {
    Cidr,
    Suffix,
    Host,
}

impl RuleError {
    /// The sentence for people, in any language.
    pub fn message(&self) -> crate::message::Message {
        let key = match self.reason {
            RuleProblem::Cidr => "core.rule_cidr",
            RuleProblem::Suffix => "core.rule_suffix",
            RuleProblem::Host => "core.rule_host",
        };
        crate::message::Message::new(key, [("entry", self.entry.clone())])
    }
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.message().fmt(f)
    }
}

impl std::error::Error for RuleError {}

impl DirectRules {
    /// Parses entries; blank entries are ignored so `a,,b` and trailing commas work.
    pub fn parse<I, S>(entries: I) -> Result<DirectRules, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut rules = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if !entry.is_empty() {
                rules.push(parse_rule(entry)?);
            }
        }
        Ok(DirectRules { rules })
    }

    /// Parses a comma-separated list, as given to `--direct`.
    pub fn parse_list(list: &str) -> Result<DirectRules, RuleError> {
        DirectRules::parse(list.split(','))
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when `target` should be dialled directly.
    pub fn matches(&self, target: &Target) -> bool {
        self.matches_host(&target.host)
    }

    pub fn matches_host(&self, host: &Host) -> bool {
        self.rules.iter().any(|rule| match (rule, host) {
            (Rule::All, _) => true,
            (Rule::Exact(name), Host::Domain(d)) => d == name,
            (Rule::Suffix(suffix), Host::Domain(d)) => {
                d == suffix
                    || (d.len() > suffix.len()
                        && d.ends_with(suffix.as_str())
                        && d.as_bytes()[d.len() - suffix.len() - 1] == b'.')
            }
            (Rule::Net(net), Host::Ip(ip)) => net.contains(&canonical(*ip)),
            _ => false,
        })
    }
}

/// IPv4-mapped IPv6 addresses match IPv4 rules.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn parse_rule(entry: &str) -> Result<Rule, RuleError> {
    let err = |reason| RuleError {
        entry: entry.to_string(),
        reason,
    };
    if entry == "*" {
        return Ok(Rule::All);
    }
    if entry.contains('/') {
        let net: IpNet = entry.parse().map_err(|_| err(RuleProblem::Cidr))?;
        return Ok(Rule::Net(net.trunc()));
    }
    if let Some(suffix) = entry.strip_prefix("*.").or_else(|| entry.strip_prefix('.')) {
        return match Host::parse(suffix) {
            Ok(Host::Domain(name)) => Ok(Rule::Suffix(name)),
            _ => Err(err(RuleProblem::Suffix)),
        };
    }
    match Host::parse(entry) {
        Ok(Host::Ip(ip)) => Ok(Rule::Net(IpNet::from(canonical(ip)))),
        Ok(Host::Domain(name)) => Ok(Rule::Exact(name)),
        Err(_) => Err(err(RuleProblem::Host)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_bad_entry_says_what_is_wrong_with_it() {
        let cases = [
            (
                "10.0.0.0/99",
                RuleProblem::Cidr,
                "'10.0.0.0/99' is not a host, *.suffix pattern or CIDR: invalid CIDR",
            ),
            (
                "*.bad host",
                RuleProblem::Suffix,
                "'*.bad host' is not a host, *.suffix pattern or CIDR: invalid domain suffix",
            ),
            (
                "bad host",
                RuleProblem::Host,
                "'bad host' is not a host, *.suffix pattern or CIDR: invalid host",
            ),
        ];
        for (entry, problem, said) in cases {
            let e = DirectRules::parse([entry]).unwrap_err();
            assert_eq!(e.reason, problem, "{entry}");
            assert_eq!(e.to_string(), said, "{entry}");
        }
    }

    use super::*;

    fn target(host: &str) -> Target {
        Target::new(Host::parse(host).unwrap(), 443)
    }

    #[test]
    fn matches_table() {
        let rules = DirectRules::parse_list(
            "localhost, intranet.corp ,*.lan,.example.org,10.0.0.0/8, 192.168.1.7, ::1, fd00::/8,",
        )
        .unwrap();
        let cases = [
            ("localhost", true),
            ("LOCALHOST", true),
            ("intranet.corp", true),
            ("www.intranet.corp", false),
            ("printer.lan", true),
            ("a.b.lan", true),
            ("lan", true),
            ("plan", false),
            ("evillan", false),
            ("example.org", true),
            ("www.example.org", true),
            ("notexample.org", false),
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("[::1]", true),
            ("[fd12::1]", true),
            ("[::ffff:10.9.9.9]", true),
            ("[2001:db8::1]", false),
            ("example.com", false),
        ];
        for (host, expected) in cases {
            assert_eq!(rules.matches(&target(host)), expected, "{host}");
        }
    }

    #[test]
    fn empty_matches_nothing_and_star_matches_all() {
        let empty = DirectRules::parse_list("").unwrap();
        assert!(empty.is_empty());
        assert!(!empty.matches(&target("localhost")));
        let all = DirectRules::parse_list("*").unwrap();
        assert!(all.matches(&target("example.com")) && all.matches(&target("1.2.3.4")));
    }

    #[test]
    fn rejects_bad_entries() {
        for bad in [
            "10.0.0.0/33",
            "foo/8",
            "*.",
            "*.bad host",
            "exa mple",
            "[::1",
            "*foo.com",
        ] {
            let err = DirectRules::parse_list(bad).unwrap_err();
            assert_eq!(err.entry, bad, "{bad}");
        }
    }
}
