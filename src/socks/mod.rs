//! SOCKS5 and SOCKS4a clients on the mixed port: handshake (with RFC 1929 credentials when
//! inbound auth is on), dial through the same upstream and rules as HTTP, then pump.

pub mod parse;
pub(crate) mod udp;

pub(crate) use udp::probe as probe_udp;

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth::credentials_match;
use crate::connections::Kind;
use crate::engine::{Conn, Engine};
use crate::error::ProxyError;
use crate::pump;
use crate::target::Target;
use parse::{ParseError, Parsed, CMD_CONNECT, CMD_UDP_ASSOCIATE, MAX_MESSAGE, NO_AUTH, USER_PASS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V4,
    V5,
}

/// A finished handshake: where to go, and bytes the client already sent past it. For a
/// UDP ASSOCIATE, `target` is where the client says it will send datagrams from.
struct Handshake {
    version: Version,
    associate: bool,
    target: Target,
    early_data: Vec<u8>,
}

pub(crate) async fn serve(mut stream: TcpStream, conn: Arc<Conn>) {
    let engine = conn.shared.engine();
    let limit = engine.config.timeouts.header;
    let handshake = match tokio::time::timeout(limit, handshake(&mut stream, &conn, &engine)).await
    {
        Ok(Ok(handshake)) => handshake,
        Ok(Err(error)) => return conn.report("SOCKS handshake", &error),
        Err(_) => {
            return conn.report(
                "SOCKS handshake",
                &ProxyError::BadRequest("handshake timed out".into()),
            )
        }
    };
    if handshake.associate {
        return udp::associate(stream, conn, handshake.target).await;
    }
    let target = handshake.target;
    let (upstream, via) = match engine.open(&target, conn.local).await {
        Ok(opened) => opened,
        Err(error) => {
            let reply = match handshake.version {
                Version::V5 => parse::reply5(error.socks5_reply()).to_vec(),
                Version::V4 => parse::reply4(false).to_vec(),
            };
            let _ = stream.write_all(&reply).await;
            return conn.report(format_args!("SOCKS CONNECT {target}"), &error);
        }
    };
    let reply = match handshake.version {
        Version::V5 => parse::reply5(0).to_vec(),
        Version::V4 => parse::reply4(true).to_vec(),
    };
    if stream.write_all(&reply).await.is_err() {
        return;
    }
    let tracked = conn.track(Kind::Socks, &target, via);
    conn.shared.stats.add_up(handshake.early_data.len() as u64);
    let ran = pump::run(
        stream,
        upstream,
        handshake.early_data,
        engine.config.timeouts.idle,
        &conn.shared.stats,
        &conn.shared.hard_stop,
        &tracked.live.bytes,
    );
    let Some((end, up, down)) = ran.await else {
        return;
    };
    tracing::debug!("SOCKS tunnel to {target} ended ({end:?}): {up} bytes up, {down} down");
}

async fn handshake(
    stream: &mut TcpStream,
    conn: &Conn,
    engine: &Engine,
) -> Result<Handshake, ProxyError> {
    let mut buf = Vec::with_capacity(64);
    let auth = engine.config.auth.as_ref();
    let must_authenticate = conn.required_auth(engine).is_some();
    let mut first = [0u8; 1];
    stream.peek(&mut first).await.map_err(io_error)?;
    if first[0] == 0x04 {
        let (cmd, target, _user_id) = next(stream, &mut buf, parse::request4).await?;
        if must_authenticate || cmd != CMD_CONNECT {
            let _ = stream.write_all(&parse::reply4(false)).await;
            return Err(if must_authenticate {
                ProxyError::AuthRequired
            } else {
                ProxyError::BadRequest(format!("SOCKS4 command {cmd:#04x} is not supported"))
            });
        }
        return Ok(Handshake {
            version: Version::V4,
            associate: false,
            target,
            early_data: buf,
        });
    }

    let methods = next(stream, &mut buf, parse::greeting).await?;
    let offers = |m| methods.contains(&m);
    if must_authenticate || (!offers(NO_AUTH) && offers(USER_PASS)) {
        if !offers(USER_PASS) {
            let _ = stream.write_all(&[0x05, 0xff]).await;
            return Err(ProxyError::AuthRequired);
        }
        stream
            .write_all(&[0x05, USER_PASS])
            .await
            .map_err(io_error)?;
        let (user, pass) = next(stream, &mut buf, parse::user_pass).await?;
        // Without inbound auth configured, a client that insists on sending credentials
        // is let in with any.
        let accepted = auth.is_none_or(|a| credentials_match(a, &user, &pass));
        stream
            .write_all(&[0x01, if accepted { 0x00 } else { 0x01 }])
            .await
            .map_err(io_error)?;
        if !accepted {
            return Err(ProxyError::AuthRequired);
        }
    } else if offers(NO_AUTH) {
        stream.write_all(&[0x05, NO_AUTH]).await.map_err(io_error)?;
    } else {
        let _ = stream.write_all(&[0x05, 0xff]).await;
        return Err(ProxyError::BadRequest(
            "SOCKS5 client offers no method we support".into(),
        ));
    }

    let (cmd, target) = next(stream, &mut buf, parse::request5).await?;
    // BIND is refused: nothing on a desktop needs it, and it would open a listening port.
    if cmd != CMD_CONNECT && cmd != CMD_UDP_ASSOCIATE {
        let _ = stream.write_all(&parse::reply5(0x07)).await;
        return Err(ProxyError::BadRequest(format!(
            "SOCKS5 command {cmd:#04x} is not supported"
        )));
    }
    Ok(Handshake {
        version: Version::V5,
        associate: cmd == CMD_UDP_ASSOCIATE,
        target,
        early_data: buf,
    })
}

/// Reads until `parse` completes a message, which is removed from the front of `buf`.
async fn next<T>(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    parse: fn(&[u8]) -> Parsed<T>,
) -> Result<T, ProxyError> {
    loop {
        match parse(buf) {
            Ok(Some((value, used))) => {
                buf.drain(..used);
                return Ok(value);
            }
            Ok(None) => {}
            Err(e) => return Err(malformed(e)),
        }
        if buf.len() > MAX_MESSAGE {
            return Err(ProxyError::BadRequest("SOCKS message too long".into()));
        }
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).await.map_err(io_error)?;
        if n == 0 {
            return Err(ProxyError::BadRequest(
                "client closed during the SOCKS handshake".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn malformed(e: ParseError) -> ProxyError {
    ProxyError::BadRequest(format!("malformed SOCKS message: {e}"))
}

fn io_error(e: std::io::Error) -> ProxyError {
    ProxyError::BadRequest(format!("SOCKS handshake: {e}"))
}
