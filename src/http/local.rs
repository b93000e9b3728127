//! Requests addressed to the proxy itself (origin-form): nothing is served here yet but
//! a clear answer telling the client how to use us.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::response::{text, Body};
use crate::error::ProxyError;
use crate::server::engine::{Conn, Engine};

pub(super) fn serve(
    req: Request<Incoming>,
    conn: &Conn,
    _engine: &Engine,
) -> Result<Response<Body>, ProxyError> {
    if req.uri().path() == "/" && req.method() == http::Method::GET {
        return Ok(text(
            StatusCode::OK,
            &format!(
                "socksbridge: set {} as your HTTP/HTTPS or SOCKS5 proxy",
                conn.local
            ),
        ));
    }
    Err(ProxyError::BadRequest(format!(
        "'{}' is not a proxy request: send absolute-form URLs (http://host/path) or CONNECT",
        req.uri()
    )))
}
