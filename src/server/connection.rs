//! One client connection on the mixed port: the first byte tells SOCKS (0x05, 0x04) from
//! HTTP, and the connection goes to that protocol's handler.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::engine::Conn;

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
        _ => crate::http::serve(stream, conn, header_timeout).await,
    }
}
