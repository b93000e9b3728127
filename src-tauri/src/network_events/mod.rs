//! Resume from sleep and network changes, which can leave pooled upstream connections dead
//! and a new network without our setting. Each OS has a [`Source`] of [`Event`]s; a burst
//! of them (coalesced over [`SETTLE`]) becomes one `actions::network_changed`: pooled
//! connections dropped, the server in use re-checked, and the OS setting applied again
//! only while it is still ours — something the user turned off stays off.
//!
//! Sources: the portable one (`portable.rs`, every OS) notices a sleep by the wall clock
//! jumping ahead of the time it waited, and a network change by the machine's addresses
//! changing, within a few seconds; on Linux logind and NetworkManager also say so at once
//! on the system bus (`dbus.rs`). Both feeding one settle window, a resume both notice is
//! still one refresh when they agree within it, and at worst two.

#[cfg(target_os = "linux")]
mod dbus;
mod portable;

use std::future::Future;
use std::time::Duration;

use tauri::{AppHandle, Runtime};
use tokio::sync::mpsc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Resumed,
    NetworkChanged,
}

impl Event {
    pub fn reason(self) -> &'static str {
        match self {
            Event::Resumed => "resumed from sleep",
            Event::NetworkChanged => "the network changed",
        }
    }
}

/// Where events come from: sends them until it cannot watch any more (an error says why).
pub trait Source: Send + 'static {
    fn run(self, events: mpsc::Sender<Event>) -> impl Future<Output = Result<(), String>> + Send;
}

/// Events within this time of the first are one change (a network sends bursts); a steady
/// stream still gets one refresh per window, never none.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Starts watching, for the life of the app.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    let (events, received) = mpsc::channel(16);
    tauri::async_runtime::spawn(settle(received, move |event| {
        let app = app.clone();
        async move { crate::actions::network_changed(&app, event.reason()).await }
    }));
    #[cfg(target_os = "linux")]
    {
        let events = events.clone();
        tauri::async_runtime::spawn(async move {
            if let Err(e) = dbus::Bus.run(events).await {
                tracing::info!("logind and NetworkManager are not watched: {e}");
            }
        });
    }
    tauri::async_runtime::spawn(async move {
        if let Err(e) = portable::Portable::default().run(events).await {
            tracing::info!("the clock and the addresses are not watched: {e}");
        }
    });
}

/// Takes each burst of events for [`SETTLE`] from its first, then acts once. A resume
/// explains the network events around it, so a burst with one is reported as a resume.
pub async fn settle<F, Fut>(mut received: mpsc::Receiver<Event>, mut act: F)
where
    F: FnMut(Event) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(first) = received.recv().await {
        let mut event = first;
        let until = tokio::time::Instant::now() + SETTLE;
        while let Ok(Some(next)) = tokio::time::timeout_at(until, received.recv()).await {
            if next == Event::Resumed {
                event = Event::Resumed;
            }
        }
        act(event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn bursts_become_one_action_and_a_resume_names_its_burst() {
        let (events, received) = mpsc::channel(16);
        let acted = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&acted);
        let settling = tokio::spawn(settle(received, move |event| {
            let log = Arc::clone(&log);
            async move {
                log.lock()
                    .unwrap()
                    .push((tokio::time::Instant::now(), event))
            }
        }));
        let t0 = tokio::time::Instant::now();
        let at = |ms: u64, event: Event| {
            let events = events.clone();
            async move {
                tokio::time::sleep_until(t0 + Duration::from_millis(ms)).await;
                events.send(event).await.unwrap();
            }
        };
        // One burst with a resume in the middle, a lone change, then a steady stream.
        at(0, Event::NetworkChanged).await;
        at(500, Event::Resumed).await;
        at(1500, Event::NetworkChanged).await;
        at(5000, Event::NetworkChanged).await;
        for ms in (9000..14000).step_by(700) {
            at(ms, Event::NetworkChanged).await;
        }
        tokio::time::sleep_until(t0 + Duration::from_secs(20)).await;
        drop(events);
        settling.await.unwrap();
        let seen: Vec<(u128, Event)> = acted
            .lock()
            .unwrap()
            .iter()
            .map(|(when, event)| ((*when - t0).as_millis(), *event))
            .collect();
        // A steady stream (every 0.7 s from 9 s) is one refresh per 2 s window.
        assert_eq!(
            seen,
            [
                (2000, Event::Resumed),
                (7000, Event::NetworkChanged),
                (11000, Event::NetworkChanged),
                (13100, Event::NetworkChanged),
                (15200, Event::NetworkChanged),
            ]
        );
    }
}
