//! Background measurements: transfer speed every second (from the core's byte
//! counters) and upstream health every 15 s through the configured probe target, with a
//! notification when the upstream goes down.

use std::time::{Duration, Instant};

use tauri::{AppHandle, Manager, Runtime};

use crate::state::{AppState, Health, Speed};

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
        state.set_speed(speed);
        crate::tray::refresh(&app).await;
    }
}

pub async fn health_loop<R: Runtime>(app: AppHandle<R>) {
    loop {
        check_health(app.clone()).await;
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}

/// One upstream check; notifies on the transition to down.
pub async fn check_health<R: Runtime>(app: AppHandle<R>) {
    let app = &app;
    let state = app.state::<AppState>();
    let status = state.controller.status().await;
    if !status.running || status.upstream == "direct://" {
        state.set_health(Health::Unknown);
        return;
    }
    let config = state.controller.config().await;
    let settings = state.settings();
    let health =
        match crate::commands::probe(&config.upstream.to_url(), &settings.app.probe_target).await {
            Ok(latency) => Health::Ok {
                latency_ms: latency.as_secs_f64() * 1000.0,
            },
            Err(e) => Health::Down {
                error: e.to_string(),
            },
        };
    let previous = state.set_health(health.clone());
    if let (Health::Down { error }, false) = (&health, matches!(previous, Health::Down { .. })) {
        tracing::warn!("upstream unreachable: {error}");
        if settings.app.notify_upstream_down {
            use tauri_plugin_notification::NotificationExt;
            let _ = app
                .notification()
                .builder()
                .title("SocksBridge: upstream unreachable")
                .body(error)
                .show();
        }
    }
    crate::tray::refresh(app).await;
}
