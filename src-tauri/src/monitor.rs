//! Background measurements: transfer speed every second (from the core's byte counters)
//! and an upstream check every 15 s. Each result goes into the state and is announced.

use std::time::{Duration, Instant};

use tauri::{AppHandle, Manager, Runtime};

use crate::state::{AppState, Speed};

const TICK: Duration = Duration::from_secs(1);
const HEALTH_EVERY: Duration = Duration::from_secs(15);

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

pub async fn health_loop<R: Runtime>(app: AppHandle<R>) {
    loop {
        crate::actions::check_health(app.clone()).await;
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}
