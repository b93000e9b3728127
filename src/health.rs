//! Checking the servers while the proxy is on: the server in use every interval (and at
//! once after a resume or a network change), the others only when failover needs them.
//! A check dials the probe target through the server, as traffic would, and closes the
//! connection: one small handshake, never on the data path. Results go on the [`Board`]
//! (the last one per server, for the tray and the window) and out as [`HealthEvent`]s; the
//! [`Failover`] policy decides, and a [`Switcher`] moves the data path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{broadcast, Notify};

use crate::config::{FailoverConfig, Server};
use crate::failover::{Failover, Rules};
use crate::message::Message;
use crate::sync::lock;

/// The last check of one server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub ok: bool,
    /// How long the dial took, when it worked.
    pub latency_ms: Option<f64>,
    /// Why it failed, when it did (English).
    pub error: Option<String>,
    /// Why it failed, for the window and the tray to say in the user's language.
    pub message: Option<Message>,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Whether the server carries UDP, learnt with the check when it works (`None`: UDP is
    /// off in the settings, or the check failed before it could tell).
    pub udp: Option<UdpCheck>,
}

/// Whether a server carries UDP: its SOCKS5 relay opened, or why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UdpCheck {
    pub ok: bool,
    /// Why not, when not.
    pub message: Option<Message>,
}

/// What the checks found and did, for whoever listens (the app notifies, the CLI logs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HealthEvent {
    Checked {
        server: String,
        /// Whether traffic goes through this server right now.
        in_use: bool,
        check: Check,
    },
    /// Traffic moved from one server to another: `back` when to the chosen one.
    Switched {
        from: String,
        to: String,
        back: bool,
    },
}

/// The last check per server, the event channel, and the bell that asks for a check now.
#[derive(Debug)]
pub struct Board {
    checks: Mutex<HashMap<String, Check>>,
    events: broadcast::Sender<HealthEvent>,
    pub(crate) wake: Notify,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            checks: Mutex::new(HashMap::new()),
            events: broadcast::channel(64).0,
            wake: Notify::new(),
        }
    }
}

impl Board {
    pub fn last(&self, server: &str) -> Option<Check> {
        self.lock().get(server).cloned()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HealthEvent> {
        self.events.subscribe()
    }

    /// Forgets servers no longer in the list.
    pub(crate) fn retain(&self, servers: &[Server]) {
        self.lock()
            .retain(|name, _| servers.iter().any(|s| &s.name == name));
    }

    fn record(&self, server: &str, in_use: bool, check: Check) {
        self.lock().insert(server.to_string(), check.clone());
        let _ = self.events.send(HealthEvent::Checked {
            server: server.to_string(),
            in_use,
            check,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Check>> {
        lock(&self.checks)
    }
}

/// What became of a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switched {
    Done,
    /// The settings changed meanwhile: this round of checks is over.
    Stale,
    /// The data path could not move (logged); the checks go on.
    Failed,
}

/// Moves the data path from one server to another.
pub(crate) trait Switcher {
    fn switch(&self, from: usize, to: usize) -> impl std::future::Future<Output = Switched> + Send;
}

/// What one round of checks works on: one applied settings generation.
#[derive(Debug)]
pub(crate) struct Plan {
    pub servers: Vec<Server>,
    pub preferred: usize,
    pub current: usize,
    pub failover: FailoverConfig,
    /// How long one check may take at each step.
    pub limit: Duration,
    /// When the last switch happened (in an earlier round too): the hold-down counts from it.
    pub last_switch: Option<Instant>,
    /// Whether UDP is relayed, so each check also learns whether the server carries it.
    pub udp: bool,
}

/// Checks and fails over until aborted (the controller aborts it on stop and on new
/// settings).
pub(crate) async fn run(plan: Plan, board: &Board, switcher: impl Switcher) {
    let rules = Rules::new(&plan.failover, plan.servers.len());
    let mut policy = Failover::new(rules, plan.preferred, plan.current, plan.last_switch);
    loop {
        let current = policy.current();
        let ok = check(&plan, board, current, true).await;
        let mut outcome = None;
        if policy.current_checked(ok, Instant::now()) {
            // Never onto `direct://` by itself: that would take traffic meant for a proxy
            // (Tor, a VPN's SOCKS) onto the open network.
            let candidates = policy
                .candidates()
                .filter(|&i| !plan.servers[i].upstream.is_direct());
            for candidate in candidates.collect::<Vec<_>>() {
                if check(&plan, board, candidate, false).await {
                    outcome = Some(switch(&plan, board, &switcher, &mut policy, candidate).await);
                    break;
                }
            }
        } else if ok && policy.watching_preferred() {
            let preferred = policy.preferred();
            let up = check(&plan, board, preferred, false).await;
            if policy.preferred_checked(up, Instant::now()) {
                outcome = Some(switch(&plan, board, &switcher, &mut policy, preferred).await);
            }
        }
        if outcome == Some(Switched::Stale) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(plan.failover.interval) => {}
            () = board.wake.notified() => {}
        }
    }
}

async fn switch(
    plan: &Plan,
    board: &Board,
    switcher: &impl Switcher,
    policy: &mut Failover,
    to: usize,
) -> Switched {
    let from = policy.current();
    let outcome = switcher.switch(from, to).await;
    if outcome != Switched::Done {
        return outcome;
    }
    policy.switched(to, Instant::now());
    let (from, to, back) = (
        plan.servers[from].name.clone(),
        plan.servers[to].name.clone(),
        to == plan.preferred,
    );
    if back {
        tracing::info!("{to} works again; switched back from {from}");
    } else {
        tracing::warn!("{from} failed its checks; switched to {to}");
    }
    let _ = board.events.send(HealthEvent::Switched { from, to, back });
    Switched::Done
}

/// Checks one server and records the result; true when it works. A `direct://` entry has
/// nothing to check and always works.
async fn check(plan: &Plan, board: &Board, index: usize, in_use: bool) -> bool {
    let server = &plan.servers[index];
    if server.upstream.is_direct() {
        return true;
    }
    let result = crate::dial::probe(
        &server.upstream,
        server.via.as_ref(),
        &plan.failover.target,
        plan.limit,
    )
    .await;
    let at_ms = crate::connections::now_ms();
    let check = match result {
        Ok(latency) => Check {
            ok: true,
            latency_ms: Some(latency.as_secs_f64() * 1000.0),
            error: None,
            message: None,
            at_ms,
            udp: match plan.udp {
                true => Some(udp_check(server, plan.limit).await),
                false => None,
            },
        },
        Err(e) => {
            tracing::debug!("check of {}: {e}", server.name);
            Check {
                ok: false,
                latency_ms: None,
                error: Some(e.to_string()),
                message: Some(e.message()),
                at_ms,
                udp: None,
            }
        }
    };
    let ok = check.ok;
    board.record(&server.name, in_use, check);
    ok
}

async fn udp_check(server: &Server, limit: Duration) -> UdpCheck {
    match crate::socks::probe_udp(&server.upstream, server.via.as_ref(), limit).await {
        Ok(()) => UdpCheck {
            ok: true,
            message: None,
        },
        Err(e) => {
            tracing::debug!("UDP check of {}: {e}", server.name);
            UdpCheck {
                ok: false,
                message: Some(e.message()),
            }
        }
    }
}
