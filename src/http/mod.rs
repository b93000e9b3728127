//! The HTTP side of the mixed port: inbound auth, then CONNECT → [`tunnel`], absolute-form
//! → [`forward`], origin-form (requests to us) → [`local`].

pub mod auth;
mod forward;
pub mod headers;
mod local;
pub mod response;
mod tunnel;

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, Method, Request, Response};
use hyper::body::Incoming;

use crate::error::ProxyError;
use crate::server::engine::{Conn, Engine};
use response::{error_response, Body};

/// Serves one request; failures become a response with a status and a reason, logged once.
pub(crate) async fn handle(
    req: Request<Incoming>,
    conn: Arc<Conn>,
) -> Result<Response<Body>, Infallible> {
    let engine = conn.shared.engine();
    let method = req.method().clone();
    let uri = req.uri().clone();
    match route(req, &conn, &engine).await {
        Ok(response) => Ok(response),
        Err(error) => {
            conn.shared.stats.error(error.kind());
            if error.status().is_server_error() {
                tracing::warn!(peer = %conn.peer, "{method} {uri}: {error}");
            } else {
                tracing::info!(peer = %conn.peer, "{method} {uri}: {error}");
            }
            Ok(error_response(&error))
        }
    }
}

async fn route(
    req: Request<Incoming>,
    conn: &Arc<Conn>,
    engine: &Arc<Engine>,
) -> Result<Response<Body>, ProxyError> {
    if let Some(auth) = &engine.config.auth {
        let exempt = auth.exempt_loopback && conn.peer.ip().is_loopback();
        if !exempt && !auth::basic_matches(auth, req.headers().get(header::PROXY_AUTHORIZATION)) {
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
