//! Plain-HTTP forwarding: absolute-form in, origin-form out over a pooled connection
//! dialled through the upstream; bodies streamed both ways; WebSocket upgrades spliced.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::headers::{prepare_request, prepare_response, upgrade_protocol};
use super::response::Body;
use crate::connections::{Counters, Kind, Tracked};
use crate::engine::{Conn, Engine};
use crate::error::ProxyError;
use crate::target::Target;

/// The port of `http://` URLs that name none.
const HTTP_PORT: u16 = 80;

pub(super) async fn forward(
    mut req: Request<Incoming>,
    conn: &Arc<Conn>,
    engine: &Arc<Engine>,
) -> Result<Response<Body>, ProxyError> {
    let target = uri_target(req.uri())?;
    let upgrade = upgrade_protocol(req.headers());
    prepare_request(req.headers_mut(), &target, HTTP_PORT, upgrade.clone());
    *req.version_mut() = Version::HTTP_11;
    if let Some(protocol) = upgrade {
        return forward_upgrade(req, target, protocol, conn, engine).await;
    }
    // The pool dials along the same route; only the loop guard must run first.
    let route = engine.admit(&target, conn.local).await?;
    // Listed until the response body is done; the bodies count its bytes.
    let tracked = Arc::new(conn.track(Kind::Http, &target, engine.via(route)));
    let sent = Arc::clone(&tracked);
    let req = req.map(|body| counted(body, sent, |bytes| &bytes.up));
    let response = engine
        .client
        .request(req)
        .await
        .map_err(|e| client_error(&e, &target))?;
    let (mut parts, body) = response.into_parts();
    prepare_response(&mut parts.headers, None);
    let body = counted(body, tracked, |bytes| &bytes.down);
    Ok(Response::from_parts(parts, body))
}

/// `body`, adding each data frame's length to one of `tracked`'s counters as it passes
/// (and keeping the connection listed until the body is dropped).
fn counted(body: Incoming, tracked: Arc<Tracked>, counter: fn(&Counters) -> &AtomicU64) -> Body {
    body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            counter(&tracked.live.bytes).fetch_add(data.len() as u64, Relaxed);
        }
        frame
    })
    .boxed()
}

/// The target a forwarded absolute-form URI points at (`http` only).
fn uri_target(uri: &Uri) -> Result<Target, ProxyError> {
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(other) => {
            return Err(ProxyError::BadRequest(format!(
                "cannot forward '{other}' URLs; use CONNECT for HTTPS"
            )))
        }
        None => {
            return Err(ProxyError::BadRequest(
                "request target has no scheme".into(),
            ))
        }
    }
    Target::from_uri(uri, HTTP_PORT)
        .map_err(|e| ProxyError::BadRequest(format!("request target: {e}")))
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
    let (stream, via) = engine.open(&target, conn.local).await?;
    let tracked = conn.track(Kind::Upgrade, &target, via);
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
        let counted = &tracked.live.bytes;
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
            copied = tokio::io::copy_bidirectional(&mut client, &mut origin) => {
                if let Ok((up, down)) = copied {
                    counted.up.fetch_add(up, Relaxed);
                    counted.down.fetch_add(down, Relaxed);
                }
            }
            () = stop.cancelled() => {}
        }
    });
    let (mut parts, body) = response.into_parts();
    prepare_response(&mut parts.headers, Some(protocol));
    Ok(Response::from_parts(parts, body.boxed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_targets_table() {
        let ok = [
            ("http://example.com/", "example.com:80"),
            ("http://example.com", "example.com:80"),
            ("HTTP://Example.com:8080/x?y", "example.com:8080"),
            ("http://127.0.0.1/", "127.0.0.1:80"),
            ("http://[::1]/", "[::1]:80"),
            ("http://[::1]:81/", "[::1]:81"),
        ];
        for (uri, expected) in ok {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(uri_target(&uri).unwrap().to_string(), expected, "{uri}");
        }
        for bad in [
            "https://example.com/",
            "ftp://example.com/",
            "/path",
            "http://exa_mple..com/",
        ] {
            let uri: Uri = bad.parse().unwrap();
            assert!(
                matches!(uri_target(&uri), Err(ProxyError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
