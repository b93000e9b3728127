fn main() {
    // Only our own commands exist for the webview; capabilities/ allows exactly these.
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "get_state",
            "save_settings",
            "validate_settings",
            "set_enabled",
            "set_system_proxy_mode",
            "test_upstream",
            "select_server",
            "import_servers",
            "import_clipboard",
            "export_servers",
            "get_connections",
            "get_logs",
            "terminal_command",
            "close_window",
            "quit",
        ]),
    ))
    .expect("tauri build script failed");
}
