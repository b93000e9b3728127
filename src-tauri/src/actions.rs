//! Everything a person can do, from the tray or the settings window. Each action changes
//! state only through the core's controller, and announces the change once; the tray and
//! the window redraw from that announcement, never from the action itself.

use std::time::Duration;

use serde::Serialize;
use socksbridge::config::links::{self, Imported};
use socksbridge::config::{
    parse_probe_target, store, FieldError, ServerSettings, Settings, SystemProxyMode, Upstream,
};
use socksbridge::controller::{ControlError, NetworkRefresh};
use socksbridge::health::HealthEvent;
use socksbridge::message::Message;
use socksbridge::system_proxy::env::{commands, Shell};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::AppState;

/// How long the Test button may wait at each step (connect, handshake).
const TEST_LIMIT: Duration = Duration::from_secs(10);

/// A failed action, as the window shows it: field errors to show inline, or one message.
#[derive(Debug, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionError {
    #[error("invalid settings")]
    Invalid { fields: Vec<FieldError> },
    #[error("{message}")]
    Failed {
        message: String,
        /// The same, for the window to say in the user's language (core failures).
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Message>,
    },
}

impl ActionError {
    pub fn failed(e: impl std::fmt::Display) -> ActionError {
        ActionError::Failed {
            message: e.to_string(),
            text: None,
        }
    }
}

impl From<socksbridge::ProxyError> for ActionError {
    fn from(e: socksbridge::ProxyError) -> ActionError {
        ActionError::Failed {
            message: e.to_string(),
            text: Some(e.message()),
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
    result.map_err(ActionError::from)
}

/// The tray's toggle: on when off, off when on.
/// Quits, with someone there to answer a password prompt: the tray's Quit, and the
/// window's where there is no tray. The system proxy is restored on the way out.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    app.state::<AppState>().quit_attended();
    app.exit(0);
}

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

/// The tray's server list: traffic goes through `name` from the next connection on
/// (running tunnels finish where they are), and it is saved as the choice.
pub async fn select_server<R: Runtime>(app: &AppHandle<R>, name: &str) -> Result<(), ActionError> {
    let state = app.state::<AppState>();
    let mut settings = state.controller.settings().await;
    settings.active = name.to_string();
    save(app, settings).await?;
    // Chosen again while failover had moved away from it: back to it.
    let result = state.controller.use_choice().await;
    state.announce();
    result.map_err(ActionError::from)
}

/// The server links in `text`, ready to join `servers` (the window's unsaved list).
pub fn import_servers(text: &str, servers: &[ServerSettings]) -> Imported {
    links::import(text, servers)
}

/// The server links on the clipboard, ready to join `servers`.
pub fn import_clipboard<R: Runtime>(
    app: &AppHandle<R>,
    servers: &[ServerSettings],
) -> Result<Imported, ActionError> {
    let text = clipboard(app)?
        .read_text()
        .map_err(|e| ActionError::failed(format!("the clipboard holds no text ({e})")))?;
    Ok(links::import(&text, servers))
}

/// `servers` as links, onto the clipboard too; passwords only when asked for.
pub fn export_servers<R: Runtime>(
    app: &AppHandle<R>,
    servers: &[ServerSettings],
    with_passwords: bool,
) -> Result<String, ActionError> {
    let text = links::export(servers, with_passwords);
    clipboard(app)?
        .write_text(text.trim_end())
        .map_err(ActionError::failed)?;
    Ok(text)
}

fn clipboard<R: Runtime>(
    app: &AppHandle<R>,
) -> Result<tauri::State<'_, tauri_plugin_clipboard_manager::Clipboard<R>>, ActionError> {
    app.try_state::<tauri_plugin_clipboard_manager::Clipboard<R>>()
        .ok_or_else(|| ActionError::failed("no clipboard in this session"))
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
    clipboard(app)?
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
    let invalid = |field: &str, text: Message| ActionError::Invalid {
        fields: vec![FieldError::new(field, text)],
    };
    let upstream = Upstream::parse(upstream).map_err(|e| invalid("upstream", e.message()))?;
    let via = via
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Upstream::parse_via)
        .transpose()
        .map_err(|e| invalid("upstream_via", e.message()))?;
    let target = parse_probe_target(target).map_err(|m| invalid("app.probe_target", m))?;
    socksbridge::probe(&upstream, via.as_ref(), &target, TEST_LIMIT)
        .await
        .map_err(ActionError::from)
}

/// The notification for a server that went down or a switch to another, when the user
/// wants them.
pub async fn notify_event<R: Runtime>(app: &AppHandle<R>, event: &HealthEvent) {
    let settings = app.state::<AppState>().controller.settings().await;
    if !settings.app.notify_upstream_down {
        return;
    }
    let lang = crate::i18n::Language::resolve(&settings.app.language);
    match event {
        HealthEvent::Checked { server, check, .. } => notify(
            app,
            &lang.t("notify.down_title", &[("server", server)]),
            &check
                .message
                .as_ref()
                .map(|m| lang.message(m))
                .unwrap_or_default(),
        ),
        HealthEvent::Switched { from, to, back } => {
            let key = if *back {
                "notify.switched_back"
            } else {
                "notify.switched"
            };
            notify(
                app,
                &lang.t("notify.switched_title", &[("to", to)]),
                &lang.t(key, &[("from", from), ("to", to)]),
            )
        }
    }
}

/// A desktop notification, where the session has the plugin for it.
fn notify<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    if let Some(notification) = app.try_state::<tauri_plugin_notification::Notification<R>>() {
        let _ = notification.builder().title(title).body(body).show();
    }
}

/// After a resume or a network change (`reason` says which): pooled upstream connections
/// go, the OS setting is applied again only while it is still ours, and the server in
/// use is checked at once (the controller asks for it).
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
}
