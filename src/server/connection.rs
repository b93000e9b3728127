//! One client connection on the mixed port: the first byte tells SOCKS (0x05, 0x04) from
//! HTTP; HTTP goes to hyper with upgrades, SOCKS to our inbound handshake.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::engine::Conn;
use crate::metered::Metered;

/// Request heads larger than this get a 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

pub(super) async fn serve_connection(stream: TcpStream, conn: Arc<Conn>) {
    let _ = stream.set_nodelay(true);
    let shared = &conn.shared;
    let peer = conn.peer;
    let header_timeout = shared.engine().config.timeouts.header;
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(header_timeout, stream.peek(&mut first)) => peeked,
        () = shared.graceful.cancelled() => return,
    };
    match peeked {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) | Ok(Err(_)) => return,
        Err(_) => {
            tracing::debug!(%peer, "closed: nothing sent within {} ms", header_timeout.as_millis());
            return;
        }
    }
    match first[0] {
        0x05 | 0x04 => crate::socks::serve(stream, conn).await,
        _ => serve_http(stream, conn, header_timeout).await,
    }
}

async fn serve_http(stream: TcpStream, conn: Arc<Conn>, header_timeout: std::time::Duration) {
    let shared = Arc::clone(&conn.shared);
    let io = TokioIo::new(Metered::new(stream, Arc::clone(&shared.stats)));
    let service = service_fn(move |req| crate::http::handle(req, Arc::clone(&conn)));
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
