//! Turning the proxy on and off as one unit with the OS setting: what the tray app's
//! toggle and the CLI both do. Starting binds the listener, then points the OS at it;
//! stopping restores the OS setting first, then drains connections. Applying new settings
//! changes only what they change: the data path reloads only when its config differs
//! (and keeps its connection pool unless the way targets are dialled changed), the OS is
//! re-pointed only when what it should point at differs. The controller holds the applied
//! settings: they are the one source of truth for the app and the CLI. While the proxy
//! runs, the servers are checked (see [`crate::health`]) and failover may move traffic to
//! another server of the list without changing the settings: the user's choice stays
//! theirs, and new settings start from it again unless the list and the choice are the
//! same as before.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::config::{
    Config, ConfigErrors, ProxyConfig, Settings, SystemProxyConfig, SystemProxyMode,
};
use crate::health::{self, Board, Check, HealthEvent, Plan, Switched, Switcher};
use crate::server::{BindError, ProxyHandle, ProxyServer};
use crate::stats::StatsSnapshot;
use crate::system_proxy::{Desired, SysProxyError, SystemProxy};

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

/// One server of the list, as the tray and the window show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerStatus {
    pub name: String,
    /// Its URL without the password.
    pub upstream: String,
    pub direct: bool,
    /// The user's choice.
    pub chosen: bool,
    /// Traffic goes through it (the choice, unless failover moved away from it).
    pub in_use: bool,
    /// Its last check, if it had one.
    pub last: Option<Check>,
}

/// What the tray and the settings window show.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerStatus {
    pub running: bool,
    pub listen: Option<SocketAddr>,
    /// The name of the server in use.
    pub server: String,
    /// Its URL without the password.
    pub upstream: String,
    /// No upstream: targets are dialled from this machine.
    pub direct: bool,
    /// Every server, in list order.
    pub servers: Vec<ServerStatus>,
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
    /// The server checks and failover.
    health: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Inner {
    /// What is applied (or will be, on start): as given, and validated.
    settings: Settings,
    config: Config,
    /// The server traffic goes through: `config.servers.active` unless failover moved.
    in_use: usize,
    /// Bumped with every settings change and stop: a round of checks started under an
    /// older one may no longer switch servers.
    generation: u64,
    /// When failover last moved traffic: the hold-down outlives a round of checks.
    last_switch: Option<std::time::Instant>,
    running: Option<Running>,
    /// Set by [`Controller::close`]: the process is on its way out, nothing starts again.
    closed: bool,
}

impl Inner {
    /// The data path's config: the applied one, dialling through the server in use.
    fn effective(&self) -> ProxyConfig {
        self.config.through(self.in_use)
    }
}

/// When the servers are checked while the proxy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Only when failover is on and there is another server to move to: a lone server is
    /// not dialled behind the user's back (the CLI).
    ForFailover,
    /// Always: the app shows every server's last check.
    Always,
}

/// What readers see: published by every holder of the lock as it lets go, so a reader
/// never waits behind a change in progress (an OS call; on macOS an administrator prompt
/// that may stay open two minutes) and sees the state as of the last finished change.
#[derive(Debug, Clone)]
struct Published {
    settings: Settings,
    config: Config,
    in_use: usize,
    /// The running proxy, and what the OS is pointed at.
    running: Option<(ProxyHandle, Option<Desired>)>,
}

impl Published {
    fn of(inner: &Inner) -> Published {
        Published {
            settings: inner.settings.clone(),
            config: inner.config.clone(),
            in_use: inner.in_use,
            running: inner
                .running
                .as_ref()
                .map(|r| (r.handle.clone(), r.applied.clone())),
        }
    }
}

/// The controller's state, locked for one change at a time and published on release.
#[derive(Debug, Clone)]
struct Shared {
    inner: Arc<tokio::sync::Mutex<Inner>>,
    published: Arc<tokio::sync::watch::Sender<Published>>,
}

/// The lock on [`Inner`]; dropping it publishes what it leaves.
struct Locked<'a> {
    guard: tokio::sync::MutexGuard<'a, Inner>,
    published: &'a tokio::sync::watch::Sender<Published>,
}

impl Shared {
    async fn lock(&self) -> Locked<'_> {
        Locked {
            guard: self.inner.lock().await,
            published: &self.published,
        }
    }

    fn view(&self) -> Published {
        self.published.borrow().clone()
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.published.send_replace(Published::of(&self.guard));
    }
}

#[derive(Debug)]
pub struct Controller {
    system: Option<Arc<SystemProxy>>,
    shared: Shared,
    board: Arc<Board>,
    checks: Checks,
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
        let inner = Inner {
            settings,
            in_use: config.servers.active,
            config,
            generation: 0,
            last_switch: None,
            running: None,
            closed: false,
        };
        let published = Published::of(&inner);
        Ok(Controller {
            system,
            shared: Shared {
                inner: Arc::new(tokio::sync::Mutex::new(inner)),
                published: Arc::new(tokio::sync::watch::channel(published).0),
            },
            board: Arc::new(Board::default()),
            checks: Checks::ForFailover,
        })
    }

    /// The same controller checking the servers as `checks` says.
    pub fn with_checks(self, checks: Checks) -> Controller {
        Controller { checks, ..self }
    }

    /// Every check result and server switch from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<HealthEvent> {
        self.board.subscribe()
    }

    /// Asks for a check of the server in use now, rather than at the next interval.
    pub fn check_now(&self) {
        self.board.wake.notify_one();
    }

    pub fn system_proxy(&self) -> Option<&Arc<SystemProxy>> {
        self.system.as_ref()
    }

    /// The applied settings, as given (never waits for a change in progress).
    pub async fn settings(&self) -> Settings {
        self.shared.view().settings
    }

    /// The applied settings, validated (never waits for a change in progress).
    pub async fn config(&self) -> Config {
        self.shared.view().config
    }

    /// Starts the proxy and points the OS at it (per the config). If the OS setting cannot
    /// be applied the proxy is stopped again and the error returned.
    pub async fn start(&self) -> Result<SocketAddr, ControlError> {
        let mut inner = self.shared.lock().await;
        if inner.closed {
            return Err(ControlError::Closed);
        }
        if let Some(running) = &inner.running {
            return Ok(running.handle.local_addr());
        }
        // A fresh start begins with the user's choice.
        inner.in_use = inner.config.servers.active;
        let server = ProxyServer::bind(inner.effective()).await?;
        let handle = server.handle();
        let local = server.local_addr();
        let task = tokio::spawn(server.run(std::future::pending()));
        let mut running = Running {
            handle,
            task,
            applied: None,
            guard: None,
            health: None,
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
        self.start_checks(&mut inner);
        Ok(local)
    }

    /// Restores the OS setting, then stops accepting and drains connections.
    pub async fn stop(&self) -> Result<(), ControlError> {
        let mut inner = self.shared.lock().await;
        self.stop_locked(&mut inner).await
    }

    /// [`close`](Self::close) when nobody can answer a password prompt (logout, shutdown,
    /// SIGTERM): a restore that needs one is left to the next login instead of waiting.
    pub async fn close_unattended(&self) -> Result<(), ControlError> {
        if let Some(system) = &self.system {
            system.set_unattended();
        }
        self.close().await
    }

    /// Stops for good, on the way out of the process: a start still queued behind this
    /// (an "enable on launch" racing a signal, say) is refused rather than pointing the
    /// desktop at a proxy about to exit.
    pub async fn close(&self) -> Result<(), ControlError> {
        let mut inner = self.shared.lock().await;
        inner.closed = true;
        self.stop_locked(&mut inner).await
    }

    async fn stop_locked(&self, inner: &mut Inner) -> Result<(), ControlError> {
        inner.generation += 1;
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
        let mut guard = self.shared.lock().await;
        let inner = &mut *guard;
        // Failover's move survives a save that leaves the list, the choice and failover
        // alone; otherwise traffic goes back to the choice.
        let in_use = if config.servers == inner.config.servers && config.failover.enabled {
            inner.in_use
        } else {
            config.servers.active
        };
        let effective = config.through(in_use);
        if let Some(running) = inner.running.as_mut() {
            let old = running.handle.config();
            let reload = effective != old;
            if reload {
                running.handle.apply(effective).await?;
            }
            let desired = desired_for(&config.system_proxy, running.handle.local_addr());
            if let Err(e) = self
                .point_os(running, desired, config.system_proxy.guard)
                .await
            {
                if reload {
                    if let Err(undo) = running.handle.apply(old).await {
                        tracing::error!("could not go back to the previous settings: {undo}");
                    }
                }
                self.start_guard(running, inner.config.system_proxy.guard);
                return Err(e);
            }
        }
        inner.settings = settings;
        inner.config = config;
        inner.in_use = in_use;
        self.board.retain(&inner.config.servers.servers);
        self.start_checks(inner);
        Ok(())
    }

    /// Traffic goes back to the user's chosen server, wherever failover moved it: what
    /// choosing a server (again) means.
    pub async fn use_choice(&self) -> Result<(), ControlError> {
        let mut guard = self.shared.lock().await;
        let inner = &mut *guard;
        let chosen = inner.config.servers.active;
        if inner.in_use == chosen {
            return Ok(());
        }
        if let Some(running) = inner.running.as_ref() {
            running.handle.apply(inner.config.through(chosen)).await?;
        }
        inner.in_use = chosen;
        inner.last_switch = None;
        self.start_checks(inner);
        Ok(())
    }

    /// (Re)starts the server checks for the applied settings, if the proxy runs.
    fn start_checks(&self, inner: &mut Inner) {
        inner.generation += 1;
        let Some(running) = inner.running.as_mut() else {
            return;
        };
        if let Some(old) = running.health.take() {
            old.abort();
        }
        let failover_possible =
            inner.config.failover.enabled && inner.config.servers.servers.len() > 1;
        if self.checks == Checks::ForFailover && !failover_possible {
            return;
        }
        let plan = Plan {
            servers: inner.config.servers.servers.clone(),
            preferred: inner.config.servers.active,
            current: inner.in_use,
            failover: inner.config.failover.clone(),
            limit: inner.config.proxy.timeouts.connect,
            last_switch: inner.last_switch,
            udp: inner.config.proxy.udp,
        };
        let board = Arc::clone(&self.board);
        let switcher = ControllerSwitch {
            shared: self.shared.clone(),
            generation: inner.generation,
        };
        running.health = Some(tokio::spawn(async move {
            health::run(plan, &board, switcher).await;
        }));
    }

    /// After a resume or a network change: pooled upstream connections are dropped (they
    /// may be dead), and the OS setting is applied again — reaching services or
    /// connections that appeared meanwhile — only while it is still ours. A setting the
    /// user changed, or turned off, is left alone.
    pub async fn network_changed(&self) -> Result<NetworkRefresh, ControlError> {
        let inner = self.shared.lock().await;
        let Some(running) = inner.running.as_ref() else {
            return Ok(NetworkRefresh::NotRunning);
        };
        running.handle.drop_pool().await;
        self.check_now();
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

    /// The open connections and the last failures; empty while stopped.
    pub async fn connections(&self) -> crate::connections::Connections {
        self.shared
            .view()
            .running
            .map(|(handle, _)| handle.connections())
            .unwrap_or_default()
    }

    /// The running proxy (`None` while stopped): the whole-desktop mode feeds it the
    /// flows it captures, so they take the same router and servers.
    pub fn proxy(&self) -> Option<ProxyHandle> {
        self.shared.view().running.map(|(handle, _)| handle)
    }

    /// What the tray and the window show, as of the last finished change: never waits
    /// for one in progress.
    pub async fn status(&self) -> ControllerStatus {
        let inner = self.shared.view();
        let running = inner.running.as_ref();
        let list = &inner.config.servers;
        let in_use = &list.servers[inner.in_use];
        ControllerStatus {
            running: running.is_some(),
            listen: running.map(|(handle, _)| handle.local_addr()),
            server: in_use.name.clone(),
            upstream: in_use.upstream.redacted(),
            direct: in_use.upstream.is_direct(),
            servers: list
                .servers
                .iter()
                .enumerate()
                .map(|(i, s)| ServerStatus {
                    name: s.name.clone(),
                    upstream: s.upstream.redacted(),
                    direct: s.upstream.is_direct(),
                    chosen: i == list.active,
                    in_use: i == inner.in_use,
                    last: self.board.last(&s.name),
                })
                .collect(),
            system_proxy: match running.and_then(|(_, applied)| applied.as_ref()) {
                None => SystemProxyMode::Off,
                Some(Desired::Global { .. }) => SystemProxyMode::Global,
                Some(Desired::Pac { .. }) => SystemProxyMode::Pac,
            },
            stats: running
                .map(|(handle, _)| handle.stats())
                .unwrap_or_default(),
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

/// Failover's way to move the data path, valid only for the settings generation it was
/// made for.
struct ControllerSwitch {
    shared: Shared,
    generation: u64,
}

impl Switcher for ControllerSwitch {
    async fn switch(&self, from: usize, to: usize) -> Switched {
        let mut inner = self.shared.lock().await;
        if inner.generation != self.generation || inner.in_use != from {
            return Switched::Stale;
        }
        let Some(running) = inner.running.as_ref() else {
            return Switched::Stale;
        };
        match running.handle.apply(inner.config.through(to)).await {
            Ok(_) => {
                inner.in_use = to;
                inner.last_switch = Some(std::time::Instant::now());
                Switched::Done
            }
            Err(e) => {
                tracing::warn!("could not switch servers: {e}");
                Switched::Failed
            }
        }
    }
}

async fn shut_down(running: Running) {
    if let Some(guard) = running.guard {
        guard.abort();
    }
    if let Some(health) = running.health {
        health.abort();
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
        let _ = system.disable_while_panicking();
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
