//! The commands the settings window may call (and nothing else: see capabilities/). Each
//! is a line or two over an action; reads return the view the window renders.

use socksbridge::config::links::Imported;
use socksbridge::config::{FieldError, ServerSettings, SystemProxyMode};
use socksbridge::Settings;
use tauri::{AppHandle, Runtime, State};

use crate::actions::{self, ActionError};
use crate::logs::LogLine;
use crate::state::{AppState, AppView};

#[tauri::command]
pub async fn get_state(state: State<'_, AppState>) -> Result<AppView, ActionError> {
    Ok(state.view().await)
}

#[tauri::command]
pub fn validate_settings(settings: Settings) -> Vec<FieldError> {
    settings.validate().err().map(|e| e.0).unwrap_or_default()
}

/// Validates, applies and saves at once: the listener restarts only if its address
/// changed, running tunnels survive a system-proxy mode change.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<AppView, ActionError> {
    actions::save(&app, settings).await?;
    Ok(state.view().await)
}

#[tauri::command]
pub async fn set_enabled<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    on: bool,
) -> Result<AppView, ActionError> {
    actions::set_enabled(&app, on).await?;
    Ok(state.view().await)
}

#[tauri::command]
pub async fn set_system_proxy_mode<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    mode: SystemProxyMode,
) -> Result<AppView, ActionError> {
    actions::set_system_proxy_mode(&app, mode).await?;
    Ok(state.view().await)
}

/// Milliseconds to reach `target` through `upstream` (not necessarily saved yet; through
/// the HTTP proxy `via` when given), or the exact failure.
#[tauri::command]
pub async fn test_upstream(
    upstream: String,
    via: Option<String>,
    target: String,
) -> Result<f64, ActionError> {
    actions::test_upstream(&upstream, via.as_deref(), &target)
        .await
        .map(|d| d.as_secs_f64() * 1000.0)
}

/// Makes `name` the server in use, and saves that choice.
#[tauri::command]
pub async fn select_server<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> Result<AppView, ActionError> {
    actions::select_server(&app, &name).await?;
    Ok(state.view().await)
}

/// The server links in pasted `text`, named to join `servers` (nothing is saved).
#[tauri::command]
pub fn import_servers(text: String, servers: Vec<ServerSettings>) -> Imported {
    actions::import_servers(&text, &servers)
}

/// The server links on the clipboard, named to join `servers` (nothing is saved).
#[tauri::command]
pub fn import_clipboard<R: Runtime>(
    app: AppHandle<R>,
    servers: Vec<ServerSettings>,
) -> Result<Imported, ActionError> {
    actions::import_clipboard(&app, &servers)
}

/// `servers` as links, copied to the clipboard and returned; passwords only when asked.
#[tauri::command]
pub fn export_servers<R: Runtime>(
    app: AppHandle<R>,
    servers: Vec<ServerSettings>,
    with_passwords: bool,
) -> Result<String, ActionError> {
    actions::export_servers(&app, &servers, with_passwords)
}

/// The open connections (newest first) and the last failures: the Connections view.
#[tauri::command]
pub async fn get_connections(
    state: State<'_, AppState>,
) -> Result<socksbridge::connections::Connections, ActionError> {
    Ok(state.controller.connections().await)
}

/// Closes (destroys) the calling window: Escape in the settings page. The app stays in
/// the tray and the window's web process goes away.
#[tauri::command]
pub fn close_window<R: Runtime>(window: tauri::WebviewWindow<R>) {
    if let Err(e) = window.destroy() {
        tracing::warn!("cannot close the window: {e}");
    }
}

/// Quits as the tray's Quit does (the system proxy is restored): the window's choice where
/// there is no tray.
#[tauri::command]
pub fn quit<R: Runtime>(app: AppHandle<R>) {
    actions::quit(&app);
}

#[tauri::command]
pub fn get_logs(state: State<'_, AppState>) -> Vec<LogLine> {
    state.logs.lines()
}

/// The shell command that points a terminal at the proxy.
#[tauri::command]
pub async fn terminal_command(state: State<'_, AppState>) -> Result<String, ActionError> {
    Ok(actions::terminal_command(&state).await)
}
