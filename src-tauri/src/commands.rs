//! The commands the settings window may call (and nothing else: see capabilities/).
//! Each is a few lines over the core; errors are one serializable type.

use std::time::Duration;

use serde::Serialize;
use socksbridge::config::{store, FieldError, SystemProxyMode};
use socksbridge::dial::Dialer;
use socksbridge::system_proxy::env::{commands, Shell};
use socksbridge::target::Target;
use socksbridge::Settings;
use tauri::{AppHandle, Runtime, State};

use crate::logs::LogLine;
use crate::state::{AppState, AppView};

/// What a failed command returns to the window: field-level errors to show inline, or
/// one message.
#[derive(Debug, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandError {
    #[error("invalid settings")]
    Invalid { fields: Vec<FieldError> },
    #[error("{message}")]
    Failed { message: String },
}

impl CommandError {
    pub fn failed(e: impl std::fmt::Display) -> CommandError {
        CommandError::Failed {
            message: e.to_string(),
        }
    }
}

#[tauri::command]
pub async fn get_state(state: State<'_, AppState>) -> Result<AppView, CommandError> {
    Ok(state.view().await)
}

#[tauri::command]
pub fn validate_settings(settings: Settings) -> Vec<FieldError> {
    settings.validate().err().map(|e| e.0).unwrap_or_default()
}

/// Validates, saves and applies at once: the listener restarts only if its address
/// changed, running tunnels survive a system-proxy mode change.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<AppView, CommandError> {
    save(&app, &state, settings).await
}

pub async fn save<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    settings: Settings,
) -> Result<AppView, CommandError> {
    let config = settings
        .validate()
        .map_err(|e| CommandError::Invalid { fields: e.0 })?;
    store::save(&state.settings_path, &settings)
        .map_err(|e| CommandError::failed(format!("cannot save settings: {e}")))?;
    let autostart = settings.app.start_at_login;
    state.set_settings(settings);
    state
        .controller
        .apply(config)
        .await
        .map_err(CommandError::failed)?;
    crate::autostart::sync(app, autostart);
    crate::tray::refresh(app).await;
    Ok(state.view().await)
}

#[tauri::command]
pub async fn set_enabled<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    on: bool,
) -> Result<AppView, CommandError> {
    enable(&app, &state, on).await
}

pub async fn enable<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    on: bool,
) -> Result<AppView, CommandError> {
    let result = if on {
        state.controller.start().await.map(|_| ())
    } else {
        state.controller.stop().await
    };
    // Check the upstream now rather than at the next periodic check.
    tauri::async_runtime::spawn(crate::monitor::check_health(app.clone()));
    crate::tray::refresh(app).await;
    result.map_err(CommandError::failed)?;
    Ok(state.view().await)
}

#[tauri::command]
pub async fn set_system_proxy_mode<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    mode: SystemProxyMode,
) -> Result<AppView, CommandError> {
    let mut settings = state.settings();
    settings.system_proxy.mode = mode;
    save(&app, &state, settings).await
}

/// Connects to `target` through `upstream` (not necessarily saved yet) and returns the
/// time it took in milliseconds, or the exact failure.
#[tauri::command]
pub async fn test_upstream(upstream: String, target: String) -> Result<f64, CommandError> {
    probe(&upstream, &target)
        .await
        .map(|d| d.as_secs_f64() * 1000.0)
}

pub async fn probe(upstream: &str, target: &str) -> Result<Duration, CommandError> {
    let settings = Settings {
        upstream: upstream.to_string(),
        ..Settings::default()
    };
    let config = settings
        .validate()
        .map_err(|e| CommandError::Invalid { fields: e.0 })?;
    let target = Target::parse_authority(target.trim()).map_err(|e| CommandError::Invalid {
        fields: vec![FieldError {
            field: "app.probe_target".into(),
            message: format!("'{target}' is not host:port: {e}"),
        }],
    })?;
    Dialer::new(&config)
        .probe(&target)
        .await
        .map_err(CommandError::failed)
}

/// Closes (destroys) the calling window: Escape in the settings page. The app stays in
/// the tray and the window's web process goes away.
#[tauri::command]
pub fn close_window<R: Runtime>(window: tauri::WebviewWindow<R>) {
    if let Err(e) = window.destroy() {
        tracing::warn!("cannot close the window: {e}");
    }
}

#[tauri::command]
pub fn get_logs(state: State<'_, AppState>) -> Vec<LogLine> {
    state.logs.lines()
}

/// The shell command that points a terminal at the proxy.
#[tauri::command]
pub async fn terminal_command(state: State<'_, AppState>) -> Result<String, CommandError> {
    Ok(terminal_text(&state).await)
}

pub async fn terminal_text(state: &AppState) -> String {
    let config = state.controller.config().await;
    let listen = state
        .controller
        .status()
        .await
        .listen
        .unwrap_or(config.listen);
    commands(Shell::detect(), listen, &config.system_proxy.bypass)
}
