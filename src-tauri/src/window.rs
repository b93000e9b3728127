//! The settings window, created on demand and destroyed when closed, so the WebKit web
//! process (most of the app's memory) exists only while the window is open. While open it
//! is sent every announced view as a `view` event. Where the desktop shows no tray icon,
//! closing it does not just make the app invisible: the page asks (`ask-close`) whether
//! to keep running in the background or quit.

use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};

use crate::state::{AppState, AppView};

pub const LABEL: &str = "settings";

/// The event the page listens for to redraw.
pub const VIEW_EVENT: &str = "view";

/// The event that asks the page to ask the user: keep running without a window, or quit.
pub const ASK_CLOSE_EVENT: &str = "ask-close";

/// Opens the window, or brings it to the front. Always on the main thread, one call after
/// another: two callers at once (the launch, a tray host going away, a second launch, the
/// menu) would otherwise both find no window and build two.
pub fn open<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    if let Err(e) = app.run_on_main_thread(move || open_here(&handle)) {
        tracing::error!("cannot open the settings window: {e}");
    }
}

fn open_here<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(LABEL) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, LABEL, WebviewUrl::App("index.html".into()))
        .title("SocksBridge")
        .inner_size(680.0, 820.0)
        .min_inner_size(480.0, 420.0)
        .build();
    if let Err(e) = built {
        tracing::error!("cannot open the settings window: {e}");
    }
}

/// Every window's events, registered with the app before any window exists (a handler
/// set on the window once built could miss a close that comes first). Where there is no
/// tray to come back to, a close is turned into the question.
pub fn on_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    if window.label() != LABEL || !window.state::<AppState>().tray_missing() {
        return;
    }
    api.prevent_close();
    tracing::info!("no tray to come back to: asking whether to keep running");
    if let Err(e) = window.emit_to(LABEL, ASK_CLOSE_EVENT, ()) {
        tracing::warn!("cannot ask the window: {e}");
    }
}

/// Sends `view` to the settings window, if it is open.
pub fn redraw<R: Runtime>(app: &AppHandle<R>, view: &AppView) {
    if app.get_webview_window(LABEL).is_some() {
        if let Err(e) = app.emit_to(LABEL, VIEW_EVENT, view) {
            tracing::debug!("cannot send the view to the window: {e}");
        }
    }
}
