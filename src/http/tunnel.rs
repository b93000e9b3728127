//! CONNECT: dial through the upstream first, answer `200` only once the target is
//! reachable (a failed dial is a 502/504 with its reason), then pump raw bytes.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::response::{empty, Body};
use crate::connections::{Kind, Tracked};
use crate::engine::{Conn, Engine, Shared};
use crate::error::ProxyError;
use crate::metered::Metered;
use crate::pump;
use crate::stream::Stream;
use crate::target::Target;

pub(super) async fn connect(
    req: Request<Incoming>,
    conn: &Arc<Conn>,
    engine: &Arc<Engine>,
) -> Result<Response<Body>, ProxyError> {
    let authority = req
        .uri()
        .authority()
        .ok_or_else(|| ProxyError::BadRequest("CONNECT needs host:port".into()))?;
    let target = Target::parse_authority(authority.as_str())
        .map_err(|e| ProxyError::BadRequest(format!("CONNECT {authority}: {e}")))?;
    let (upstream, via) = engine.open(&target, conn.local).await?;
    let tracked = conn.track(Kind::Connect, &target, via);
    let on_upgrade = hyper::upgrade::on(req);
    let tunnel_conn = Arc::clone(conn);
    let idle = engine.config.timeouts.idle;
    conn.shared.tasks.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                run_tunnel(upgraded, upstream, &tunnel_conn.shared, idle, &tracked).await
            }
            Err(e) => {
                tracing::debug!("CONNECT {target}: client went away before the tunnel opened: {e}")
            }
        }
    });
    Ok(Response::new(empty()))
}

async fn run_tunnel(
    upgraded: Upgraded,
    upstream: Stream,
    shared: &Shared,
    idle: std::time::Duration,
    tracked: &Tracked,
) {
    let counted = &tracked.live.bytes;
    match upgraded.downcast::<TokioIo<Metered<TcpStream>>>() {
        Ok(parts) => {
            let client = parts.io.into_inner().into_inner();
            // Bytes the client sent right behind the CONNECT head (already metered).
            let early = parts.read_buf;
            let stop = &shared.hard_stop;
            let ran = pump::run(client, upstream, early, idle, &shared.stats, stop, counted);
            let Some((end, up, down)) = ran.await else {
                return;
            };
            tracing::debug!(
                "tunnel to {} ended ({end:?}): {up} bytes up, {down} down",
                tracked.live.target
            );
        }
        Err(upgraded) => {
            // Not our stream type (never expected): fall back to a generic copy.
            let mut client = TokioIo::new(upgraded);
            let mut upstream = upstream;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                () = shared.hard_stop.cancelled() => {}
            }
        }
    }
}
