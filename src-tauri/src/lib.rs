//! SocksBridge's tray app: a thin Tauri shell over the core library. It owns no proxy
//! logic. One way for actions to flow: the tray and the window's commands call
//! [`actions`]; actions change state through the core's controller and announce it; the
//! tray and the window redraw from the announcement.
//!
//! - `actions`: everything a person can do (toggle, save, mode, copy, test, check)
//! - `commands`: what the settings window may invoke, each over an action
//! - `tray`: icon (off / on / upstream down) and menu with typed ids
//! - `tray_host`: whether the desktop shows tray icons; without, the window is the app
//! - `window`: the settings window, created on demand, destroyed on close
//! - `monitor`: speed every second; the core's server checks and switches as they come
//! - `state`: the controller, measurements, and the change announcements
//! - `logs`: the last log lines for the window
//! - `autostart`: start at login

pub mod actions;
pub mod autostart;
pub mod clicks;
pub mod commands;
pub mod i18n;
pub mod logs;
pub mod monitor;
pub mod network_events;
pub mod state;
pub mod tray;
pub mod tray_host;
pub mod window;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use socksbridge::config::store;
use socksbridge::controller::{repair_leftover, restore_on_panic};
use socksbridge::system_proxy::SystemProxy;
use socksbridge::termination::termination;
use tauri::{App, AppHandle, Builder, Context, Manager, RunEvent, Runtime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use logs::LogBuffer;
use state::AppState;

/// How long quitting may spend restoring the system proxy and draining connections: the
/// core's restore limit (which on macOS includes an administrator prompt) and a little.
const QUIT_LIMIT: Duration =
    socksbridge::controller::RESTORE_LIMIT.saturating_add(Duration::from_secs(2));

/// Registers the commands; shared by the real app and the mock-runtime tests.
pub fn with_commands<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::get_state,
        commands::save_settings,
        commands::validate_settings,
        commands::set_enabled,
        commands::set_system_proxy_mode,
        commands::test_upstream,
        commands::select_server,
        commands::import_servers,
        commands::import_clipboard,
        commands::export_servers,
        commands::get_connections,
        commands::get_logs,
        commands::terminal_command,
        commands::close_window,
        commands::quit,
    ])
}

/// Resolves when a termination signal arrived (see `socksbridge::termination`).
pub type Signalled = std::pin::Pin<
    Box<dyn std::future::Future<Output = socksbridge::termination::Termination> + Send>,
>;

/// What the app starts from: the real environment's in [`run`], a test's own otherwise.
pub struct Launch {
    pub settings_path: PathBuf,
    /// The desktop's proxy setting, where it has one SocksBridge can change.
    pub system: Option<Arc<SystemProxy>>,
    pub logs: LogBuffer,
    /// Open the settings window at start (`--settings`).
    pub open_settings: bool,
    /// The termination signals, their handlers installed before anything else ran; the
    /// app quits (restoring the system proxy) when this resolves. `None` in tests.
    pub signalled: Option<Signalled>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("settings_path", &self.settings_path)
            .field("system", &self.system)
            .field("open_settings", &self.open_settings)
            .field("signalled", &self.signalled.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds the app on any runtime (the real one, or `tauri::test`'s mock): state,
/// commands, and the setup that repairs a crash leftover, draws the tray, starts the
/// monitors and, if the settings ask for it, turns the proxy on.
pub fn build_app<R: Runtime>(
    builder: Builder<R>,
    context: Context<R>,
    launch: Launch,
) -> tauri::Result<App<R>> {
    let Launch {
        settings_path,
        system,
        logs,
        open_settings,
        signalled,
    } = launch;
    let state = AppState::load(settings_path, system.clone(), logs);
    with_commands(builder)
        .manage(state)
        .on_window_event(window::on_event)
        .setup(move |app| {
            // A tray app: no Dock icon and no app menu on macOS.
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            setup(app.handle(), system.as_ref(), open_settings, signalled);
            Ok(())
        })
        .build(context)
}

fn setup<R: Runtime>(
    app: &AppHandle<R>,
    system: Option<&Arc<SystemProxy>>,
    open_settings: bool,
    signalled: Option<Signalled>,
) {
    // A signal that came while the app was being built is acted on now, before anything
    // touches the OS setting; one that comes later ends in the same quit.
    if let Some(signalled) = signalled {
        let on_signal = app.clone();
        tauri::async_runtime::spawn(async move {
            if signalled.await.attended() {
                on_signal.state::<AppState>().quit_attended();
            }
            on_signal.exit(0);
        });
    }
    if let Some(system) = system {
        restore_on_panic(Arc::clone(system));
    }
    // The tray first: repairing a crash leftover can wait on a password prompt (macOS,
    // up to two minutes), and the app must be there meanwhile. Turning the proxy on at
    // launch waits for the repair, so the user's setting is what gets saved.
    if let Err(e) = tray::build(app) {
        tracing::error!("cannot show the tray icon: {e}");
    }
    tauri::async_runtime::spawn(redraw_on_change(app.clone()));
    tauri::async_runtime::spawn(monitor::speed_loop(app.clone()));
    tauri::async_runtime::spawn(monitor::health_events(app.clone()));
    network_events::watch(app.clone());
    tray_host::watch(app.clone());
    let state = app.state::<AppState>();
    let settings = tauri::async_runtime::block_on(state.controller.settings());
    autostart::sync(app, settings.app.start_at_login);
    let (launch, system) = (app.clone(), system.cloned());
    let enable_on_launch = settings.app.enable_on_launch;
    tauri::async_runtime::spawn(async move {
        repair_leftover(system.as_ref()).await;
        if enable_on_launch {
            if let Err(e) = actions::set_enabled(&launch, true).await {
                tracing::error!("could not turn the proxy on at launch: {e}");
            }
        }
    });
    if open_settings || state.notice().is_some() {
        window::open(app);
    }
}

/// The tray and the window follow every announced change. The tray is redrawn on the main
/// thread, queued rather than waited for: a runtime thread that waited there would stall
/// while the main thread itself waits on the runtime (quitting restores the system proxy
/// on the main thread), and with it the very restore being waited for.
async fn redraw_on_change<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<AppState>();
    let mut changes = state.subscribe();
    loop {
        let view = state.view().await;
        window::redraw(&app, &view);
        let on_main = app.clone();
        if let Err(e) = app.run_on_main_thread(move || tray::redraw(&on_main, &view)) {
            tracing::debug!("cannot redraw the tray: {e}");
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// The app's event loop handling: closing the last window keeps the app in the tray;
/// Quit and signals pass a code and end in [`quit`].
pub fn on_run_event<R: Runtime>(app: &AppHandle<R>, event: RunEvent) {
    match event {
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        RunEvent::Exit => quit(app),
        _ => {}
    }
}

/// Every exit path ends here: the system proxy is restored, connections drain, bounded.
fn quit<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    // Quit clicked (or Ctrl-C): a person is there for a password prompt. Anything else
    // (logout, shutdown, SIGTERM) must not wait on one: the login restore repairs it.
    let attended = state.is_quit_attended();
    let stopped = tauri::async_runtime::block_on(async {
        let close = async {
            if attended {
                state.controller.close().await
            } else {
                state.controller.close_unattended().await
            }
        };
        tokio::time::timeout(QUIT_LIMIT, close).await
    });
    match stopped {
        Ok(Ok(())) => tracing::info!("stopped"),
        Ok(Err(e)) => tracing::error!("while quitting: {e}"),
        Err(_) => tracing::error!("quitting took longer than {} s", QUIT_LIMIT.as_secs()),
    }
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

/// True when a graphical session is there to show a tray and a window in.
fn has_display() -> bool {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// The real app: the desktop's environment, plugins, and the event loop.
/// The app's own argument for the restore registered at the next login.
pub const RESTORE_FLAG: &str = "--restore-system-proxy";

fn system_proxy() -> Result<SystemProxy, socksbridge::system_proxy::SysProxyError> {
    SystemProxy::detect().map(|s| s.restore_at_login(&[RESTORE_FLAG]))
}

/// `socksbridge-app --restore-system-proxy`, run at login after a power cut: puts back what
/// a run that never stopped left, with no window and no tray, then exits.
fn restore_and_exit() -> ! {
    init_tracing(&LogBuffer::default());
    let outcome = system_proxy().and_then(|system| system.recover());
    match outcome {
        Ok(recovery) => {
            tracing::info!("system proxy at login: {recovery:?}");
            std::process::exit(0)
        }
        Err(e) => {
            tracing::error!("could not restore the system proxy at login: {e}");
            std::process::exit(1)
        }
    }
}

pub fn run() {
    if std::env::args().any(|a| a == RESTORE_FLAG) {
        restore_and_exit();
    }
    if !has_display() {
        eprintln!(
            "socksbridge-app: no graphical session (DISPLAY and WAYLAND_DISPLAY are unset); \
             the tray app needs one. Without a desktop, run the headless proxy: socksbridge --help"
        );
        std::process::exit(1);
    }
    // The proxy runs on Tauri's runtime: give it the pool the benchmark chose for the CLI
    // (multi-threaded either way: Tauri calls made from the runtime wait on the main thread).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(socksbridge::limits::proxy_threads().max(2))
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("socksbridge-app: cannot start the async runtime: {e}");
            std::process::exit(1);
        });
    tauri::async_runtime::set(runtime.handle().clone());
    // First thing with a runtime: from here on SIGINT/SIGTERM/SIGHUP are ours, even while
    // GTK and the webview start up, and even where the shell started us ignoring SIGINT.
    let signalled: Signalled = {
        let _runtime = runtime.enter();
        Box::pin(termination())
    };
    let logs = LogBuffer::default();
    init_tracing(&logs);
    let _ = socksbridge::limits::raise_fd_limit();
    let system = match system_proxy() {
        Ok(system) => Some(Arc::new(system)),
        Err(e) => {
            tracing::info!("{e}");
            None
        }
    };
    let launch = Launch {
        settings_path: store::default_path(),
        system,
        logs,
        open_settings: std::env::args().any(|a| a == "--settings"),
        signalled: Some(signalled),
    };
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
    let app = build_app(builder, tauri::generate_context!(), launch).unwrap_or_else(|e| {
        eprintln!("socksbridge-app: cannot start: {e}");
        std::process::exit(1);
    });
    app.run(on_run_event);
    drop(runtime);
}
