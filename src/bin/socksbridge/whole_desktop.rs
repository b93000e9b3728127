//! `--tun`: the whole-desktop mode around the running proxy (Linux only in this version),
//! with its control socket.

use socksbridge::controller::Controller;

#[cfg(target_os = "linux")]
use crate::args::TunDns;
use crate::args::{Args, CliError};

/// The running capture and the control socket it answers on.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct Capture {
    tun: socksbridge::tun::Tun,
    control: std::path::PathBuf,
    stop_asked: tokio_util::sync::CancellationToken,
}

#[cfg(target_os = "linux")]
impl Capture {
    /// What the ready line says.
    pub fn describe(&self) -> String {
        format!(
            "{}; control socket {}",
            self.tun.describe(),
            self.control.display()
        )
    }

    /// Resolves when a client of the control socket asks the capture to stop.
    pub async fn stop_asked(&self) {
        self.stop_asked.cancelled().await;
    }

    /// Undoes the routing (the control socket goes with it).
    pub async fn stop(self) -> Result<(), String> {
        self.tun.stop().await.map_err(|e| e.to_string())
    }
}

/// Starts the capture (undoing a killed run's leftover first) and makes a panic undo it.
/// The control socket is bound first: a capture already answering there refuses this one
/// before anything is changed.
#[cfg(target_os = "linux")]
pub async fn start(controller: &Controller, args: &Args) -> Result<Capture, CliError> {
    use socksbridge::tun::control::{self, ControlSocket};
    use socksbridge::tun::dns::DnsMode;
    use socksbridge::tun::{restore_on_panic, Tun, TunOptions};
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
    let path = args
        .tun_control
        .clone()
        .unwrap_or_else(socksbridge::tun::journal::control_socket_path);
    let socket =
        ControlSocket::bind(&path, control::owner_uid()).map_err(|e| fail(e.to_string()))?;
    restore_on_panic(&options.journal);
    let tun = Tun::start(&proxy, options)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let stop_asked = tokio_util::sync::CancellationToken::new();
    tun.serve_control(socket, stop_asked.clone());
    Ok(Capture {
        tun,
        control: path,
        stop_asked,
    })
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
pub enum Capture {}

#[cfg(not(target_os = "linux"))]
impl Capture {
    pub fn describe(&self) -> String {
        match *self {}
    }

    pub async fn stop_asked(&self) {
        match *self {}
    }

    pub async fn stop(self) -> Result<(), String> {
        match self {}
    }
}

#[cfg(not(target_os = "linux"))]
pub async fn start(_controller: &Controller, _args: &Args) -> Result<Capture, CliError> {
    Err(CliError::usage(
        "--tun: the whole-desktop mode is Linux-only in this version",
    ))
}
