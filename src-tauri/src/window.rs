//! The settings window, created on demand and destroyed when closed, so the WebKit web
//! process (most of the app's memory) exists only while the window is open. While open it
//! is sent every announced view as a `view` event.

use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

use crate::state::AppView;

pub const LABEL: &str = "settings";

/// The event the page listens for to redraw.
pub const VIEW_EVENT: &str = "view";

pub fn open<R: Runtime>(app: &AppHandle<R>) {
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

/// Sends `view` to the settings window, if it is open.
pub fn redraw<R: Runtime>(app: &AppHandle<R>, view: &AppView) {
    if app.get_webview_window(LABEL).is_some() {
        if let Err(e) = app.emit_to(LABEL, VIEW_EVENT, view) {
            tracing::debug!("cannot send the view to the window: {e}");
        }
    }
}
