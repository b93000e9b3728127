//! The app's state: the core controller (which owns the proxy, the OS setting, the
//! applied settings and the servers' checks), the speed the monitor measured, and the one
//! channel every change is announced on: the tray and the window redraw from it.

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use socksbridge::config::store;
use socksbridge::controller::{Checks, Controller, ControllerStatus};
use socksbridge::message::Message;
use socksbridge::Settings;
use tokio::sync::watch;

use crate::logs::LogBuffer;
use socksbridge::sync::lock;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Speed {
    pub up_bps: f64,
    pub down_bps: f64,
}

/// The last check of the server in use, while the proxy runs.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    #[default]
    Unknown,
    Ok {
        latency_ms: f64,
    },
    Down {
        error: String,
        /// The same, for the window to say in the user's language.
        message: Option<socksbridge::message::Message>,
    },
}

impl Health {
    pub fn of(status: &ControllerStatus) -> Health {
        let last = status
            .servers
            .iter()
            .find(|s| s.in_use)
            .and_then(|s| s.last.as_ref());
        match last {
            Some(check) if status.running && check.ok => Health::Ok {
                latency_ms: check.latency_ms.unwrap_or_default(),
            },
            Some(check) if status.running => Health::Down {
                error: check.error.clone().unwrap_or_default(),
                message: check.message.clone(),
            },
            _ => Health::Unknown,
        }
    }
}

#[derive(Debug)]
pub struct AppState {
    pub controller: Controller,
    pub settings_path: PathBuf,
    /// Shown in the window until the next save: e.g. a corrupt settings file was set aside.
    notice: Mutex<Option<Message>>,
    speed: Mutex<Speed>,
    pub logs: LogBuffer,
    changes: watch::Sender<()>,
    /// Saves run one at a time: apply, write, and any undo are one step.
    pub(crate) saving: tokio::sync::Mutex<()>,
    /// The user asked to quit (the menu, Ctrl-C): someone is there to answer a prompt.
    quit_attended: std::sync::atomic::AtomicBool,
    /// The desktop shows no tray icon (see `tray_host`): the window is the app.
    tray_missing: std::sync::atomic::AtomicBool,
}

/// Everything the settings window and the tray render.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub settings: Settings,
    pub status: ControllerStatus,
    pub speed: Speed,
    pub health: Health,
    pub notice: Option<Message>,
    /// The desktop shows no tray icon: the window says so and closing it asks.
    pub tray_missing: bool,
}

impl AppState {
    /// Loads the settings file (a damaged one is set aside and defaults used, with a
    /// notice) and builds the controller over them.
    pub fn load(
        settings_path: PathBuf,
        system: Option<std::sync::Arc<socksbridge::system_proxy::SystemProxy>>,
        logs: LogBuffer,
    ) -> AppState {
        let first_run = !settings_path.exists();
        let mut loaded = store::load(&settings_path);
        if first_run && system.is_none() {
            // No settable system proxy here: the first click must still turn the proxy on.
            loaded.settings.system_proxy.mode = socksbridge::config::SystemProxyMode::Off;
        }
        let (controller, notice) = match Controller::new(loaded.settings, system.clone()) {
            Ok(controller) => (controller, loaded.notice),
            // `store::load` hands back only valid settings; this is a last resort.
            Err(e) => (
                Controller::new(Settings::default(), system)
                    .unwrap_or_else(|e| unreachable!("default settings are valid: {e}")),
                Some(Message::new(
                    "core.settings_invalid",
                    [("errors", e.to_string())],
                )),
            ),
        };
        AppState {
            controller: controller.with_checks(Checks::Always),
            settings_path,
            notice: Mutex::new(notice),
            speed: Mutex::new(Speed::default()),
            logs,
            changes: watch::channel(()).0,
            saving: tokio::sync::Mutex::new(()),
            quit_attended: Default::default(),
            tray_missing: Default::default(),
        }
    }

    /// Tells the tray and the window to redraw. Announcements made while they are still
    /// drawing the last one fold into one.
    pub fn announce(&self) {
        self.changes.send_replace(());
    }

    /// A receiver that wakes on every announcement after this call.
    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    pub fn set_speed(&self, speed: Speed) -> Speed {
        std::mem::replace(&mut *lock(&self.speed), speed)
    }

    /// The coming quit was asked for by a person (the menu's Quit, Ctrl-C).
    pub fn quit_attended(&self) {
        self.quit_attended
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_quit_attended(&self) -> bool {
        self.quit_attended
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_tray_missing(&self, missing: bool) {
        self.tray_missing
            .store(missing, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn tray_missing(&self) -> bool {
        self.tray_missing.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn notice(&self) -> Option<Message> {
        lock(&self.notice).clone()
    }

    pub fn clear_notice(&self) {
        *lock(&self.notice) = None;
    }

    pub async fn view(&self) -> AppView {
        let status = self.controller.status().await;
        AppView {
            settings: self.controller.settings().await,
            health: Health::of(&status),
            status,
            speed: *lock(&self.speed),
            notice: self.notice(),
            tray_missing: self.tray_missing(),
        }
    }
}
