//! Accepting connections: the connection cap, backoff when the process runs out of file
//! descriptors, and moving to a new listener on reload.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::connection::serve_connection;
use super::{Listener, Rebind};
use crate::engine::Conn;
use crate::error::{ErrorKind, ProxyError};

const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(super) async fn accept_loop(
    mut listener: TcpListener,
    mut rebind: mpsc::UnboundedReceiver<Rebind>,
    state: Arc<Listener>,
) {
    let shared = &state.shared;
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some((new_listener, done)) = rebind.recv() => {
                tracing::info!("now listening on {}", state.local_addr());
                // The old socket closes here, before the reload returns: its port is free
                // for whoever asks next (a reload back to it, another program).
                listener = new_listener;
                let _ = done.send(());
                continue;
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                match Arc::clone(&state.permits).try_acquire_owned() {
                    Ok(permit) => {
                        let local = stream.local_addr().unwrap_or_else(|_| state.local_addr());
                        let conn = Conn {
                            shared: Arc::clone(shared),
                            peer,
                            local,
                            _permit: permit,
                            _active: shared.stats.connection(),
                        };
                        shared.tasks.spawn(serve_connection(stream, Arc::new(conn)));
                    }
                    Err(_) => {
                        shared.stats.error(ErrorKind::Overloaded);
                        let limit = state.limit.load(Ordering::Relaxed);
                        tracing::warn!(%peer, "refusing connection: {limit} connections open");
                        shared.tasks.spawn(refuse_overloaded(stream, limit));
                    }
                }
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // EMFILE/ENFILE/ENOBUFS: waiting lets running connections free descriptors;
                // spinning on accept would burn a core and starve them.
                tracing::warn!("accept failed: {e}; retrying in {} ms", backoff.as_millis());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Errors that concern one connection only; the listener itself is fine.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Answers a connection over the cap without parsing it: a 503 for HTTP, a general
/// failure for SOCKS, then a bounded read of what the client sent so closing does not
/// reset the answer away.
async fn refuse_overloaded(mut stream: TcpStream, limit: usize) {
    let error = ProxyError::Overloaded { limit };
    let mut first = [0u8; 1];
    let Ok(Ok(1)) = tokio::time::timeout(Duration::from_secs(2), stream.peek(&mut first)).await
    else {
        return;
    };
    let reply = match first[0] {
        0x05 => vec![0x05, 0xff],
        0x04 => vec![0x00, 0x5b, 0, 0, 0, 0, 0, 0],
        _ => {
            let body = format!("{error}\n");
            format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}
