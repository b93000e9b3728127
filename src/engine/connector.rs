//! The hyper-util connector behind the engine's pooled client: each new pooled connection
//! is routed and dialled like any other (the loop guard already ran in `Engine::admit`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;

use crate::dial;
use crate::error::ProxyError;
use crate::route::Router;
use crate::target::Target;

#[derive(Debug, Clone)]
pub(crate) struct RouteConnector {
    router: Arc<Router>,
    connect_timeout: Duration,
}

impl RouteConnector {
    pub fn new(router: Arc<Router>, connect_timeout: Duration) -> RouteConnector {
        RouteConnector {
            router,
            connect_timeout,
        }
    }
}

impl tower_service::Service<Uri> for RouteConnector {
    type Response = TokioIo<dial::Stream>;
    type Error = ProxyError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ProxyError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let router = Arc::clone(&self.router);
        let limit = self.connect_timeout;
        Box::pin(async move {
            let target = Target::from_uri(&uri, 80)
                .map_err(|e| ProxyError::BadRequest(format!("request target: {e}")))?;
            let stream = dial::open(router.route(&target), &target, limit).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
