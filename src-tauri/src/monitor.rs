//! Background: transfer speed every second (from the core's byte counters), and the
//! core's server checks and switches as they happen. Each is announced; a server going
//! down and traffic moving to another server also raise a desktop notification.

use std::time::{Duration, Instant};

use socksbridge::health::HealthEvent;
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;

use crate::state::{AppState, Speed};

const TICK: Duration = Duration::from_secs(1);

pub async fn speed_loop<R: Runtime>(app: AppHandle<R>) {
    let mut last: Option<(Instant, u64, u64)> = None;
    loop {
        tokio::time::sleep(TICK).await;
        let state = app.state::<AppState>();
        let status = state.controller.status().await;
        let now = Instant::now();
        let (up, down) = (status.stats.bytes_up, status.stats.bytes_down);
        let speed = match last {
            Some((then, u, d)) if status.running && up >= u && down >= d => {
                let secs = now.duration_since(then).as_secs_f64().max(0.001);
                Speed {
                    up_bps: (up - u) as f64 / secs,
                    down_bps: (down - d) as f64 / secs,
                }
            }
            _ => Speed::default(),
        };
        last = status.running.then_some((now, up, down));
        // Running, the counters (connections, bytes) move even at zero speed.
        if state.set_speed(speed) != speed || status.running {
            state.announce();
        }
    }
}

pub async fn health_events<R: Runtime>(app: AppHandle<R>) {
    let mut events = app.state::<AppState>().controller.subscribe();
    let mut was_down = false;
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        match &event {
            HealthEvent::Checked {
                server,
                in_use: true,
                check,
            } => {
                if !check.ok && !was_down {
                    let error = check.error.as_deref().unwrap_or_default();
                    tracing::warn!("{server} is unreachable: {error}");
                    crate::actions::notify_event(&app, &event).await;
                }
                was_down = !check.ok;
            }
            HealthEvent::Switched { .. } => {
                was_down = false;
                crate::actions::notify_event(&app, &event).await;
            }
            HealthEvent::Checked { .. } => {}
        }
        app.state::<AppState>().announce();
    }
}
