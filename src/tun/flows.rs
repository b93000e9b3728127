//! What the TUN's userspace stack ([`stack`](super::stack)) hands over, flow by flow. A TCP flow becomes a
//! [`Target`] — its fake address turned back into the name — and goes through the same
//! engine as the mixed port's tunnels: the direct list, the server in use, failover, the
//! Connections view; when the server cannot be reached the flow fails (never direct).
//! UDP to port 53 is answered by [`dns`](super::dns) (with real addresses: sent through
//! the SOCKS server as DNS over TCP, which every server carries); other UDP goes to
//! [`datagrams`](super::datagrams).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::datagrams::{self, Verdict};
use super::device::{Device, MTU};
use super::dns::{self, Answer, DnsMode};
use super::fake_ip::FakeIpPool;
use super::stack::{self, AppStream, UdpFlow};
use crate::connections::Kind;
use crate::engine::{Engine, Shared};
use crate::target::{Host, Target};

/// How long a query forwarded to a real DNS server may take.
const FORWARD_LIMIT: Duration = Duration::from_secs(5);
/// A UDP flow (a DNS client's socket) with no datagram for this long is closed.
const UDP_IDLE: Duration = Duration::from_secs(30);

/// Serves the device until `stop`, which also ends every flow the stack handed over.
pub(crate) async fn serve(
    device: Device,
    shared: Arc<Shared>,
    pool: Arc<Mutex<FakeIpPool>>,
    local: SocketAddr,
    mode: DnsMode,
    verdict: Arc<Verdict>,
    stop: CancellationToken,
) {
    let on_tcp = |tcp: AppStream| {
        let flow = tcp_flow(
            tcp,
            Arc::clone(&shared),
            Arc::clone(&pool),
            local,
            stop.clone(),
        );
        shared.tasks.spawn(flow);
    };
    let on_udp = |udp: UdpFlow| {
        let (shared, pool, stop) = (Arc::clone(&shared), Arc::clone(&pool), stop.clone());
        if udp.destination().port() == 53 {
            shared.tasks.spawn(until(
                stop,
                dns_flow(udp, Arc::clone(&shared), pool, local, mode),
            ));
        } else {
            let flow = datagrams::flow(
                udp,
                Arc::clone(&shared),
                pool,
                device.clone(),
                Arc::clone(&verdict),
                stop,
            );
            shared.tasks.spawn(flow);
        }
    };
    tokio::select! {
        () = stack::run(device.clone(), UDP_IDLE, on_tcp, on_udp) => {}
        () = stop.cancelled() => {}
    }
}

async fn until(stop: CancellationToken, work: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = work => {}
        () = stop.cancelled() => {}
    }
}

/// Where a flow to `dst` goes: the name behind a fake address, else the address itself.
/// `None` for a fake address whose name is forgotten (it must not be dialled as an IP).
pub(super) fn target_of(dst: SocketAddr, pool: &Mutex<FakeIpPool>) -> Option<Target> {
    let pool = crate::sync::lock(pool);
    if !pool.covers(dst.ip()) {
        return Some(Target::new(Host::Ip(dst.ip()), dst.port()));
    }
    let name = pool.name_of(dst.ip())?;
    Some(Target::new(Host::Domain(name.to_string()), dst.port()))
}

async fn tcp_flow(
    tcp: AppStream,
    shared: Arc<Shared>,
    pool: Arc<Mutex<FakeIpPool>>,
    local: SocketAddr,
    stop: CancellationToken,
) {
    let (app, dst) = (tcp.app(), tcp.destination());
    let Some(target) = target_of(dst, &pool) else {
        tracing::info!(
            "TUN {app} → {dst}: a fake address no name holds (looked up before a restart?)"
        );
        return;
    };
    let _active = shared.stats.connection();
    let engine = shared.engine();
    let (stream, via) = match engine.open(&target, local).await {
        Ok(opened) => opened,
        Err(error) => {
            shared.report(app, format_args!("TUN {target}"), &error);
            // The stack answers the SYN while we dial: a stream closed before that
            // handshake ends leaves the app waiting in SYN-SENT. Its first bytes (or a
            // second) say the handshake is done; then the FIN tells it at once.
            let mut tcp = tcp;
            let mut first = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut first)).await;
            return;
        }
    };
    let client = crate::socket_owner::ClientSocket::tcp(app, dst);
    let tracked = shared.connections.open(Kind::Tun, client, &target, via);
    let idle = engine.config.timeouts.idle;
    let counted = &tracked.live.bytes;
    let (end, up, down) =
        crate::pump::pump_stream(tcp, stream, idle, &shared.stats, &stop, counted).await;
    tracing::debug!("TUN flow to {target} ended ({end:?}): {up} bytes up, {down} down");
}

/// One app's DNS socket: each query answered with fake addresses, or forwarded to the
/// server it was sent to (from a marked socket, so it leaves by the real interface), or
/// with real addresses sent through the SOCKS server.
async fn dns_flow(
    mut udp: UdpFlow,
    shared: Arc<Shared>,
    pool: Arc<Mutex<FakeIpPool>>,
    local: SocketAddr,
    mode: DnsMode,
) {
    let server = udp.destination();
    let resolver = match mode {
        DnsMode::Real {
            resolver: Some(resolver),
        } => resolver,
        _ => server,
    };
    let mut query = vec![0u8; usize::from(MTU)];
    loop {
        let n = match udp.read(&mut query).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let engine = shared.engine();
        let real = |name: &str| needs_real(&engine, name);
        let answer = match mode {
            DnsMode::FakeIp => dns::answer(&query[..n], &mut crate::sync::lock(&pool), real),
            DnsMode::Real { .. } => dns::route_real(&query[..n], real),
        };
        let reply = match answer {
            Some(Answer::Reply(reply)) => Ok(reply),
            Some(Answer::Forward) => forward(server, &query[..n])
                .await
                .map_err(|e| format!("forwarded to {server}: {e}")),
            Some(Answer::Upstream) => through_upstream(&engine, resolver, local, &query[..n])
                .await
                .map_err(|e| format!("to {resolver} through the SOCKS server: {e}")),
            None => continue,
        };
        match reply {
            Ok(reply) => {
                if udp.write_all(&reply).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::info!("DNS query {e}"),
        }
    }
}

/// Names that must resolve to real addresses: those the direct list sends straight out,
/// and the servers this proxy itself dials (a fake address for those would loop).
fn needs_real(engine: &Engine, name: &str) -> bool {
    let target = Target::new(Host::Domain(name.to_ascii_lowercase()), 443);
    engine.config.hops().any(|hop| hop.host == target.host) || engine.goes_direct(&target)
}

/// Sends `query` to `server` and waits for its answer.
async fn forward(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let socket = crate::dial::mark::udp_socket_for(server)?;
    socket.connect(server).await?;
    socket.send(query).await?;
    let mut reply = vec![0u8; 4096];
    let n = within_limit(socket.recv(&mut reply)).await?;
    reply.truncate(n);
    Ok(reply)
}

/// Sends `query` to `resolver` through the SOCKS server (the engine's route and server in
/// use) as DNS over TCP (RFC 7766: each message behind its two-byte length).
async fn through_upstream(
    engine: &Engine,
    resolver: SocketAddr,
    local: SocketAddr,
    query: &[u8],
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncWriteExt;
    let target = Target::new(Host::Ip(resolver.ip()), resolver.port());
    let exchange = async {
        let (mut stream, _) = engine
            .open(&target, local)
            .await
            .map_err(std::io::Error::other)?;
        let length = u16::try_from(query.len()).map_err(std::io::Error::other)?;
        let mut framed = length.to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        let length = stream.read_u16().await?;
        let mut reply = vec![0u8; usize::from(length)];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    };
    within_limit(exchange).await
}

/// `exchange`, given [`FORWARD_LIMIT`] to answer.
async fn within_limit<T>(
    exchange: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(FORWARD_LIMIT, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5 s"))?
}
