//! The settings window, created on demand and destroyed when closed, so the WebKit web
//! process (most of the app's memory) exists only while the window is open.

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

pub const LABEL: &str = "settings";

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
