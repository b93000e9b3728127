//! Requests addressed to the proxy itself (origin-form): the PAC file at `/proxy.pac`,
//! a one-line hint at `/`, and a clear 400 for anything else.

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::response::{full, text, Body};
use crate::engine::{Conn, Engine};
use crate::error::ProxyError;
use crate::pac::{pac_file, PAC_PATH};

pub(super) fn serve(
    req: Request<Incoming>,
    conn: &Conn,
    engine: &Engine,
) -> Result<Response<Body>, ProxyError> {
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    match req.uri().path() {
        PAC_PATH if readable => {
            let mut response = Response::new(full(pac_file(conn.local, &engine.config.pac_bypass)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ns-proxy-autoconfig"),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            Ok(response)
        }
        "/" if readable => Ok(text(
            StatusCode::OK,
            &format!(
                "socksbridge: set {} as your HTTP/HTTPS or SOCKS5 proxy",
                conn.local
            ),
        )),
        _ => Err(ProxyError::BadRequest(format!(
            "'{}' is not a proxy request: send absolute-form URLs (http://host/path) or CONNECT",
            req.uri()
        ))),
    }
}
