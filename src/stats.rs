//! Live counters for the tray and the settings window: relaxed atomics, cheap enough to
//! stay on in the hot path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use serde::Serialize;

use crate::error::ErrorKind;
use crate::heap::BurstWatch;

#[derive(Debug, Default)]
pub struct Stats {
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    active: AtomicU64,
    total: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    pub(crate) bursts: BurstWatch,
}

/// A point-in-time copy of the live counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Bytes received from clients.
    pub bytes_up: u64,
    /// Bytes sent to clients.
    pub bytes_down: u64,
    pub active_connections: u64,
    pub total_connections: u64,
    /// Error counts by kind name; zero kinds are included so the shape is stable.
    pub errors: Vec<(ErrorKind, u64)>,
}

impl StatsSnapshot {
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

impl Stats {
    pub fn add_up(&self, n: u64) {
        self.bytes_up.fetch_add(n, Relaxed);
    }

    pub fn add_down(&self, n: u64) {
        self.bytes_down.fetch_add(n, Relaxed);
    }

    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Relaxed);
    }

    /// Counts a connection as active until the guard drops.
    pub fn connection(self: &Arc<Self>) -> ActiveGuard {
        self.total.fetch_add(1, Relaxed);
        let open = self.active.fetch_add(1, Relaxed) + 1;
        self.bursts.opened(open);
        ActiveGuard(Arc::clone(self))
    }

    /// Open connections right now.
    pub fn active(&self) -> u64 {
        self.active.load(Relaxed)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            bytes_up: self.bytes_up.load(Relaxed),
            bytes_down: self.bytes_down.load(Relaxed),
            active_connections: self.active.load(Relaxed),
            total_connections: self.total.load(Relaxed),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (*k, self.errors[k.index()].load(Relaxed)))
                .collect(),
        }
    }
}

/// Decrements the active count on drop.
#[derive(Debug)]
pub struct ActiveGuard(Arc<Stats>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let open = self.0.active.fetch_sub(1, Relaxed) - 1;
        self.0.bursts.closed(open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_connections_bytes_and_errors() {
        let stats = Arc::new(Stats::default());
        {
            let _a = stats.connection();
            let _b = stats.connection();
            assert_eq!(stats.snapshot().active_connections, 2);
        }
        stats.add_up(5);
        stats.add_down(7);
        stats.error(ErrorKind::Timeout);
        let snap = stats.snapshot();
        assert_eq!((snap.active_connections, snap.total_connections), (0, 2));
        assert_eq!((snap.bytes_up, snap.bytes_down), (5, 7));
        assert_eq!(snap.errors_of(ErrorKind::Timeout), 1);
        assert_eq!(snap.errors_of(ErrorKind::Loop), 0);
    }
}
