//! Plain-HTTP forwarding: absolute-form in, origin-form out over a pooled connection
//! dialled through the upstream; bodies streamed both ways; WebSocket upgrades spliced.

use std::error::Error as _;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::headers::{prepare_request, prepare_response, upgrade_protocol};
use super::response::Body;
use crate::dial::uri_target;
use crate::error::ProxyError;
use crate::loop_guard;
use crate::server::engine::{Conn, Engine};
use crate::target::Target;

pub(super) async fn forward(
    mut req: Request<Incoming>,
    conn: &Arc<Conn>,
    engine: &Arc<Engine>,
) -> Result<Response<Body>, ProxyError> {
    let target = uri_target(req.uri())?;
    loop_guard::check(&target, conn.local, &engine.dialer).await?;
    let upgrade = upgrade_protocol(req.headers());
    prepare_request(req.headers_mut(), &target, 80, upgrade.clone());
    *req.version_mut() = Version::HTTP_11;
    if let Some(protocol) = upgrade {
        return forward_upgrade(req, target, protocol, conn, engine).await;
    }
    let response = engine
        .client
        .request(req)
        .await
        .map_err(|e| client_error(&e, &target))?;
    let (mut parts, body) = response.into_parts();
    prepare_response(&mut parts.headers, None);
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Turns a pooled-client failure into our error: a dial failure carries its own
/// [`ProxyError`] (found in the source chain); anything else is the origin's fault.
fn client_error(error: &hyper_util::client::legacy::Error, target: &Target) -> ProxyError {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(ours) = cause.downcast_ref::<ProxyError>() {
            return ours.clone();
        }
        source = cause.source();
    }
    let detail = match error.source() {
        Some(cause) => cause.to_string(),
        None => error.to_string(),
    };
    ProxyError::Origin {
        target: target.to_string(),
        detail,
    }
}

/// A request with `Connection: upgrade`: its own connection to the origin (never pooled);
/// on `101` both sides are upgraded and bytes are copied until either closes.
async fn forward_upgrade(
    mut req: Request<Incoming>,
    target: Target,
    protocol: HeaderValue,
    conn: &Arc<Conn>,
    engine: &Engine,
) -> Result<Response<Body>, ProxyError> {
    let stream = engine.dialer.dial(&target).await?;
    let origin_error = |e: hyper::Error| ProxyError::Origin {
        target: target.to_string(),
        detail: e.to_string(),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(origin_error)?;
    conn.shared.tasks.spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!("upgraded origin connection ended: {e}");
        }
    });
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut response = sender.send_request(req).await.map_err(origin_error)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = response.into_parts();
        prepare_response(&mut parts.headers, None);
        return Ok(Response::from_parts(parts, body.boxed()));
    }
    let origin_upgrade = hyper::upgrade::on(&mut response);
    let stop = conn.shared.hard_stop.clone();
    let upgrade_conn = Arc::clone(conn);
    conn.shared.tasks.spawn(async move {
        let _alive = upgrade_conn;
        let (client, origin) = match tokio::join!(client_upgrade, origin_upgrade) {
            (Ok(client), Ok(origin)) => (client, origin),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!("upgrade failed: {e}");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut origin = TokioIo::new(origin);
        // The client side is a metered stream underneath: bytes are counted there.
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut origin) => {}
            () = stop.cancelled() => {}
        }
    });
    let (mut parts, body) = response.into_parts();
    prepare_response(&mut parts.headers, Some(protocol));
    Ok(Response::from_parts(parts, body.boxed()))
}
