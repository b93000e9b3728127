//! `--tun`: the whole-desktop mode around the running proxy (Linux only in this version).

use socksbridge::controller::Controller;

#[cfg(target_os = "linux")]
use crate::args::TunDns;
use crate::args::{Args, CliError};

#[cfg(target_os = "linux")]
pub use socksbridge::tun::Tun;

/// Starts the capture (undoing a killed run's leftover first) and makes a panic undo it.
#[cfg(target_os = "linux")]
pub async fn start(controller: &Controller, args: &Args) -> Result<Tun, CliError> {
    use socksbridge::tun::dns::DnsMode;
    use socksbridge::tun::{restore_on_panic, TunOptions};
    let fail = |message: String| CliError { message, code: 1 };
    let proxy = controller
        .proxy()
        .ok_or_else(|| fail("the proxy is not running".into()))?;
    let dns = match (args.tun_dns, args.tun_resolver.as_deref()) {
        (TunDns::Fake, None) => DnsMode::FakeIp,
        (TunDns::Fake, Some(_)) => {
            return Err(CliError::usage("--tun-resolver needs --tun-dns real"))
        }
        (TunDns::Real, resolver) => DnsMode::Real {
            resolver: resolver.map(parse_resolver).transpose()?,
        },
    };
    let options = TunOptions {
        exclude: args
            .tun_exclude
            .iter()
            .map(|item| parse_net(item.trim()))
            .collect::<Result<_, _>>()?,
        dns,
        ..TunOptions::default()
    };
    restore_on_panic(&options.journal);
    Tun::start(&proxy, options)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// `203.0.113.5` or `203.0.113.0/24` (IPv6 alike).
#[cfg(target_os = "linux")]
fn parse_net(item: &str) -> Result<ipnet::IpNet, CliError> {
    item.parse::<ipnet::IpNet>()
        .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            CliError::usage(format!(
                "--tun-exclude: {item:?} is not an address or a CIDR (203.0.113.5, 203.0.113.0/24)"
            ))
        })
}

/// `203.0.113.53`, `203.0.113.53:5353`, `[2001:db8::53]:53` or `2001:db8::53`.
#[cfg(target_os = "linux")]
fn parse_resolver(item: &str) -> Result<std::net::SocketAddr, CliError> {
    let item = item.trim();
    item.parse::<std::net::SocketAddr>()
        .or_else(|_| item.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
        .map_err(|_| {
            CliError::usage(format!(
                "--tun-resolver: {item:?} is not an address (203.0.113.53, 203.0.113.53:5353, [2001:db8::53]:53)"
            ))
        })
}

/// Other systems: the flag is refused with the reason.
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub enum Tun {}

#[cfg(not(target_os = "linux"))]
impl Tun {
    pub fn describe(&self) -> String {
        match *self {}
    }

    pub async fn stop(self) -> Result<(), String> {
        match self {}
    }
}

#[cfg(not(target_os = "linux"))]
pub async fn start(_controller: &Controller, _args: &Args) -> Result<Tun, CliError> {
    Err(CliError::usage(
        "--tun: the whole-desktop mode is Linux-only in this version",
    ))
}
