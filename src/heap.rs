//! Giving freed heap back to the operating system after a burst of connections.
//!
//! glibc keeps what a thread frees in that thread's arena and only returns the top of an
//! arena, so a proxy that once held a thousand tunnels stays at that size long after they
//! closed, although the memory is free. `malloc_trim(0)` walks every arena and hands free
//! pages back with `madvise`. It briefly locks each arena (under a millisecond after a
//! thousand tunnels), so it runs once a burst has settled — many connections arrived, or
//! many closed, and then nothing moved for a second — and once more when what outlives a
//! burst (pooled upstream connections and their buffers) has expired; an idle proxy never
//! wakes up for it. Trimming after arrivals too, not only after closes, makes the memory of
//! connections that stay open independent of how they arrived: a thousand tunnels opened
//! at once leave as little behind as a thousand opened one by one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::Notify;

/// Bursts smaller than this leave too little behind to be worth a trim.
const MIN_BURST: u64 = 32;
/// Connections come and go in waves; trim once nothing has moved for this long.
const SETTLE: Duration = Duration::from_secs(1);
/// Under a steady stream of connections nothing ever settles: trim after this anyway.
const MAX_SETTLE: Duration = Duration::from_secs(10);

/// Watches connections open and close, and asks for a trim after a burst: at least
/// [`MIN_BURST`] arrivals since the last trim, or the open count fallen to half its peak.
#[derive(Debug, Default)]
pub struct BurstWatch {
    peak: AtomicU64,
    /// Connections opened since the last trim.
    arrivals: AtomicU64,
    /// Every open and close: a burst has settled when this stops moving.
    events: AtomicU64,
    /// A trim is already asked for: the rest of the same burst need not ask again.
    asked: AtomicBool,
    ended: Notify,
    trims: AtomicU64,
}

impl BurstWatch {
    /// A connection opened; `open` is the count including it.
    pub fn opened(&self, open: u64) {
        self.peak.fetch_max(open, Relaxed);
        self.events.fetch_add(1, Relaxed);
        if self.arrivals.fetch_add(1, Relaxed) + 1 >= MIN_BURST {
            self.ask();
        }
    }

    /// A connection closed; `open` is the count without it.
    pub fn closed(&self, open: u64) {
        self.events.fetch_add(1, Relaxed);
        if burst_ended(self.peak.load(Relaxed), open) {
            self.ask();
        }
    }

    fn ask(&self) {
        if !self.asked.swap(true, Relaxed) {
            self.ended.notify_one();
        }
    }

    /// Waits until no connection opened or closed for [`SETTLE`], at most [`MAX_SETTLE`].
    async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + MAX_SETTLE;
        loop {
            let seen = self.events.load(Relaxed);
            tokio::time::sleep(SETTLE).await;
            if self.events.load(Relaxed) == seen || tokio::time::Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Trims after every burst, and again `linger` later, until dropped. `open` reads the
    /// current count of connections.
    pub async fn trim_after_bursts(&self, open: impl Fn() -> u64, linger: Duration) {
        let mut follow_up: Option<tokio::time::Instant> = None;
        loop {
            let burst = match follow_up {
                Some(at) => tokio::select! {
                    () = self.ended.notified() => true,
                    () = tokio::time::sleep_until(at) => false,
                },
                None => {
                    self.ended.notified().await;
                    true
                }
            };
            if burst {
                self.settled().await;
                self.peak.store(open(), Relaxed);
                self.arrivals.store(0, Relaxed);
                self.asked.store(false, Relaxed);
                follow_up = Some(tokio::time::Instant::now() + linger);
            } else {
                follow_up = None;
            }
            self.trims.fetch_add(1, Relaxed);
            let started = std::time::Instant::now();
            let released = release_free_memory();
            tracing::debug!(
                released,
                took_us = started.elapsed().as_micros() as u64,
                "gave free heap back ({})",
                if burst {
                    "a burst ended"
                } else {
                    "after the burst's pooled connections expired"
                }
            );
        }
    }
}

/// Whether falling to `open` connections from `peak` ends a burst worth trimming after.
fn burst_ended(peak: u64, open: u64) -> bool {
    peak >= MIN_BURST && open <= peak / 2
}

/// Returns free heap pages to the OS; true if any came back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() -> bool {
    // SAFETY: malloc_trim takes no pointers and has no preconditions; glibc locks each
    // arena itself while it works.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Other allocators (musl, macOS, Windows) return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_ends_at_half_its_peak() {
        for (peak, open, ended) in [
            (0, 0, false),
            (31, 0, false),
            (32, 17, false),
            (32, 16, true),
            (1000, 0, true),
            (1000, 499, true),
            (1000, 501, false),
        ] {
            assert_eq!(burst_ended(peak, open), ended, "peak {peak}, open {open}");
        }
    }

    const LINGER: Duration = Duration::from_secs(100);

    #[tokio::test(start_paused = true)]
    async fn trims_once_the_burst_settles_again_after_the_linger_and_starts_over() {
        let watch = std::sync::Arc::new(BurstWatch::default());
        let open = std::sync::Arc::new(AtomicU64::new(0));
        let trimmer = {
            let (watch, open) = (watch.clone(), open.clone());
            tokio::spawn(
                async move { watch.trim_after_bursts(|| open.load(Relaxed), LINGER).await },
            )
        };
        for n in 1..=40 {
            open.store(n, Relaxed);
            watch.opened(n);
        }
        for n in (0..40).rev() {
            open.store(n, Relaxed);
            watch.closed(n);
        }
        assert_eq!(watch.peak.load(Relaxed), 40);
        tokio::time::sleep(SETTLE * 2).await;
        // One trim for the whole burst, and the next burst is measured from what is open now.
        assert_eq!(watch.trims.load(Relaxed), 1);
        assert_eq!(watch.peak.load(Relaxed), 0);
        tokio::time::sleep(SETTLE * 5).await;
        assert_eq!(
            watch.trims.load(Relaxed),
            1,
            "nothing more until the linger is over"
        );
        tokio::time::sleep(LINGER).await;
        assert_eq!(
            watch.trims.load(Relaxed),
            2,
            "one more once the linger is over"
        );
        tokio::time::sleep(LINGER * 3).await;
        assert_eq!(
            watch.trims.load(Relaxed),
            2,
            "and then none without a new burst"
        );
        // A small burst is not worth one; a large one is.
        for (peak, trims) in [(10, 2), (100, 3)] {
            for n in 1..=peak {
                watch.opened(n);
            }
            for n in (0..peak).rev() {
                watch.closed(n);
            }
            tokio::time::sleep(SETTLE * 2).await;
            assert_eq!(watch.trims.load(Relaxed), trims, "after a burst of {peak}");
        }
        trimmer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn connections_that_arrive_together_and_stay_get_one_trim_once_they_settle() {
        let watch = std::sync::Arc::new(BurstWatch::default());
        let trimmer = {
            let watch = watch.clone();
            tokio::spawn(async move { watch.trim_after_bursts(|| 40, LINGER).await })
        };
        // 40 tunnels arrive in waves half a second apart, and stay open.
        for wave in 0..4 {
            for n in 1..=10 {
                watch.opened(wave * 10 + n);
            }
            tokio::time::sleep(SETTLE / 2).await;
        }
        assert_eq!(watch.trims.load(Relaxed), 0, "not while they still arrive");
        tokio::time::sleep(SETTLE * 2).await;
        assert_eq!(
            watch.trims.load(Relaxed),
            1,
            "once nothing moved for a second"
        );
        // A few more later are not a burst.
        for n in 41..=50 {
            watch.opened(n);
        }
        tokio::time::sleep(SETTLE * 5).await;
        assert_eq!(watch.trims.load(Relaxed), 1);

        // A stream that never settles still gets its trim, bounded.
        let stream_start = tokio::time::Instant::now();
        let stream = {
            let watch = watch.clone();
            tokio::spawn(async move {
                for n in 0..10_000u64 {
                    watch.opened(60 + n);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        while watch.trims.load(Relaxed) < 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(stream_start.elapsed() <= MAX_SETTLE + SETTLE * 2);
        stream.abort();
        trimmer.abort();
    }
}
