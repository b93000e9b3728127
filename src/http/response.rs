//! Building the responses the proxy itself writes.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};

use crate::error::ProxyError;

pub(crate) use crate::engine::Body;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A short plain-text response.
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(full(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The response for an error: its status, its one-line reason, and for 407 the challenge.
pub fn error_response(error: &ProxyError) -> Response<Body> {
    let mut response = text(error.status(), &error.to_string());
    if matches!(error, ProxyError::AuthRequired) {
        response.headers_mut().insert(
            header::PROXY_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"socksbridge\""),
        );
    }
    if matches!(error, ProxyError::BadRequest(_)) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
