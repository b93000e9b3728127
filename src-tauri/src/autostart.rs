//! Start at login, through the autostart plugin (a `.desktop` file in ~/.config/autostart
//! on Linux, a LaunchAgent on macOS, the Run key on Windows).

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

pub fn sync<R: Runtime>(app: &AppHandle<R>, enabled: bool) {
    // Absent in tests that run without the plugin.
    let Some(manager) = app.try_state::<AutoLaunchManager>() else {
        return;
    };
    let result = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    if let Err(e) = result {
        tracing::warn!(
            "could not {} start at login: {e}",
            if enabled { "enable" } else { "disable" }
        );
    }
}
