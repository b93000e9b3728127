//! The router: for each target, the way out — straight from this machine, or through the
//! upstream SOCKS server or HTTP proxy, itself perhaps reached through an HTTP proxy in
//! front of it. Decided once per dial from typed config; no I/O here.

use crate::config::{DirectRules, HttpProxy, SocksServer, Upstream};
use crate::target::Target;

/// The routing table of one config: the upstream and the targets that skip it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    upstream: Upstream,
    via: Option<HttpProxy>,
    direct: DirectRules,
}

/// The way to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// Resolve and connect from this machine.
    Direct,
    /// Ask this SOCKS server to connect; reach it through `via` when set.
    Socks {
        server: &'a SocksServer,
        via: Option<&'a HttpProxy>,
    },
    /// Ask this HTTP proxy for a CONNECT tunnel; reach it through `via` when set.
    Http {
        proxy: &'a HttpProxy,
        via: Option<&'a HttpProxy>,
    },
}

impl Router {
    pub fn new(upstream: Upstream, via: Option<HttpProxy>, direct: DirectRules) -> Router {
        Router {
            upstream,
            via,
            direct,
        }
    }

    pub fn route(&self, target: &Target) -> Route<'_> {
        if self.direct.matches(target) {
            Route::Direct
        } else {
            Route::through(&self.upstream, self.via.as_ref())
        }
    }
}

impl<'a> Route<'a> {
    /// The way out through `upstream` (reached through `via`) when no direct rule applies.
    pub fn through(upstream: &'a Upstream, via: Option<&'a HttpProxy>) -> Route<'a> {
        match upstream {
            Upstream::Direct => Route::Direct,
            Upstream::Socks(server) => Route::Socks { server, via },
            Upstream::Http(proxy) => Route::Http { proxy, via },
        }
    }
}

impl Route<'_> {
    /// True when the target's name is resolved and connected on this machine (directly,
    /// or by a SOCKS server that runs here), so a loopback target comes back to us.
    pub fn connects_from_here(&self) -> bool {
        match self {
            Route::Direct => true,
            Route::Socks { server, .. } => server.address.host.is_loopback(),
            Route::Http { proxy, .. } => proxy.address.host.is_loopback(),
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
        let http = Upstream::parse("http://office.example:3128").unwrap();
        let Upstream::Http(office) = &http else {
            unreachable!()
        };
        let via = Some(office);
        let cases = [
            (&Upstream::Direct, None, "example.com", Route::Direct),
            (&Upstream::Direct, None, "printer.lan", Route::Direct),
            (&socks, None, "printer.lan", Route::Direct),
            (&socks, via, "10.1.2.3", Route::Direct),
            (
                &socks,
                None,
                "example.com",
                Route::Socks {
                    server: socks.socks().unwrap(),
                    via: None,
                },
            ),
            (
                &remote,
                via,
                "11.0.0.1",
                Route::Socks {
                    server: remote.socks().unwrap(),
                    via,
                },
            ),
            (
                &http,
                None,
                "example.com",
                Route::Http {
                    proxy: office,
                    via: None,
                },
            ),
        ];
        for (upstream, via, host, expected) in cases {
            let router = Router::new(upstream.clone(), via.cloned(), rules.clone());
            assert_eq!(router.route(&target(host)), expected, "{upstream} {host}");
        }
    }

    #[test]
    fn only_local_routes_connect_from_here() {
        let local = Upstream::parse("socks5h://localhost:1080").unwrap();
        let remote = Upstream::parse("socks5h://10.0.0.2:1080").unwrap();
        let local_http = Upstream::parse("http://127.0.0.1:3128").unwrap();
        let remote_http = Upstream::parse("http://10.0.0.2:3128").unwrap();
        assert!(Route::Direct.connects_from_here());
        assert!(Route::through(&local, None).connects_from_here());
        assert!(!Route::through(&remote, None).connects_from_here());
        assert!(Route::through(&local_http, None).connects_from_here());
        assert!(!Route::through(&remote_http, None).connects_from_here());
    }
}
