//! The router: for each target, the way out — straight from this machine, or through the
//! upstream SOCKS server. Decided once per dial from typed config; no I/O here.

use crate::config::{DirectRules, SocksServer, Upstream};
use crate::target::Target;

/// The routing table of one config: the upstream and the targets that skip it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    upstream: Upstream,
    direct: DirectRules,
}

/// The way to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Resolve and connect from this machine.
    Direct,
    /// Ask this SOCKS server to connect.
    Socks(&'a SocksServer),
}

impl Router {
    pub fn new(upstream: Upstream, direct: DirectRules) -> Router {
        Router { upstream, direct }
    }

    pub fn route(&self, target: &Target) -> Route<'_> {
        if self.direct.matches(target) {
            Route::Direct
        } else {
            Route::from(&self.upstream)
        }
    }
}

impl<'a> From<&'a Upstream> for Route<'a> {
    /// The way out when no direct rule applies.
    fn from(upstream: &'a Upstream) -> Route<'a> {
        match upstream {
            Upstream::Direct => Route::Direct,
            Upstream::Socks(server) => Route::Socks(server),
        }
    }
}

impl Route<'_> {
    /// True when the target's name is resolved and connected on this machine (directly,
    /// or by a SOCKS server that runs here), so a loopback target comes back to us.
    pub fn connects_from_here(&self) -> bool {
        match self {
            Route::Direct => true,
            Route::Socks(server) => server.address.host.is_loopback(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Host;

    fn target(host: &str) -> Target {
        Target::new(Host::parse(host).unwrap(), 443)
    }

    #[test]
    fn routes_table() {
        let rules = DirectRules::parse_list("*.lan,10.0.0.0/8").unwrap();
        let socks = Upstream::parse("socks5h://127.0.0.1:1080").unwrap();
        let remote = Upstream::parse("socks5h://proxy.example:1080").unwrap();
        let cases = [
            (Upstream::Direct, "example.com", Route::Direct),
            (Upstream::Direct, "printer.lan", Route::Direct),
            (socks.clone(), "printer.lan", Route::Direct),
            (socks.clone(), "10.1.2.3", Route::Direct),
            (
                socks.clone(),
                "example.com",
                Route::Socks(socks.socks().unwrap()),
            ),
            (
                remote.clone(),
                "11.0.0.1",
                Route::Socks(remote.socks().unwrap()),
            ),
        ];
        for (upstream, host, expected) in cases {
            let router = Router::new(upstream.clone(), rules.clone());
            assert_eq!(router.route(&target(host)), expected, "{upstream} {host}");
        }
    }

    #[test]
    fn only_local_routes_connect_from_here() {
        let local = Upstream::parse("socks5h://localhost:1080").unwrap();
        let remote = Upstream::parse("socks5h://10.0.0.2:1080").unwrap();
        assert!(Route::Direct.connects_from_here());
        assert!(Route::Socks(local.socks().unwrap()).connects_from_here());
        assert!(!Route::Socks(remote.socks().unwrap()).connects_from_here());
    }
}
