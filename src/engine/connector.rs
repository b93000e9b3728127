//! A hyper-util connector that dials through a [`Dialer`], so the pooled HTTP client keeps
//! one pool per target and every new pooled connection goes through the SOCKS server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Dialer;
use crate::error::ProxyError;
use crate::target::Target;

#[derive(Debug, Clone)]
pub struct SocksConnector {
    dialer: Arc<Dialer>,
}

impl SocksConnector {
    pub fn new(dialer: Arc<Dialer>) -> SocksConnector {
        SocksConnector { dialer }
    }
}

/// The target a forwarded absolute-form URI points at (`http` only; port defaults to 80).
pub fn uri_target(uri: &Uri) -> Result<Target, ProxyError> {
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
    let host = uri
        .host()
        .ok_or_else(|| ProxyError::BadRequest("request target has no host".into()))?;
    Target::from_uri_parts(host, uri.port_u16(), 80)
        .map_err(|e| ProxyError::BadRequest(format!("request target: {e}")))
}

impl tower_service::Service<Uri> for SocksConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ProxyError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ProxyError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let dialer = Arc::clone(&self.dialer);
        Box::pin(async move {
            let target = uri_target(&uri)?;
            Ok(TokioIo::new(dialer.dial(&target).await?))
        })
    }
}
