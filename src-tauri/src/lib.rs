//! SocksBridge's tray app: a thin Tauri shell over the core library. It owns no proxy
//! logic; [`commands`] and the [`tray`] call the core's `Controller`.
//!
//! - `state`: the controller, the saved settings, speed and upstream health
//! - `commands`: what the settings window may invoke
//! - `tray`: icon (off / on / upstream down) and menu, typed ids
//! - `window`: the settings window, created on demand, destroyed on close
//! - `monitor`: speed every second, upstream health every 15 s
//! - `logs`: the last log lines for the window
//! - `autostart`: start at login

pub mod autostart;
pub mod commands;
pub mod logs;
pub mod monitor;
pub mod state;
pub mod tray;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

use socksbridge::config::store;
use socksbridge::controller::{repair_leftover, restore_on_panic, Controller};
use socksbridge::system_proxy::SystemProxy;
use socksbridge::Settings;
use tauri::{Builder, Manager, RunEvent, Runtime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use logs::LogBuffer;
use state::AppState;

/// How long quitting may spend restoring the system proxy and draining connections.
const QUIT_LIMIT: Duration = Duration::from_secs(12);

/// Registers the commands; shared by the real app and the mock-runtime tests.
pub fn with_commands<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::get_state,
        commands::save_settings,
        commands::validate_settings,
        commands::set_enabled,
        commands::set_system_proxy_mode,
        commands::test_upstream,
        commands::get_logs,
        commands::terminal_command,
        commands::close_window,
    ])
}

/// The controller for saved settings (they were validated on load).
pub fn controller_for(settings: &Settings, system: Option<Arc<SystemProxy>>) -> Controller {
    Controller::new(settings.validate().unwrap_or_default(), system)
}

fn init_tracing(logs: &LogBuffer) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOCKSBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(logs.layer())
        .try_init();
}

pub fn run() {
    let logs = LogBuffer::default();
    init_tracing(&logs);
    let _ = socksbridge::limits::raise_fd_limit();
    let system = match SystemProxy::detect() {
        Ok(system) => Some(Arc::new(system)),
        Err(e) => {
            tracing::info!("{e}");
            None
        }
    };
    let open_settings = std::env::args().any(|a| a == "--settings");
    let state = AppState::load(
        store::default_path(),
        |s| controller_for(s, system.clone()),
        logs,
    );

    let builder = Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::open(app)
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init());
    let app = with_commands(builder)
        .manage(state)
        .setup(move |app| {
            let handle = app.handle().clone();
            // A crash leftover is repaired before the tray appears.
            tauri::async_runtime::block_on(repair_leftover(system.as_ref()));
            if let Some(system) = &system {
                restore_on_panic(Arc::clone(system));
            }
            tray::build(&handle)?;
            tauri::async_runtime::block_on(tray::refresh(&handle));
            tauri::async_runtime::spawn(monitor::speed_loop(handle.clone()));
            tauri::async_runtime::spawn(monitor::health_loop(handle.clone()));
            let on_signal = handle.clone();
            // Installed now, inside the runtime, not when first polled.
            #[allow(clippy::async_yields_async)]
            let signalled =
                tauri::async_runtime::block_on(async { socksbridge::cli::termination() });
            tauri::async_runtime::spawn(async move {
                signalled.await;
                on_signal.exit(0);
            });
            let state = handle.state::<AppState>();
            let settings = state.settings();
            autostart::sync(&handle, settings.app.start_at_login);
            if settings.app.enable_on_launch {
                let launch = handle.clone();
                tauri::async_runtime::spawn(async move {
                    let state = launch.state::<AppState>();
                    if let Err(e) = commands::enable(&launch, &state, true).await {
                        tracing::error!("could not turn the proxy on at launch: {e}");
                    }
                });
            }
            if open_settings || state.view_notice().is_some() {
                window::open(&handle);
            }
            Ok(())
        })
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("socksbridge-app: cannot start: {e}");
            std::process::exit(1);
        });

    app.run(|app, event| match event {
        // Closing the last window keeps the app in the tray; Quit and signals pass a code.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        RunEvent::Exit => quit(app),
        _ => {}
    });
}

/// Every exit path ends here: the system proxy is restored, connections drain, bounded.
fn quit<R: Runtime>(app: &tauri::AppHandle<R>) {
    let state = app.state::<AppState>();
    let stopped = tauri::async_runtime::block_on(async {
        tokio::time::timeout(QUIT_LIMIT, state.controller.stop()).await
    });
    match stopped {
        Ok(Ok(())) => tracing::info!("stopped"),
        Ok(Err(e)) => tracing::error!("while quitting: {e}"),
        Err(_) => tracing::error!("quitting took longer than {} s", QUIT_LIMIT.as_secs()),
    }
}
