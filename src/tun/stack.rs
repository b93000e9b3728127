//! The userspace TCP/IP stack between the device and the flows (netstack-smoltcp, over
//! smoltcp): the device's packets go in, packets the stack makes go back out, and what
//! it assembles comes out as TCP streams and UDP flows. ipstack 1.0.1, the first stack
//! here, never sent the FIN of an answer still in flight when the origin closed
//! (narrowlink/ipstack#89: every read-to-the-end client hung) and closed the whole
//! connection when an app half-closed; smoltcp keeps TCP's half-close.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use netstack_smoltcp::udp::{ReadHalf, UdpMsg};
use netstack_smoltcp::{StackBuilder, TcpStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::device::{Device, MTU};
use super::time_wait::Closes;

/// Datagrams waiting for one UDP flow's reader; more are dropped, as a full socket would.
const FLOW_QUEUE: usize = 64;
/// UDP flows open at once; datagrams that would start more are dropped.
const MAX_UDP_FLOWS: usize = 4096;

/// Runs the stack on `device` until the device fails, handing each new TCP connection
/// to `on_tcp` and each new UDP flow (app address, destination) to `on_udp`.
pub(super) async fn run(
    device: Device,
    udp_idle: Duration,
    mut on_tcp: impl FnMut(AppStream),
    mut on_udp: impl FnMut(UdpFlow),
) {
    let built = StackBuilder::default()
        .enable_tcp(true)
        .enable_udp(true)
        .mtu(usize::from(MTU))
        .build();
    let (stack, Some(runner), Some(udp), Some(mut tcp)) = (match built {
        Ok(built) => built,
        Err(e) => return tracing::error!("the TUN's packet stack could not start: {e}"),
    }) else {
        return tracing::error!("the TUN's packet stack started without TCP or UDP");
    };
    let (mut to_stack, mut from_stack) = stack.split();
    let (udp_in, mut udp_out) = udp.split();
    let (replies, mut replied) = mpsc::channel::<UdpMsg>(512);
    let table = Table::default();

    // The closes the device sees both ways (time_wait.rs): RSTs that end the stack's
    // TIME-WAIT go into it behind the packet that finished the close.
    let closes = Mutex::new(Closes::default());
    let (resets, mut reset_rx) = mpsc::channel::<Vec<u8>>(1024);
    let inbound = async {
        let mut packet = vec![0u8; usize::from(MTU) + 64];
        loop {
            let into_stack = tokio::select! {
                biased;
                Some(reset) = reset_rx.recv() => vec![reset],
                n = device.recv(&mut packet) => {
                    let packet = &packet[..n?];
                    let around = crate::sync::lock(&closes).app_sent(packet, std::time::Instant::now());
                    around.before.into_iter().chain([packet.to_vec()]).chain(around.after).collect()
                }
            };
            for packet in into_stack {
                // A packet the stack cannot parse is dropped there, not an error here.
                if let Err(e) = to_stack.send(packet).await {
                    tracing::debug!("TUN packet not taken by the stack: {e}");
                }
            }
        }
    };
    let outbound = async {
        while let Some(packet) = from_stack.next().await {
            let packet = packet?;
            device.send(&packet).await?;
            let reset = crate::sync::lock(&closes).stack_sent(&packet, std::time::Instant::now());
            // A full queue loses only this shortcut: the SYN that reuses the tuple reopens it.
            if let Some(reset) = reset {
                let _ = resets.try_send(reset);
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let udp_replies = async {
        while let Some(reply) = replied.recv().await {
            udp_out.send(reply).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let accept = async {
        while let Some((stream, _, _)) = tcp.next().await {
            on_tcp(AppStream(stream));
        }
    };
    let sort = sort_datagrams(udp_in, &table, &replies, udp_idle, &mut on_udp);
    let end: std::io::Result<()> = tokio::select! {
        ended = runner => ended,
        ended = inbound => ended,
        ended = outbound => ended,
        ended = udp_replies => ended,
        () = accept => Ok(()),
        () = sort => Ok(()),
    };
    if let Err(e) = end {
        tracing::error!("the TUN's packet stack stopped: {e}");
    }
}

/// A TCP connection an app opened, as the stack holds it. Shutting down its writing half
/// queues the FIN behind the data already written and returns: netstack-smoltcp's own
/// shutdown waits for the whole close, TIME-WAIT included, which would hold each flow
/// (and its place in the Connections view) open for seconds after both sides ended it.
pub(super) struct AppStream(TcpStream);

impl AppStream {
    pub(super) fn app(&self) -> SocketAddr {
        *self.0.local_addr()
    }

    pub(super) fn destination(&self) -> SocketAddr {
        *self.0.remote_addr()
    }
}

impl AsyncRead for AppStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AppStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.0).poll_shutdown(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// One UDP flow: the datagrams between one app socket and one destination.
pub(super) struct UdpFlow {
    number: u64,
    app: SocketAddr,
    destination: SocketAddr,
    incoming: mpsc::Receiver<Vec<u8>>,
    replies: mpsc::Sender<UdpMsg>,
    table: Table,
    idle: Duration,
    last: Instant,
}

impl UdpFlow {
    pub(super) fn app(&self) -> SocketAddr {
        self.app
    }

    pub(super) fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// The app's next datagram (cut to `buf`), or 0 once the flow has been quiet both ways
    /// for the idle time.
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match tokio::time::timeout_at(self.last + self.idle, self.incoming.recv()).await {
                Ok(Some(datagram)) => {
                    self.last = Instant::now();
                    let n = datagram.len().min(buf.len());
                    buf[..n].copy_from_slice(&datagram[..n]);
                    return Ok(n);
                }
                Ok(None) => return Ok(0),
                Err(_) if Instant::now() >= self.last + self.idle => return Ok(0),
                Err(_) => {}
            }
        }
    }

    /// Sends `payload` to the app, from the destination.
    pub(super) async fn write_all(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.last = Instant::now();
        self.replies
            .send((payload.to_vec(), self.destination, self.app))
            .await
            .map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    }
}

impl Drop for UdpFlow {
    fn drop(&mut self) {
        self.table.forget((self.app, self.destination), self.number);
    }
}

/// Where each UDP flow's datagrams go, by (app, destination); each flow numbered, so
/// one that ended forgets only its own place.
#[derive(Clone, Default)]
struct Table(Arc<Mutex<Flows>>);

type Datagram = Vec<u8>;

#[derive(Default)]
struct Flows {
    next: u64,
    by_key: HashMap<(SocketAddr, SocketAddr), (u64, mpsc::Sender<Datagram>)>,
}

impl Table {
    /// Delivers `datagram` to its flow; a new flow (its number and queue, the datagram in
    /// it) when none takes it.
    fn deliver(
        &self,
        datagram: Vec<u8>,
        key: (SocketAddr, SocketAddr),
    ) -> Option<(u64, mpsc::Receiver<Vec<u8>>)> {
        let mut flows = crate::sync::lock(&self.0);
        let datagram = match flows.by_key.get(&key) {
            None => datagram,
            Some((_, flow)) => match flow.try_send(datagram) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => return None,
                // Its reader ended a moment ago: a new flow takes over.
                Err(mpsc::error::TrySendError::Closed(datagram)) => datagram,
            },
        };
        if flows.by_key.len() >= MAX_UDP_FLOWS && !flows.by_key.contains_key(&key) {
            return None;
        }
        let (sender, incoming) = mpsc::channel(FLOW_QUEUE);
        let _ = sender.try_send(datagram);
        flows.next += 1;
        let number = flows.next;
        flows.by_key.insert(key, (number, sender));
        Some((number, incoming))
    }

    /// Removes flow `number`, unless a newer one holds its place.
    fn forget(&self, key: (SocketAddr, SocketAddr), number: u64) {
        let mut flows = crate::sync::lock(&self.0);
        if flows.by_key.get(&key).is_some_and(|(n, _)| *n == number) {
            flows.by_key.remove(&key);
        }
    }
}

async fn sort_datagrams(
    mut from_apps: ReadHalf,
    table: &Table,
    replies: &mpsc::Sender<UdpMsg>,
    idle: Duration,
    on_udp: &mut impl FnMut(UdpFlow),
) {
    while let Some((datagram, app, destination)) = from_apps.next().await {
        if let Some((number, incoming)) = table.deliver(datagram, (app, destination)) {
            on_udp(UdpFlow {
                number,
                app,
                destination,
                incoming,
                replies: replies.clone(),
                table: table.clone(),
                idle,
                last: Instant::now(),
            });
        }
    }
}
