//! The SOCKS5 / SOCKS4(a) client side, on tokio-socks' `*_with_socket` functions.

use std::net::SocketAddr;
use std::time::Duration;

use tokio_socks::tcp::{Socks4Stream, Socks5Stream};
use tokio_socks::TargetAddr;

use super::{resolve, Stream};
use crate::config::{SocksServer, SocksVersion};
use crate::error::{socks5_reply_reason, ProxyError};
use crate::target::{Host, Target};

/// The SOCKS handshake on `socket`, already connected to the server, within `limit`.
pub(super) async fn handshake(
    upstream: &SocksServer,
    socket: Stream,
    target: &Target,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    match tokio::time::timeout(limit, negotiate(upstream, socket, target, limit)).await {
        Ok(result) => result,
        Err(_) => Err(ProxyError::timeout(
            format!(
                "waiting for SOCKS server {} to connect to {target}",
                upstream.address
            ),
            limit,
        )),
    }
}

async fn negotiate(
    upstream: &SocksServer,
    socket: Stream,
    target: &Target,
    limit: Duration,
) -> Result<Stream, ProxyError> {
    let map = |e| map_error(e, &upstream.address, target);
    let creds = upstream.credentials.as_ref();
    match upstream.version {
        SocksVersion::Socks5 { remote_dns } => {
            let addr = socks_target(target, remote_dns, false, limit).await?;
            let stream = match creds {
                Some(c) => {
                    Socks5Stream::connect_with_password_and_socket(
                        socket,
                        addr,
                        &c.username,
                        &c.password,
                    )
                    .await
                }
                None => Socks5Stream::connect_with_socket(socket, addr).await,
            };
            Ok(stream.map_err(map)?.into_inner())
        }
        SocksVersion::Socks4a | SocksVersion::Socks4 => {
            let remote_dns = upstream.version == SocksVersion::Socks4a;
            let addr = socks_target(target, remote_dns, true, limit).await?;
            let stream = match creds {
                Some(c) => {
                    Socks4Stream::connect_with_userid_and_socket(socket, addr, &c.username).await
                }
                None => Socks4Stream::connect_with_socket(socket, addr).await,
            };
            Ok(stream.map_err(map)?.into_inner())
        }
    }
}

/// The address to put in the SOCKS request: the name itself with remote DNS, otherwise
/// an address we resolved (IPv4 only for SOCKS4).
async fn socks_target(
    target: &Target,
    remote_dns: bool,
    ipv4_only: bool,
    limit: Duration,
) -> Result<TargetAddr<'static>, ProxyError> {
    match &target.host {
        Host::Ip(ip) if ipv4_only && ip.is_ipv6() => Err(ProxyError::BadRequest(format!(
            "SOCKS4 cannot carry the IPv6 target {target}"
        ))),
        Host::Ip(ip) => Ok(TargetAddr::Ip(SocketAddr::new(*ip, target.port))),
        Host::Domain(name) if remote_dns => {
            Ok(TargetAddr::Domain(name.clone().into(), target.port))
        }
        Host::Domain(name) => resolve(target, limit)
            .await?
            .into_iter()
            .find(|a| !ipv4_only || a.is_ipv4())
            .map(TargetAddr::Ip)
            .ok_or_else(|| ProxyError::Resolve {
                host: name.clone(),
                detail: "no IPv4 address".into(),
            }),
    }
}

fn map_error(error: tokio_socks::Error, address: &Target, target: &Target) -> ProxyError {
    use tokio_socks::Error as E;
    let server = format!("SOCKS server {address}");
    let refused = |code: u8| ProxyError::TargetRefused {
        server: server.clone(),
        target: target.to_string(),
        reason: socks5_reply_reason(code).to_string(),
        code,
    };
    match error {
        E::GeneralSocksServerFailure => refused(0x01),
        E::ConnectionNotAllowedByRuleset => refused(0x02),
        E::NetworkUnreachable => refused(0x03),
        E::HostUnreachable => refused(0x04),
        E::ConnectionRefused => refused(0x05),
        E::TtlExpired => refused(0x06),
        E::CommandNotSupported => refused(0x07),
        E::AddressTypeNotSupported => refused(0x08),
        E::UnknownError => refused(0xff),
        E::PasswordAuthFailure(_) | E::NoAcceptableAuthMethods | E::AuthorizationRequired => {
            ProxyError::UpstreamAuthRejected { server }
        }
        E::IdentdAuthFailure | E::InvalidUserIdAuthFailure => {
            ProxyError::UpstreamAuthRejected { server }
        }
        E::InvalidTargetAddress(what) => ProxyError::BadRequest(format!("target {target}: {what}")),
        E::InvalidAuthValues(what) => ProxyError::UpstreamProtocol {
            server,
            detail: what.to_string(),
        },
        E::Io(source) => ProxyError::UpstreamUnreachable {
            server,
            source: source.into(),
        },
        other => ProxyError::UpstreamProtocol {
            server,
            detail: other.to_string(),
        },
    }
}
