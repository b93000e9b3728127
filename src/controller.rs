//! Turning the proxy on and off as one unit with the OS setting: what the tray app's
//! toggle and the CLI both do. Starting binds the listener, then points the OS at it;
//! stopping restores the OS setting first, then drains connections. Applying new settings
//! changes only what they change: the data path reloads only when its config differs
//! (and keeps its connection pool unless the way targets are dialled changed), the OS is
//! re-pointed only when what it should point at differs. The controller holds the applied
//! settings: they are the one source of truth for the app and the CLI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigErrors, Settings, SystemProxyConfig, SystemProxyMode};
use crate::error::ProxyError;
use crate::server::{BindError, ProxyHandle, ProxyServer};
use crate::stats::StatsSnapshot;
use crate::system_proxy::{Desired, SysProxyError, SystemProxy};
use crate::target::Target;

/// How long restoring the OS setting may take on the way out. On macOS a restore may wait
/// for a person to type an administrator's password.
pub const RESTORE_LIMIT: Duration = if cfg!(target_os = "macos") {
    Duration::from_secs(130)
} else {
    Duration::from_secs(10)
};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("invalid settings: {0}")]
    Invalid(#[from] ConfigErrors),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("system proxy: {0}")]
    SystemProxy(#[from] SysProxyError),
    #[error("system proxy: this desktop has no system proxy setting SocksBridge can change")]
    NoSystemProxy,
    #[error("shutting down")]
    Closed,
    #[error("internal error: {0}")]
    Internal(String),
}

/// What [`Controller::network_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkRefresh {
    NotRunning,
    /// Pooled connections dropped; the OS setting is not ours to touch (off).
    PoolDropped,
    /// Pooled connections dropped and the OS setting, still ours, applied again.
    Reapplied,
    /// Pooled connections dropped; the user changed the OS setting, which was kept.
    LeftUsersSetting,
}

/// What the tray and the settings window show.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerStatus {
    pub running: bool,
    pub listen: Option<SocketAddr>,
    pub upstream: String,
    /// No upstream: targets are dialled from this machine.
    pub direct: bool,
    /// The mode the OS is pointed at us with right now (`off` when not applied).
    pub system_proxy: SystemProxyMode,
    pub stats: StatsSnapshot,
}

#[derive(Debug)]
struct Running {
    handle: ProxyHandle,
    task: JoinHandle<()>,
    /// What the OS is pointed at, when it is.
    applied: Option<Desired>,
    guard: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Inner {
    /// What is applied (or will be, on start): as given, and validated.
    settings: Settings,
    config: Config,
    running: Option<Running>,
    /// Set by [`Controller::close`]: the process is on its way out, nothing starts again.
    closed: bool,
}

#[derive(Debug)]
pub struct Controller {
    system: Option<Arc<SystemProxy>>,
    inner: tokio::sync::Mutex<Inner>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ControlError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ControlError::Internal(e.to_string()))
}

/// What the OS is pointed at in `config`'s mode, given where we actually listen.
pub fn desired_for(config: &SystemProxyConfig, local: SocketAddr) -> Option<Desired> {
    match config.mode {
        SystemProxyMode::Off => None,
        SystemProxyMode::Global => {
            Some(Desired::global(local, config.bypass.clone(), config.socks))
        }
        SystemProxyMode::Pac => Some(Desired::pac(local, &config.bypass)),
    }
}

impl Controller {
    /// A stopped controller for `settings`. `system` is `None` where the desktop has no
    /// settable proxy.
    pub fn new(
        settings: Settings,
        system: Option<Arc<SystemProxy>>,
    ) -> Result<Controller, ConfigErrors> {
        let config = settings.validate()?;
        Ok(Controller {
            system,
            inner: tokio::sync::Mutex::new(Inner {
                settings,
                config,
                running: None,
                closed: false,
            }),
        })
    }

    pub fn system_proxy(&self) -> Option<&Arc<SystemProxy>> {
        self.system.as_ref()
    }

    /// The applied settings, as given.
    pub async fn settings(&self) -> Settings {
        self.inner.lock().await.settings.clone()
    }

    /// The applied settings, validated.
    pub async fn config(&self) -> Config {
        self.inner.lock().await.config.clone()
    }

    /// Dials `target` through the running proxy's router, as traffic would: the upstream
    /// check. `None` when there is nothing to check (stopped, or no upstream).
    pub async fn probe_upstream(&self, target: &Target) -> Option<Result<Duration, ProxyError>> {
        let handle = {
            let inner = self.inner.lock().await;
            if inner.config.proxy.upstream.is_direct() {
                return None;
            }
            inner.running.as_ref()?.handle.clone()
        };
        Some(handle.probe(target).await)
    }

    /// Starts the proxy and points the OS at it (per the config). If the OS setting cannot
    /// be applied the proxy is stopped again and the error returned.
    pub async fn start(&self) -> Result<SocketAddr, ControlError> {
        let mut inner = self.inner.lock().await;
        if inner.closed {
            return Err(ControlError::Closed);
        }
        if let Some(running) = &inner.running {
            return Ok(running.handle.local_addr());
        }
        let server = ProxyServer::bind(inner.config.proxy.clone()).await?;
        let handle = server.handle();
        let local = server.local_addr();
        let task = tokio::spawn(server.run(std::future::pending()));
        let mut running = Running {
            handle,
            task,
            applied: None,
            guard: None,
        };
        let system_proxy = &inner.config.system_proxy;
        if let Err(e) = self
            .point_os(
                &mut running,
                desired_for(system_proxy, local),
                system_proxy.guard,
            )
            .await
        {
            shut_down(running).await;
            return Err(e);
        }
        inner.running = Some(running);
        Ok(local)
    }

    /// Restores the OS setting, then stops accepting and drains connections.
    pub async fn stop(&self) -> Result<(), ControlError> {
        let mut inner = self.inner.lock().await;
        self.stop_locked(&mut inner).await
    }

    /// Stops for good, on the way out of the process: a start still queued behind this
    /// (an "enable on launch" racing a signal, say) is refused rather than pointing the
    /// desktop at a proxy about to exit.
    pub async fn close(&self) -> Result<(), ControlError> {
        let mut inner = self.inner.lock().await;
        inner.closed = true;
        self.stop_locked(&mut inner).await
    }

    async fn stop_locked(&self, inner: &mut Inner) -> Result<(), ControlError> {
        let Some(mut running) = inner.running.take() else {
            return Ok(());
        };
        let restored = self.point_os(&mut running, None, false).await;
        shut_down(running).await;
        restored
    }

    /// Switches to new settings, changing only what they change. A running proxy reloads
    /// in place (running tunnels continue; the listener moves only if the address
    /// changed) and the OS setting is re-pointed only if what it should point at changed.
    /// On any failure everything stays as it was: the old settings remain applied.
    pub async fn apply(&self, settings: Settings) -> Result<(), ControlError> {
        let config = settings.validate()?;
        let mut inner = self.inner.lock().await;
        let inner = &mut *inner;
        if let Some(running) = inner.running.as_mut() {
            let old = &inner.config;
            let reload = config.proxy != old.proxy;
            if reload {
                running.handle.apply(config.proxy.clone()).await?;
            }
            let desired = desired_for(&config.system_proxy, running.handle.local_addr());
            if let Err(e) = self
                .point_os(running, desired, config.system_proxy.guard)
                .await
            {
                if reload {
                    if let Err(undo) = running.handle.apply(old.proxy.clone()).await {
                        tracing::error!("could not go back to the previous settings: {undo}");
                    }
                }
                self.start_guard(running, old.system_proxy.guard);
                return Err(e);
            }
        }
        inner.settings = settings;
        inner.config = config;
        Ok(())
    }

    /// After a resume or a network change: pooled upstream connections are dropped (they
    /// may be dead), and the OS setting is applied again — reaching services or
    /// connections that appeared meanwhile — only while it is still ours. A setting the
    /// user changed, or turned off, is left alone.
    pub async fn network_changed(&self) -> Result<NetworkRefresh, ControlError> {
        let inner = self.inner.lock().await;
        let Some(running) = inner.running.as_ref() else {
            return Ok(NetworkRefresh::NotRunning);
        };
        running.handle.drop_pool().await;
        let (Some(system), Some(desired)) = (&self.system, running.applied.clone()) else {
            return Ok(NetworkRefresh::PoolDropped);
        };
        let system = Arc::clone(system);
        let ours = blocking(move || -> Result<bool, SysProxyError> {
            if system.status()?.ours {
                system.enable(&desired)?;
                Ok(true)
            } else {
                Ok(false)
            }
        })
        .await??;
        Ok(if ours {
            NetworkRefresh::Reapplied
        } else {
            NetworkRefresh::LeftUsersSetting
        })
    }

    pub async fn status(&self) -> ControllerStatus {
        let inner = self.inner.lock().await;
        let running = inner.running.as_ref();
        ControllerStatus {
            running: running.is_some(),
            listen: running.map(|r| r.handle.local_addr()),
            upstream: inner.config.proxy.upstream.redacted(),
            direct: inner.config.proxy.upstream.is_direct(),
            system_proxy: match running.and_then(|r| r.applied.as_ref()) {
                None => SystemProxyMode::Off,
                Some(Desired::Global { .. }) => SystemProxyMode::Global,
                Some(Desired::Pac { .. }) => SystemProxyMode::Pac,
            },
            stats: running.map(|r| r.handle.stats()).unwrap_or_default(),
        }
    }

    /// Brings the OS setting to `desired` (None: the user's own), starting or stopping
    /// the guard to match.
    async fn point_os(
        &self,
        running: &mut Running,
        desired: Option<Desired>,
        guard: bool,
    ) -> Result<(), ControlError> {
        if let Some(task) = running.guard.take() {
            task.abort();
        }
        if running.applied == desired {
            self.start_guard(running, guard);
            return Ok(());
        }
        let system = match (&self.system, &desired) {
            (Some(system), _) => Arc::clone(system),
            (None, None) => return Ok(()),
            (None, Some(_)) => return Err(ControlError::NoSystemProxy),
        };
        match desired.clone() {
            None => {
                let restore =
                    tokio::time::timeout(RESTORE_LIMIT, blocking(move || system.disable()))
                        .await
                        .map_err(|_| {
                            ControlError::Internal(format!(
                                "restoring the system proxy took over {} s",
                                RESTORE_LIMIT.as_secs()
                            ))
                        })?;
                restore??;
                running.applied = None;
            }
            Some(target) => {
                blocking(move || system.enable(&target)).await??;
                running.applied = desired;
                self.start_guard(running, guard);
            }
        }
        Ok(())
    }

    fn start_guard(&self, running: &mut Running, guard: bool) {
        if let (true, Some(system), Some(desired)) = (guard, &self.system, &running.applied) {
            running.guard = Some(tokio::spawn(guard_loop(
                Arc::clone(system),
                desired.clone(),
            )));
        }
    }
}

async fn shut_down(running: Running) {
    if let Some(guard) = running.guard {
        guard.abort();
    }
    running.handle.shutdown();
    let _ = running.task.await;
}

/// Re-applies the setting when another program changes it, at most every few seconds.
async fn guard_loop(system: Arc<SystemProxy>, desired: Desired) {
    const EVERY: Duration = Duration::from_secs(3);
    loop {
        tokio::time::sleep(EVERY).await;
        let (system, desired) = (Arc::clone(&system), desired.clone());
        match blocking(move || system.reassert(&desired)).await {
            Ok(Ok(Some(was))) => tracing::warn!(
                "another program changed the system proxy (to {was}); re-applied ours"
            ),
            Ok(Ok(None)) | Err(_) => {}
            Ok(Err(e)) => tracing::warn!("system proxy guard: {e}"),
        }
    }
}

/// Restores the OS setting if a panic ever unwinds, then ends the process: a panic means
/// our state is unknown, and the user's network must not stay pointed at us.
pub fn restore_on_panic(system: Arc<SystemProxy>) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = system.disable();
        default(info);
        std::process::exit(101);
    }));
}

/// Repairs what a crashed run left behind; logs what it found. Call before anything else.
pub async fn repair_leftover(system: Option<&Arc<SystemProxy>>) {
    use crate::system_proxy::Recovery;
    let Some(system) = system.cloned() else {
        return;
    };
    match blocking(move || system.recover()).await {
        Ok(Ok(Recovery::Clean)) | Err(_) => {}
        Ok(Ok(Recovery::Restored)) => {
            tracing::warn!("restored the system proxy setting a previous run left behind")
        }
        Ok(Ok(Recovery::KeptUserSetting)) => {
            tracing::info!(
                "dropped a stale system-proxy state file; the current setting is the user's own"
            )
        }
        Ok(Ok(Recovery::OwnerRunning { pid })) => {
            tracing::info!("socksbridge pid {pid} manages the system proxy")
        }
        Ok(Err(e)) => tracing::warn!("could not check for a system proxy left behind: {e}"),
    }
}
