//! Refusing requests aimed back at the proxy itself, which would otherwise loop until
//! every file descriptor is gone.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::dial::resolve;
use crate::error::ProxyError;
use crate::route::Route;
use crate::target::{Host, Target};

/// How long a name on our own port may take to resolve before we give it the benefit of
/// the doubt (the dial itself then reports any failure).
const RESOLVE_LIMIT: Duration = Duration::from_secs(2);

/// True when `ip:port` reaches the listener a client reached us on (`local`).
pub fn is_own_address(ip: IpAddr, port: u16, local: SocketAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    port == local.port() && (ip.is_loopback() || ip.is_unspecified() || ip == local.ip())
}

/// Errors with [`ProxyError::Loop`] when `target`, reached along `route`, is this proxy.
/// Names are resolved only when they carry our port and would be resolved on this machine.
pub async fn check(target: &Target, local: SocketAddr, route: Route<'_>) -> Result<(), ProxyError> {
    if target.port != local.port() || !route.connects_from_here() {
        return Ok(());
    }
    let looping = match &target.host {
        Host::Ip(ip) => is_own_address(*ip, target.port, local),
        Host::Domain(_) if target.host.is_loopback() => true,
        Host::Domain(_) => match resolve(target, RESOLVE_LIMIT).await {
            Ok(addrs) => addrs
                .iter()
                .any(|a| is_own_address(a.ip(), a.port(), local)),
            Err(_) => false,
        },
    };
    if looping {
        Err(ProxyError::Loop {
            target: target.to_string(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_address_table() {
        let local: SocketAddr = "192.168.1.5:1095".parse().unwrap();
        let cases = [
            ("127.0.0.1", 1095, true),
            ("127.3.2.1", 1095, true),
            ("::1", 1095, true),
            ("0.0.0.0", 1095, true),
            ("192.168.1.5", 1095, true),
            ("::ffff:192.168.1.5", 1095, true),
            ("192.168.1.6", 1095, false),
            ("127.0.0.1", 1096, false),
        ];
        for (ip, port, expected) in cases {
            assert_eq!(
                is_own_address(ip.parse().unwrap(), port, local),
                expected,
                "{ip}:{port}"
            );
        }
    }
}
