//! The open connections and the last failures, for the window's Connections view: who
//! (client address), where (target), which way (the server in use, or direct), bytes each
//! way and age, and the program behind the client where the OS tells
//! ([`socket_owner`](crate::socket_owner), looked up once per connection when the view is
//! drawn). A connection costs one short lock when it opens and one when it closes; its
//! byte counters are the ones the tunnel pump keeps anyway, so the data path pays nothing
//! per byte. Everything stays in this process: nothing is logged or sent.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::ProxyError;
use crate::message::Message;
use crate::socket_owner::{self, ClientSocket, Process};
use crate::sync::lock;

/// At most this many connections are listed (the newest); the count says how many are open.
pub const LISTED: usize = 200;
/// A UDP association lists at most this many of the targets it sent to (the first ones).
pub const TARGETS_LISTED: usize = 8;
/// Failures kept, newest first.
pub const FAILURES_KEPT: usize = 20;

/// Bytes one connection moved: client → target (`up`) and back (`down`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub up: AtomicU64,
    pub down: AtomicU64,
}

/// What kind of connection it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An HTTP CONNECT tunnel (HTTPS, mostly).
    Connect,
    /// A SOCKS client's tunnel.
    Socks,
    /// A plain-HTTP request being forwarded.
    Http,
    /// A forwarded request upgraded to another protocol (WebSocket).
    Upgrade,
    /// A SOCKS5 UDP association.
    Udp,
    /// A TCP flow the whole-desktop mode captured from the TUN.
    Tun,
}

/// What a UDP association counts beside its bytes: datagrams each way, and where it sent.
#[derive(Debug, Default)]
pub(crate) struct UdpSeen {
    pub datagrams: Counters,
    /// The first [`TARGETS_LISTED`] targets, and whether there were more.
    targets: Mutex<(Vec<String>, bool)>,
}

impl UdpSeen {
    /// Notes a target the association sent to for the first time (the relay asks only
    /// for targets it has not seen: one short lock per new target, none per datagram).
    pub fn new_target(&self, target: &impl ToString) {
        let mut targets = lock(&self.targets);
        if targets.0.len() < TARGETS_LISTED {
            targets.0.push(target.to_string());
        } else {
            targets.1 = true;
        }
    }

    fn targets(&self) -> (Vec<String>, bool) {
        lock(&self.targets).clone()
    }
}

/// One open connection.
#[derive(Debug)]
pub(crate) struct Live {
    kind: Kind,
    client: ClientSocket,
    /// The program behind `client`, once the view has looked.
    process: OnceLock<Option<Process>>,
    pub target: String,
    /// The server's name; `None` for direct.
    via: Option<Arc<str>>,
    opened: Instant,
    pub bytes: Counters,
    /// For a UDP association.
    pub udp: Option<UdpSeen>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    open: BTreeMap<u64, Arc<Live>>,
    failures: VecDeque<Failure>,
}

/// Every open connection of one proxy, and its last failures.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

/// A connection's place in the registry: it leaves when this drops.
#[derive(Debug)]
pub(crate) struct Tracked {
    registry: Arc<Registry>,
    id: u64,
    pub live: Arc<Live>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
    }
}

impl Registry {
    pub fn open(
        self: &Arc<Self>,
        kind: Kind,
        client: ClientSocket,
        target: &impl ToString,
        via: Option<Arc<str>>,
    ) -> Tracked {
        let live = Arc::new(Live {
            kind,
            client,
            process: OnceLock::new(),
            target: target.to_string(),
            via,
            opened: Instant::now(),
            bytes: Counters::default(),
            udp: (kind == Kind::Udp).then(UdpSeen::default),
        });
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.open.insert(id, Arc::clone(&live));
        Tracked {
            registry: Arc::clone(self),
            id,
            live,
        }
    }

    /// Keeps a failure's reason (the oldest go first).
    pub fn failed(&self, client: SocketAddr, what: String, error: &ProxyError) {
        let failure = Failure {
            at_ms: now_ms(),
            client: client.to_string(),
            what,
            error: error.to_string(),
            message: error.message(),
        };
        let mut inner = self.lock();
        if inner.failures.len() == FAILURES_KEPT {
            inner.failures.pop_back();
        }
        inner.failures.push_front(failure);
    }

    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    /// The view; the programs behind connections listed for the first time are looked up
    /// (outside the lock: the OS's tables are read).
    pub fn view(&self) -> Connections {
        let (open, listed, failures) = {
            let inner = self.lock();
            let listed: Vec<Arc<Live>> = inner.open.values().rev().take(LISTED).cloned().collect();
            (
                inner.open.len(),
                listed,
                inner.failures.iter().cloned().collect(),
            )
        };
        let unknown: Vec<&Arc<Live>> = listed
            .iter()
            .filter(|live| live.process.get().is_none())
            .collect();
        let sockets: Vec<ClientSocket> = unknown.iter().map(|live| live.client).collect();
        for (live, process) in unknown.iter().zip(socket_owner::owners(&sockets)) {
            let _ = live.process.set(process);
        }
        let now = Instant::now();
        Connections {
            open,
            connections: listed
                .iter()
                .map(|live| Connection {
                    kind: live.kind,
                    client: live.client.local.to_string(),
                    process: live.process.get().cloned().flatten(),
                    target: live.target.clone(),
                    via: live.via.as_deref().map(str::to_string),
                    up: live.bytes.up.load(Relaxed),
                    down: live.bytes.down.load(Relaxed),
                    age_ms: now.duration_since(live.opened).as_millis() as u64,
                    udp: live.udp.as_ref().map(|seen| {
                        let (targets, more_targets) = seen.targets();
                        UdpView {
                            datagrams_up: seen.datagrams.up.load(Relaxed),
                            datagrams_down: seen.datagrams.down.load(Relaxed),
                            targets,
                            more_targets,
                        }
                    }),
                })
                .collect(),
            failures,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

/// What the Connections view shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Connections {
    /// How many are open (the list holds at most [`LISTED`]).
    pub open: usize,
    /// Newest first.
    pub connections: Vec<Connection>,
    /// Newest first, at most [`FAILURES_KEPT`].
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    pub kind: Kind,
    pub client: String,
    /// The program behind `client`, where the OS tells.
    pub process: Option<Process>,
    pub target: String,
    /// The server it goes through; `None`: straight from this machine.
    pub via: Option<String>,
    pub up: u64,
    pub down: u64,
    pub age_ms: u64,
    /// For a UDP association: its datagrams and targets.
    pub udp: Option<UdpView>,
}

/// A UDP association as the Connections view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UdpView {
    pub datagrams_up: u64,
    pub datagrams_down: u64,
    /// The first targets it sent to, in order.
    pub targets: Vec<String>,
    /// It sent to more targets than listed.
    pub more_targets: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub client: String,
    /// What was asked (`CONNECT example.com:443`, `GET http://…`).
    pub what: String,
    /// Why, in English.
    pub error: String,
    /// Why, for the window to say in the user's language.
    pub message: Message,
}

/// The wall clock in milliseconds since the Unix epoch: when a failure or a check happened,
/// as the window shows it.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn client(port: u16) -> ClientSocket {
        ClientSocket::tcp(
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from(([127, 0, 0, 1], 1)),
        )
    }

    #[test]
    fn lists_newest_first_forgets_closed_ones_and_bounds_both_lists() {
        let registry = Arc::new(Registry::default());
        let a = registry.open(Kind::Connect, client(1), &"a.example:443", None);
        let b = registry.open(Kind::Socks, client(2), &"b.example:22", Some("Home".into()));
        b.live.bytes.up.fetch_add(5, Relaxed);
        b.live.bytes.down.fetch_add(7, Relaxed);
        let view = registry.view();
        assert_eq!(view.open, 2);
        let targets: Vec<&str> = view.connections.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(targets, ["b.example:22", "a.example:443"]);
        let first = &view.connections[0];
        assert_eq!((first.up, first.down), (5, 7));
        assert_eq!(first.via.as_deref(), Some("Home"));
        assert_eq!(first.client, "127.0.0.1:2");
        assert_eq!(view.connections[1].via, None);
        drop(b);
        assert_eq!(registry.view().connections.len(), 1);
        drop(a);
        assert_eq!(registry.view(), Connections::default());

        let many: Vec<Tracked> = (0..LISTED + 5)
            .map(|i| registry.open(Kind::Http, client(3), &format!("t{i}:80"), None))
            .collect();
        let view = registry.view();
        assert_eq!((view.open, view.connections.len()), (LISTED + 5, LISTED));
        assert_eq!(view.connections[0].target, format!("t{}:80", LISTED + 4));
        drop(many);

        for i in 0..FAILURES_KEPT + 3 {
            let refused = ProxyError::Loop {
                target: format!("t{i}:443"),
            };
            registry.failed(client(4).local, format!("CONNECT t{i}:443"), &refused);
        }
        let failures = registry.view().failures;
        assert_eq!(failures.len(), FAILURES_KEPT);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let at = Duration::from_millis(failures[0].at_ms);
        assert!(
            now.abs_diff(at) < Duration::from_secs(60),
            "stamped with the time: {at:?}"
        );
        assert_eq!(
            failures[0].what,
            format!("CONNECT t{}:443", FAILURES_KEPT + 2)
        );
        assert_eq!(failures[FAILURES_KEPT - 1].what, "CONNECT t3:443");
    }
}
