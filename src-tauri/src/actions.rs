//! Everything a person can do, from the tray or the settings window. Each action changes
//! state only through the core's controller, and announces the change once; the tray and
//! the window redraw from that announcement, never from the action itself.

use std::time::Duration;

use serde::Serialize;
use socksbridge::config::{store, FieldError, Settings, SystemProxyMode, Upstream};
use socksbridge::controller::{ControlError, NetworkRefresh};
use socksbridge::system_proxy::env::{commands, Shell};
use socksbridge::target::Target;
use tauri::{AppHandle, Manager, Runtime};

use crate::state::{AppState, Health};

/// How long the Test button may wait at each step (connect, handshake).
const TEST_LIMIT: Duration = Duration::from_secs(10);

/// A failed action, as the window shows it: field errors to show inline, or one message.
#[derive(Debug, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionError {
    #[error("invalid settings")]
    Invalid { fields: Vec<FieldError> },
    #[error("{message}")]
    Failed { message: String },
}

impl ActionError {
    pub fn failed(e: impl std::fmt::Display) -> ActionError {
        ActionError::Failed {
            message: e.to_string(),
        }
    }
}

impl From<ControlError> for ActionError {
    fn from(e: ControlError) -> ActionError {
        match e {
            ControlError::Invalid(errors) => ActionError::Invalid { fields: errors.0 },
            other => ActionError::failed(other),
        }
    }
}

/// Turns the proxy (and the system proxy, per the settings) on or off.
pub async fn set_enabled<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), ActionError> {
    let state = app.state::<AppState>();
    let result = if on {
        state.controller.start().await.map(|_| ())
    } else {
        state.controller.stop().await
    };
    state.announce();
    // Check the upstream now rather than at the next periodic check.
    tauri::async_runtime::spawn(check_health(app.clone()));
    result.map_err(ActionError::from)
}

/// The tray's toggle: on when off, off when on.
pub async fn toggle<R: Runtime>(app: &AppHandle<R>) -> Result<(), ActionError> {
    let running = app.state::<AppState>().controller.status().await.running;
    set_enabled(app, !running).await
}

/// Applies new settings, then saves them. Either both happen or neither: a file that
/// cannot be written puts the previous settings back, so the file, the app and the
/// running proxy never disagree.
pub async fn save<R: Runtime>(app: &AppHandle<R>, settings: Settings) -> Result<(), ActionError> {
    let state = app.state::<AppState>();
    let _one_at_a_time = state.saving.lock().await;
    let previous = state.controller.settings().await;
    let result = apply_and_store(&state, &previous, &settings).await;
    if result.is_ok() {
        state.clear_notice();
        if settings.app.start_at_login != previous.app.start_at_login {
            crate::autostart::sync(app, settings.app.start_at_login);
        }
    }
    state.announce();
    result
}

async fn apply_and_store(
    state: &AppState,
    previous: &Settings,
    settings: &Settings,
) -> Result<(), ActionError> {
    state.controller.apply(settings.clone()).await?;
    if let Err(e) = store::save(&state.settings_path, settings) {
        let undo = state.controller.apply(previous.clone()).await;
        return Err(ActionError::failed(match undo {
            Ok(()) => format!("cannot save settings: {e}; the previous settings stay in use"),
            Err(undo) => format!(
                "cannot save settings: {e}; the new settings are in use until the app quits \
                 (going back failed: {undo})"
            ),
        }));
    }
    Ok(())
}

/// The system-proxy submenu: the saved settings with another mode.
pub async fn set_system_proxy_mode<R: Runtime>(
    app: &AppHandle<R>,
    mode: SystemProxyMode,
) -> Result<(), ActionError> {
    let mut settings = app.state::<AppState>().controller.settings().await;
    settings.system_proxy.mode = mode;
    save(app, settings).await
}

/// The commands that point a terminal at the proxy, for the user's shell.
pub async fn terminal_command(state: &AppState) -> String {
    let config = state.controller.config().await;
    let listen = state
        .controller
        .status()
        .await
        .listen
        .unwrap_or(config.proxy.listen);
    commands(Shell::detect(), listen, &config.system_proxy.bypass)
}

pub async fn copy_terminal_command<R: Runtime>(app: &AppHandle<R>) -> Result<(), ActionError> {
    let text = terminal_command(&app.state::<AppState>()).await;
    let clipboard = app
        .try_state::<tauri_plugin_clipboard_manager::Clipboard<R>>()
        .ok_or_else(|| ActionError::failed("no clipboard in this session"))?;
    clipboard
        .write_text(text.trim_end())
        .map_err(ActionError::failed)
}

/// Dials `target` through `upstream` (not necessarily saved; reached through the HTTP
/// proxy `via` when given) and returns how long it took, or the exact failure: the
/// window's Test button.
pub async fn test_upstream(
    upstream: &str,
    via: Option<&str>,
    target: &str,
) -> Result<Duration, ActionError> {
    let invalid = |field: &str, message: String| ActionError::Invalid {
        fields: vec![FieldError {
            field: field.into(),
            message,
        }],
    };
    let upstream = Upstream::parse(upstream).map_err(|e| invalid("upstream", e.to_string()))?;
    let via = via
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Upstream::parse_via)
        .transpose()
        .map_err(|e| invalid("upstream_via", e.to_string()))?;
    let target = Target::parse_authority(target.trim()).map_err(|e| {
        invalid(
            "app.probe_target",
            format!("'{target}' is not host:port: {e}"),
        )
    })?;
    socksbridge::probe(&upstream, via.as_ref(), &target, TEST_LIMIT)
        .await
        .map_err(ActionError::failed)
}

/// One upstream check through the running proxy; a notification on the way down.
pub async fn check_health<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<AppState>();
    let settings = state.controller.settings().await;
    let probe = match Target::parse_authority(settings.app.probe_target.trim()) {
        Ok(target) => state.controller.probe_upstream(&target).await,
        Err(_) => None,
    };
    let health = match probe {
        None => Health::Unknown,
        Some(Ok(latency)) => Health::Ok {
            latency_ms: latency.as_secs_f64() * 1000.0,
        },
        Some(Err(e)) => Health::Down {
            error: e.to_string(),
        },
    };
    let previous = state.set_health(health.clone());
    if let (Health::Down { error }, false) = (&health, matches!(previous, Health::Down { .. })) {
        tracing::warn!("upstream unreachable: {error}");
        if settings.app.notify_upstream_down {
            let lang = crate::i18n::Language::resolve(&settings.app.language);
            notify(&app, &lang.t("notify.down_title", &[]), error);
        }
    }
    if health != previous {
        state.announce();
    }
}

/// A desktop notification, where the session has the plugin for it.
fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    if let Some(notification) = app.try_state::<tauri_plugin_notification::Notification<R>>() {
        let _ = notification.builder().title(title).body(body).show();
    }
}

/// After a resume or a network change (`reason` says which): pooled upstream connections
/// go, the OS setting is applied again only while it is still ours, and the upstream is
/// re-tested at once.
pub async fn network_changed<R: Runtime>(app: &AppHandle<R>, reason: &str) {
    let state = app.state::<AppState>();
    match state.controller.network_changed().await {
        Ok(NetworkRefresh::NotRunning) => tracing::info!("{reason}; the proxy is off"),
        Ok(NetworkRefresh::PoolDropped) => {
            tracing::info!("{reason}: pooled upstream connections dropped")
        }
        Ok(NetworkRefresh::Reapplied) => tracing::info!(
            "{reason}: pooled upstream connections dropped, system proxy applied again"
        ),
        Ok(NetworkRefresh::LeftUsersSetting) => tracing::info!(
            "{reason}: pooled upstream connections dropped; the system proxy was changed \
             by the user and is left as it is"
        ),
        Err(e) => tracing::warn!("{reason}: {e}"),
    }
    check_health(app.clone()).await;
}
