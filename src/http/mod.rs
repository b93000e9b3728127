//! The HTTP side of the mixed port: hyper serves the connection (with upgrades); each
//! request passes inbound auth, then CONNECT → [`tunnel`], absolute-form → [`forward`],
//! origin-form (requests to us) → [`local`]. Every way out goes through the engine.

mod forward;
pub(crate) mod headers;
mod local;
mod response;
mod tunnel;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{header, Method, Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::auth;
use crate::engine::{Conn, Engine};
use crate::error::ProxyError;
use crate::metered::Metered;
use response::{error_response, Body};

/// Request heads larger than this get a 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves one HTTP client connection until it closes, or until shutdown asks it to
/// finish (and the drain time is over).
pub(crate) async fn serve(stream: TcpStream, conn: Arc<Conn>, header_timeout: Duration) {
    let shared = Arc::clone(&conn.shared);
    let io = TokioIo::new(Metered::new(stream, Arc::clone(&shared.stats)));
    let service = service_fn(move |req| handle(req, Arc::clone(&conn)));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shared.graceful.cancelled() => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                result = connection.as_mut() => result,
                () = shared.hard_stop.cancelled() => Ok(()),
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}

/// Serves one request; failures become a response with a status and a reason.
async fn handle(req: Request<Incoming>, conn: Arc<Conn>) -> Result<Response<Body>, Infallible> {
    let engine = conn.shared.engine();
    let method = req.method().clone();
    let uri = req.uri().clone();
    match dispatch(req, &conn, &engine).await {
        Ok(response) => Ok(response),
        Err(error) => {
            conn.report(format_args!("{method} {uri}"), &error);
            Ok(error_response(&error))
        }
    }
}

async fn dispatch(
    req: Request<Incoming>,
    conn: &Arc<Conn>,
    engine: &Arc<Engine>,
) -> Result<Response<Body>, ProxyError> {
    if let Some(required) = conn.required_auth(engine) {
        if !auth::basic_matches(required, req.headers().get(header::PROXY_AUTHORIZATION)) {
            return Err(ProxyError::AuthRequired);
        }
    }
    if req.method() == Method::CONNECT {
        tunnel::connect(req, conn, engine).await
    } else if req.uri().scheme().is_some() {
        forward::forward(req, conn, engine).await
    } else {
        local::serve(req, conn, engine)
    }
}
