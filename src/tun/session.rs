//! The whole-desktop mode while it runs: [`Tun::start`] marks the proxy's own sockets,
//! opens the device, journals and makes the routing changes, and feeds the device's flows
//! to the running proxy; [`Tun::stop`] stops the stack, ends the sockets that went
//! through it ([`routing::end_sockets`]), undoes the routing, then closes the device:
//! until the routing is undone the device holds the capture's route, so none of those
//! connections' last segments leaves by the real interface. A panic undoes the routing too
//! ([`restore_on_panic`]); `kill -9` leaves the journal for the next start or
//! `socksbridge tun restore`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::control::{CaptureStatus, ControlSocket, Reply, Request};
use super::datagrams::Verdict;
use super::device::{self, Device};
use super::dns::DnsMode;
use super::fake_ip::{default_v4, default_v6, FakeIpPool};
use super::routing::{self, RoutingError};
use super::rules::{Capture, FIRST_PREF};
use super::{flows, journal};
use crate::server::ProxyHandle;
use crate::system_proxy::CommandEnv;

/// How the capture is set up.
#[derive(Debug, Clone)]
pub struct TunOptions {
    pub device: String,
    pub table: u32,
    pub mark: u32,
    pub journal: PathBuf,
    /// Networks kept out of the TUN besides the servers' own addresses: where a local
    /// SOCKS client (`ssh -D`, Tor, a shadowsocks client) connects to, or its traffic
    /// would come back into the TUN.
    pub exclude: Vec<IpNet>,
    pub dns: DnsMode,
}

impl Default for TunOptions {
    fn default() -> TunOptions {
        TunOptions {
            device: "sbtun0".into(),
            table: 1095,
            mark: 0x1095,
            journal: journal::default_path(),
            exclude: Vec::new(),
            dns: DnsMode::FakeIp,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("cannot create the TUN device {device}: {source} (the whole-desktop mode needs CAP_NET_ADMIN: run it as root, or `setcap cap_net_admin+ep` on socksbridge)")]
    Device {
        device: String,
        source: std::io::Error,
    },
    #[error("cannot resolve the server {server} to keep it out of the TUN: {reason}")]
    Server { server: String, reason: String },
    #[error(transparent)]
    Routing(#[from] RoutingError),
}

/// The running capture.
#[derive(Debug)]
pub struct Tun {
    options: TunOptions,
    excluded: Vec<IpNet>,
    stop: CancellationToken,
    stack: JoinHandle<()>,
    proxy: ProxyHandle,
    /// Why UDP is blocked at the moment, if it is.
    verdict: Arc<Verdict>,
    /// The device, held open until the routing is undone (the stack's handle goes first).
    device: Device,
}

impl Tun {
    /// Captures this network namespace's traffic into `proxy`.
    pub async fn start(proxy: &ProxyHandle, options: TunOptions) -> Result<Tun, TunError> {
        let mut excluded: Vec<IpNet> = server_addresses(proxy)
            .await?
            .into_iter()
            .map(IpNet::from)
            .collect();
        excluded.extend(options.exclude.iter().map(IpNet::trunc));
        excluded.sort();
        excluded.dedup();
        let device = device::open(&options.device).map_err(|source| TunError::Device {
            device: options.device.clone(),
            source,
        })?;
        // Only now: marking a socket needs the same privilege the device did.
        crate::dial::mark::set(options.mark);
        let capture = Capture {
            device: options.device.clone(),
            table: options.table,
            mark: options.mark,
            exclude: excluded.clone(),
        };
        let path = options.journal.clone();
        if let Err(e) =
            blocking(move || routing::capture(&capture, &path, &CommandEnv::new())).await
        {
            crate::dial::mark::set(0);
            return Err(e);
        }
        let pool = Arc::new(Mutex::new(FakeIpPool::new(default_v4(), default_v6())));
        // Ends the stack and every flow it handed over; the proxy's hard stop ends them too.
        let stop = proxy.shared().hard_stop.child_token();
        let held = device.clone();
        let verdict = Arc::new(Verdict::default());
        let stack = tokio::spawn(flows::serve(
            device,
            proxy.shared(),
            pool,
            proxy.local_addr(),
            options.dns,
            Arc::clone(&verdict),
            stop.clone(),
        ));
        Ok(Tun {
            options,
            excluded,
            stop,
            stack,
            proxy: proxy.clone(),
            verdict,
            device: held,
        })
    }

    /// What the ready line says.
    pub fn describe(&self) -> String {
        let excluded: Vec<String> = self.excluded.iter().map(IpNet::to_string).collect();
        format!(
            "device {} ({}/15, {}/96), table {} with rules {}–{} (kept out: {}), DNS: {}, UDP: through the server's UDP relay (where it has none: QUIC refused, the rest dropped)",
            self.options.device,
            device::ADDRESS_V4,
            device::ADDRESS_V6,
            self.options.table,
            FIRST_PREF,
            FIRST_PREF + 4,
            if excluded.is_empty() { "none".into() } else { excluded.join(", ") },
            match self.options.dns {
                DnsMode::FakeIp => "fake-IP for every name the SOCKS server resolves".to_string(),
                DnsMode::Real { resolver: Some(resolver) } =>
                    format!("real addresses from {resolver}, asked through the SOCKS server"),
                DnsMode::Real { resolver: None } =>
                    "real addresses from the resolver each query is sent to, asked through the SOCKS server".to_string(),
            },
        )
    }

    /// Answers `socket`'s requests until the capture stops; a stop request cancels
    /// `stop_asked` (the caller then stops the capture as for a signal).
    pub fn serve_control(&self, socket: ControlSocket, stop_asked: CancellationToken) {
        let (proxy, verdict, capture) = (
            self.proxy.clone(),
            Arc::clone(&self.verdict),
            self.describe(),
        );
        let answer = move |request| match request {
            Request::Status => Reply::Status(CaptureStatus {
                pid: std::process::id(),
                listen: proxy.local_addr(),
                capture: capture.clone(),
                udp_blocked: verdict.reason(),
                open: proxy.open_connections(),
            }),
            Request::Connections => match serde_json::to_value(proxy.connections()) {
                Ok(view) => Reply::Connections(view),
                Err(e) => Reply::Refused(e.to_string()),
            },
            Request::Stop => {
                stop_asked.cancel();
                Reply::Stopping
            }
        };
        tokio::spawn(socket.serve(answer, self.stop.clone()));
    }

    /// Stops the stack, undoes the routing, then closes the device.
    pub async fn stop(self) -> Result<(), TunError> {
        self.stop.cancel();
        let _ = self.stack.await;
        let path = self.options.journal.clone();
        let undone = blocking(move || {
            let env = CommandEnv::new();
            routing::end_sockets(
                &[device::ADDRESS_V4.into(), device::ADDRESS_V6.into()],
                &env,
            );
            routing::restore(&path, &env)
        })
        .await;
        drop(self.device);
        undone.map(drop)
    }
}

/// Undoes the capture's routing if the process panics (before the default report).
pub fn restore_on_panic(journal: &Path) {
    let journal = journal.to_path_buf();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = routing::restore(&journal, &CommandEnv::new());
        default(info);
    }));
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RoutingError> + Send + 'static,
) -> Result<T, TunError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| {
            Err(RoutingError::Ip {
                command: "(routing)".into(),
                detail: e.to_string(),
            })
        })
        .map_err(TunError::from)
}

/// The addresses of the server in use and of the proxy in front of it, which the
/// capture's rules keep out of the TUN.
async fn server_addresses(proxy: &ProxyHandle) -> Result<Vec<IpAddr>, TunError> {
    let config = proxy.config();
    let mut out = Vec::new();
    for hop in config.hops() {
        let resolved = crate::dial::resolve(hop, config.timeouts.connect)
            .await
            .map_err(|e| TunError::Server {
                server: hop.to_string(),
                reason: e.to_string(),
            })?;
        out.extend(resolved.iter().map(SocketAddr::ip));
    }
    Ok(out)
}
