//! The app's state: the core controller (which owns the proxy and the OS setting), the
//! settings as saved, and what the monitor measured (speed, upstream health).

use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use socksbridge::config::store;
use socksbridge::controller::{Controller, ControllerStatus};
use socksbridge::Settings;

use crate::logs::LogBuffer;

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Speed {
    pub up_bps: f64,
    pub down_bps: f64,
}

/// The last upstream check.
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
    },
}

#[derive(Debug)]
pub struct AppState {
    pub controller: Controller,
    pub settings_path: PathBuf,
    pub settings: Mutex<Settings>,
    /// Shown in the window until the next save: e.g. a corrupt settings file was set aside.
    pub notice: Mutex<Option<String>>,
    pub speed: Mutex<Speed>,
    pub health: Mutex<Health>,
    pub logs: LogBuffer,
}

/// Everything the settings window renders, returned by most commands.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub settings: Settings,
    pub status: ControllerStatus,
    pub speed: Speed,
    pub health: Health,
    pub notice: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// Loads the settings file (setting a damaged one aside) and builds the controller.
    pub fn load(
        settings_path: PathBuf,
        controller_for: impl FnOnce(&Settings) -> Controller,
        logs: LogBuffer,
    ) -> AppState {
        let loaded = store::load(&settings_path);
        let controller = controller_for(&loaded.settings);
        AppState {
            controller,
            settings_path,
            settings: Mutex::new(loaded.settings),
            notice: Mutex::new(loaded.notice),
            speed: Mutex::new(Speed::default()),
            health: Mutex::new(Health::Unknown),
            logs,
        }
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        *lock(&self.settings) = settings;
        *lock(&self.notice) = None;
    }

    pub fn health(&self) -> Health {
        lock(&self.health).clone()
    }

    pub fn set_health(&self, health: Health) -> Health {
        std::mem::replace(&mut *lock(&self.health), health)
    }

    pub fn speed(&self) -> Speed {
        *lock(&self.speed)
    }

    pub fn set_speed(&self, speed: Speed) {
        *lock(&self.speed) = speed;
    }

    pub fn view_notice(&self) -> Option<String> {
        lock(&self.notice).clone()
    }

    pub async fn view(&self) -> AppView {
        AppView {
            settings: self.settings(),
            status: self.controller.status().await,
            speed: self.speed(),
            health: self.health(),
            notice: lock(&self.notice).clone(),
        }
    }
}
