//! Moving bytes both ways between a client and a target once a tunnel is up.
//!
//! Works on `&TcpStream` readiness (`readable` + `try_read_buf`) so the two directions
//! share the sockets without locks. Buffers follow the traffic: a direction takes one
//! only when bytes are really there (readiness left over from the handshake does not
//! count), doubles it while reads fill it (bulk transfers: fewer system calls per byte),
//! and gives it back after a second without data, so an idle tunnel (a browser keeps
//! dozens) holds no buffer at all. Half-close is kept (EOF one way shuts down the write
//! side of the other and the rest keeps flowing), bytes are counted, and tunnels idle for
//! longer than the configured time are closed.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connections::Counters;
use crate::stats::Stats;
use crate::stream::Stream;

/// A direction's buffer starts small (interactive traffic) and doubles each time a read
/// fills it, up to the maximum (bulk transfers: fewer system calls per byte).
const BUF_START: usize = 16 * 1024;
const BUF_MAX: usize = 256 * 1024;
/// A direction that has waited this long for data gives its buffer back.
const BUF_RELEASE_AFTER: Duration = Duration::from_secs(1);

/// How a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpEnd {
    /// Both sides closed their writing half.
    Closed,
    /// No bytes either way for the idle timeout.
    Idle,
    /// The server is shutting down and the drain time ran out.
    Stopped,
    /// A socket error (reset, broken pipe) on either side.
    Error,
}

/// Copies until both directions end, the tunnel idles out, or `stop` fires, adding the
/// bytes to `counted` (the connection's, which the Connections view reads) as they go.
/// Returns how it ended and the bytes (client→target, target→client).
pub async fn pump(
    client: &TcpStream,
    target: &TcpStream,
    idle: Duration,
    stats: &Stats,
    stop: &CancellationToken,
    counted: &Counters,
) -> (PumpEnd, u64, u64) {
    let meter = Meter::new(stats, counted);
    let up = copy_direction(client, target, |n| meter.up(n));
    let down = copy_direction(target, client, |n| meter.down(n));
    meter.finish(up, down, idle, stop).await
}

/// A tunnel's whole life once the target is connected: `early` (bytes the client sent
/// before the tunnel was up) goes first, then the bytes flow both ways — over the
/// sockets' readiness when the target is a plain socket, through the stream otherwise.
/// `None` when the early bytes could not be delivered.
pub async fn run(
    client: TcpStream,
    target: Stream,
    early: impl AsRef<[u8]>,
    idle: Duration,
    stats: &Stats,
    stop: &CancellationToken,
    counted: &Counters,
) -> Option<(PumpEnd, u64, u64)> {
    let mut target = target;
    let sent = early.as_ref().len() as u64;
    if sent > 0 {
        target.write_all(early.as_ref()).await.ok()?;
        target.flush().await.ok()?;
    }
    // The early buffer may pin a whole read buffer: gone before the long part.
    drop(early);
    counted.up.fetch_add(sent, Relaxed);
    Some(match target {
        Stream::Tcp(target) => pump(&client, &target, idle, stats, stop, counted).await,
        target => pump_stream(client, target, idle, stats, stop, counted).await,
    })
}

/// [`pump`] for a target or client that is not a plain socket (TLS to an HTTPS proxy, a
/// flow from the TUN's userspace stack): the same
/// counting, idle timeout and half-close, through the stream's own reads and writes.
pub async fn pump_stream(
    client: impl AsyncRead + AsyncWrite + Unpin,
    target: impl AsyncRead + AsyncWrite + Unpin,
    idle: Duration,
    stats: &Stats,
    stop: &CancellationToken,
    counted: &Counters,
) -> (PumpEnd, u64, u64) {
    let meter = Meter::new(stats, counted);
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut target_read, mut target_write) = tokio::io::split(target);
    let up = copy_stream(&mut client_read, &mut target_write, |n| meter.up(n));
    let down = copy_stream(&mut target_read, &mut client_write, |n| meter.down(n));
    meter.finish(up, down, idle, stop).await
}

/// Counts a tunnel's bytes (the live stats and the connection's own counters), keeps the
/// time of the last byte, and decides how the tunnel ended.
struct Meter<'a> {
    start: Instant,
    last_activity: AtomicU64,
    stats: &'a Stats,
    counted: &'a Counters,
}

impl<'a> Meter<'a> {
    fn new(stats: &'a Stats, counted: &'a Counters) -> Meter<'a> {
        Meter {
            start: Instant::now(),
            last_activity: AtomicU64::new(0),
            stats,
            counted,
        }
    }

    fn up(&self, n: u64) {
        self.stats.add_up(n);
        self.counted.up.fetch_add(n, Relaxed);
        self.touch();
    }

    fn down(&self, n: u64) {
        self.stats.add_down(n);
        self.counted.down.fetch_add(n, Relaxed);
        self.touch();
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_activity.store(now, Relaxed);
    }

    /// Runs both directions until both end, the tunnel idles out, or `stop` fires.
    async fn finish(
        &self,
        up: impl std::future::Future<Output = io::Result<()>>,
        down: impl std::future::Future<Output = io::Result<()>>,
        idle: Duration,
        stop: &CancellationToken,
    ) -> (PumpEnd, u64, u64) {
        let both = async {
            let (a, b) = tokio::join!(up, down);
            a.and(b)
        };
        let end = tokio::select! {
            result = both => if result.is_ok() { PumpEnd::Closed } else { PumpEnd::Error },
            () = idle_watch(self.start, &self.last_activity, idle) => PumpEnd::Idle,
            () = stop.cancelled() => PumpEnd::Stopped,
        };
        (
            end,
            self.counted.up.load(Relaxed),
            self.counted.down.load(Relaxed),
        )
    }
}

/// One direction through streams: each read is written and flushed (TLS may hold written
/// bytes back until a flush), and the end — an orderly one, or a peer that hung up without
/// TLS's close_notify — is passed on as a shutdown of the other side's writing half.
async fn copy_stream(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    mut counted: impl FnMut(u64),
) -> io::Result<()> {
    let mut buf = vec![0u8; BUF_START];
    let copied = async {
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(n) => n,
                Err(e) => return Err(e),
            };
            to.write_all(&buf[..n]).await?;
            to.flush().await?;
            counted(n as u64);
        }
    };
    let result = copied.await;
    let shut = to.shutdown().await;
    result.and(shut.or_else(|e| match e.kind() {
        io::ErrorKind::NotConnected => Ok(()),
        _ => Err(e),
    }))
}

async fn copy_direction(
    from: &TcpStream,
    to: &TcpStream,
    mut counted: impl FnMut(u64),
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if buf.capacity() == 0 {
            from.readable().await?;
        } else if tokio::time::timeout(BUF_RELEASE_AFTER, from.readable())
            .await
            .is_err()
        {
            buf = Vec::new();
            continue;
        }
        let fresh = buf.capacity() == 0;
        if fresh {
            buf.reserve_exact(BUF_START);
        }
        buf.clear();
        // Reads into the spare capacity: a buffer is never zeroed, and pages that no
        // read reaches are never touched.
        let n = match from.try_read_buf(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if fresh {
                    buf = Vec::new();
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        write_all(to, &buf[..n]).await?;
        counted(n as u64);
        if n == buf.capacity() && n < BUF_MAX {
            buf = Vec::with_capacity(n * 2);
        }
    }
    // Pass the EOF on; the other direction keeps flowing (half-close).
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// Writes all of `data` to a shared socket.
async fn write_all(to: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn idle_watch(start: Instant, last_activity: &AtomicU64, idle: Duration) {
    loop {
        let deadline = start + Duration::from_millis(last_activity.load(Relaxed)) + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (a.unwrap(), b.unwrap().0)
    }

    #[tokio::test]
    async fn copies_both_ways_with_half_close() {
        let (mut client, proxy_client_side) = pair().await;
        let (proxy_target_side, mut origin) = pair().await;
        let stats = Stats::default();
        let stop = CancellationToken::new();
        let counted = Counters::default();
        let tunnel = pump(
            &proxy_client_side,
            &proxy_target_side,
            Duration::from_secs(5),
            &stats,
            &stop,
            &counted,
        );
        let peers = async {
            client.write_all(b"hello").await.unwrap();
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            origin.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"hello");
            // The other direction still works after the client's half-close.
            origin.write_all(&vec![7u8; 300_000]).await.unwrap();
            origin.shutdown().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            assert_eq!(back.len(), 300_000);
        };
        let ((end, up, down), ()) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(tunnel, peers)
        })
        .await
        .unwrap();
        assert_eq!((end, up, down), (PumpEnd::Closed, 5, 300_000));
        let snap = stats.snapshot();
        assert_eq!((snap.bytes_up, snap.bytes_down), (5, 300_000));
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_flowing_after_giving_its_buffers_back() {
        let (mut client, a) = pair().await;
        let (b, mut origin) = pair().await;
        let stats = Stats::default();
        let stop = CancellationToken::new();
        let counted = Counters::default();
        let tunnel = pump(&a, &b, Duration::from_secs(30), &stats, &stop, &counted);
        let peers = async {
            let mut got = [0u8; 5];
            for round in 0..3u8 {
                client.write_all(&[round; 5]).await.unwrap();
                origin.read_exact(&mut got).await.unwrap();
                assert_eq!(got, [round; 5]);
                // Long enough for both directions to release their buffers.
                tokio::time::sleep(BUF_RELEASE_AFTER * 3).await;
            }
            client.shutdown().await.unwrap();
            origin.shutdown().await.unwrap();
        };
        let ((end, up, down), ()) = tokio::join!(tunnel, peers);
        assert_eq!((end, up, down), (PumpEnd::Closed, 15, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_tunnels_close() {
        let (_client, a) = pair().await;
        let (b, _origin) = pair().await;
        let stats = Stats::default();
        let (end, _, _) = pump(
            &a,
            &b,
            Duration::from_secs(30),
            &stats,
            &CancellationToken::new(),
            &Counters::default(),
        )
        .await;
        assert_eq!(end, PumpEnd::Idle);
    }

    #[tokio::test]
    async fn stop_token_ends_the_tunnel() {
        let (_client, a) = pair().await;
        let (b, _origin) = pair().await;
        let stop = CancellationToken::new();
        stop.cancel();
        let (end, _, _) = pump(
            &a,
            &b,
            Duration::from_secs(30),
            &Stats::default(),
            &stop,
            &Counters::default(),
        )
        .await;
        assert_eq!(end, PumpEnd::Stopped);
    }
}
