//! The headless `socksbridge` command: flags over an optional settings file, one ready
//! line on stdout, logs on stderr, graceful stop on SIGINT/SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{ConfigErrors, InboundAuthSettings, Settings, SystemProxyMode};
use crate::controller::{repair_leftover, restore_on_panic, Controller};
use crate::system_proxy::env::{commands, Shell};
use crate::system_proxy::{Recovery, SystemProxy};

const EXAMPLES: &str = "\
Examples:
  socksbridge                                   # 127.0.0.1:1095 -> socks5h://127.0.0.1:1080
  socksbridge --upstream socks5h://user:pass@10.0.0.2:1080
  socksbridge --upstream socks5://127.0.0.1:9050 --direct 'localhost,*.lan,10.0.0.0/8'
  socksbridge --listen 0.0.0.0:1095 --auth alice:secret
  socksbridge --config ~/.config/socksbridge/settings.json --log-level debug
  socksbridge --system-proxy                    # point the desktop at it while it runs
  socksbridge --system-proxy=pac                # ... through http://127.0.0.1:1095/proxy.pac
  socksbridge system-proxy status               # what the OS setting is, and whether it is ours
  socksbridge system-proxy restore              # put back what a crashed run left behind
  eval \"$(socksbridge env)\"                     # point this shell at the proxy

Then point clients at it:
  curl -x http://127.0.0.1:1095 https://example.com/
  curl --socks5-hostname 127.0.0.1:1095 https://example.com/
  export http_proxy=http://127.0.0.1:1095 https_proxy=http://127.0.0.1:1095";

/// Run every app on this machine through a SOCKS server: a local HTTP(S) + SOCKS5 proxy.
#[derive(Debug, Parser)]
#[command(name = "socksbridge", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub args: Args,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show or repair the operating system's proxy setting
    #[command(subcommand)]
    SystemProxy(SystemProxyCommand),
    /// Print the commands that point a terminal at the proxy
    Env {
        /// bash, zsh, fish, powershell or cmd [default: from $SHELL]
        #[arg(long, value_enum)]
        shell: Option<Shell>,
        /// The proxy's address [default: from --config, else 127.0.0.1:1095]
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Settings file to read the address and bypass list from
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SystemProxyCommand {
    /// Print the current setting and whether it points at socksbridge
    Status,
    /// Put back the setting a crashed or killed run left pointing at itself (idempotent)
    Restore,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (HTTP and SOCKS on one port) [default: 127.0.0.1:1095]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Upstream: socks5h://, socks5://, socks4a://, socks4:// or direct:// [default: socks5h://127.0.0.1:1080]
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Settings file (JSON, the app's schema); flags override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Comma-separated hosts, *.suffix patterns and CIDRs that skip the upstream
    #[arg(long, value_name = "LIST")]
    pub direct: Option<String>,
    /// Require clients to authenticate (HTTP Basic and SOCKS5 user/pass)
    #[arg(
        long,
        value_name = "USER:PASS",
        env = "SOCKSBRIDGE_AUTH",
        hide_env_values = true
    )]
    pub auth: Option<String>,
    /// Allow a non-loopback --listen without --auth: anyone who reaches the port can use it
    #[arg(long)]
    pub open_proxy: bool,
    /// error, warn, info, debug or trace (or a tracing filter such as socksbridge=debug)
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
    /// Point the OS proxy setting at the listener while running: global (HTTP/HTTPS) or pac
    #[arg(long, value_name = "MODE", value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "global")]
    pub system_proxy: Option<SystemProxyMode>,
    /// With --system-proxy: re-apply when another program changes the setting
    #[arg(long)]
    pub guard: bool,
}

/// A failure the CLI reports as one line and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 2,
        }
    }
}

impl Args {
    /// Settings from `--config` (or defaults) with the flags laid over them.
    pub fn settings(&self) -> Result<Settings, CliError> {
        let mut settings = match &self.config {
            Some(path) => Settings::load(path).map_err(|e| CliError::usage(e.to_string()))?,
            None => Settings::default(),
        };
        if let Some(listen) = &self.listen {
            settings.listen = listen.clone();
        }
        if let Some(upstream) = &self.upstream {
            settings.upstream = upstream.clone();
        }
        if let Some(direct) = &self.direct {
            settings.direct = direct
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(auth) = &self.auth {
            let (username, password) = auth
                .split_once(':')
                .ok_or_else(|| CliError::usage("--auth: expected USER:PASS"))?;
            settings.auth = Some(InboundAuthSettings {
                username: username.to_string(),
                password: password.to_string(),
                exempt_loopback: false,
            });
        }
        if self.open_proxy {
            settings.open_proxy = true;
        }
        if let Some(mode) = self.system_proxy {
            settings.system_proxy.mode = mode;
        }
        if self.guard {
            settings.system_proxy.guard = true;
        }
        Ok(settings)
    }

    /// Names a bad field by the flag that set it, when a flag did.
    fn describe(&self, errors: &ConfigErrors) -> String {
        let flag_for = |field: &str| -> Option<&'static str> {
            match field {
                "listen" if self.listen.is_some() => Some("--listen"),
                "upstream" if self.upstream.is_some() => Some("--upstream"),
                "direct" if self.direct.is_some() => Some("--direct"),
                f if f.starts_with("auth.") && self.auth.is_some() => Some("--auth"),
                _ => None,
            }
        };
        let parts: Vec<String> = errors
            .0
            .iter()
            .map(|e| match flag_for(&e.field) {
                Some(flag) => format!("{flag}: {}", e.message),
                None => format!("{}: {}", e.field, e.message),
            })
            .collect();
        parts.join("; ")
    }
}

fn init_logging(level: &str) -> Result<(), CliError> {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let bad = || {
        CliError::usage(format!(
            "--log-level: '{level}' is not a level (error, warn, info, debug, trace)"
        ))
    };
    // A bare word that is not a level would silently be taken as a target name.
    if !level.contains('=') && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
        return Err(bad());
    }
    // `Targets`, not `EnvFilter`: the same `target=level` syntax without a regex engine
    // (a tenth of the binary's code, resident for the process's whole life).
    let filter: tracing_subscriber::filter::Targets = level.parse().map_err(|_| bad())?;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .map_err(|e| CliError::usage(format!("logging: {e}")))
}

/// Resolves on SIGINT, SIGTERM or SIGHUP (Ctrl-C elsewhere). The handlers are installed
/// when this is called, not when the future is first polled: call it before announcing
/// readiness, so a signal sent right after the ready line is never lost.
pub fn termination() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        );
        async move {
            match handlers {
                (Ok(mut int), Ok(mut term), Ok(mut hup)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                        _ = hup.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs the proxy in the foreground until a termination signal.
pub async fn run_proxy(args: Args) -> Result<(), CliError> {
    init_logging(&args.log_level)?;
    let settings = args.settings()?;
    let config = settings
        .validate()
        .map_err(|e| CliError::usage(args.describe(&e)))?;
    match crate::limits::raise_fd_limit() {
        Ok(limit) => tracing::debug!("open file limit: {limit}"),
        Err(e) => tracing::debug!("could not raise the open file limit: {e}"),
    }
    let detected = SystemProxy::detect().map(Arc::new);
    let system = detected.as_ref().ok().cloned();
    repair_leftover(system.as_ref()).await;

    let mut config = config;
    let wants_system_proxy = config.system_proxy.mode != SystemProxyMode::Off;
    let unsupported = match &detected {
        Err(e) if wants_system_proxy => {
            // Run as a plain proxy, and say how to use it from a terminal.
            config.system_proxy.mode = SystemProxyMode::Off;
            Some(e.to_string())
        }
        _ => None,
    };
    let bypass = config.system_proxy.bypass.clone();
    let upstream = config.upstream.redacted();
    let controller = Controller::new(config, system.clone());
    let local = controller.start().await.map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })?;
    if let Some(message) = unsupported {
        tracing::warn!(
            "{message}:\n{}",
            commands(Shell::detect(), local, &bypass).trim_end()
        );
    }
    if let (Some(system), true) = (&system, wants_system_proxy) {
        restore_on_panic(Arc::clone(system));
    }
    serve_until_signal(controller, local, &upstream).await
}

async fn serve_until_signal(
    controller: Controller,
    local: std::net::SocketAddr,
    upstream: &str,
) -> Result<(), CliError> {
    let signalled = termination();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "socksbridge listening on {local} (http, socks5) -> {upstream}"
        );
        let _ = out.flush();
    }
    signalled.await;
    // The desktop stops routing through us first; then connections drain.
    let result = controller.stop().await;
    tracing::info!("stopped");
    result.map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })
}

fn system_proxy_command(command: SystemProxyCommand) -> Result<(), CliError> {
    let system = SystemProxy::detect().map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })?;
    let fail = |e: crate::system_proxy::SysProxyError| CliError {
        message: e.to_string(),
        code: 1,
    };
    match command {
        SystemProxyCommand::Status => {
            let status = system.status().map_err(fail)?;
            println!("backend: {}", status.backend);
            println!("setting: {}", status.current);
            match (&status.state, status.ours) {
                (Some(state), true) => println!("ours: yes (applied by socksbridge pid {})", state.pid),
                (Some(state), false) => println!("ours: no (a state file from pid {} remains; `socksbridge system-proxy restore` drops it)", state.pid),
                (None, _) => println!("ours: no"),
            }
        }
        SystemProxyCommand::Restore => match system.recover().map_err(fail)? {
            Recovery::Clean => println!("nothing to restore"),
            Recovery::Restored => println!(
                "restored: {}",
                system
                    .status()
                    .map(|s| s.current.to_string())
                    .unwrap_or_default()
            ),
            Recovery::KeptUserSetting => {
                println!("the setting was changed since; kept it and dropped the state file")
            }
            Recovery::OwnerRunning { pid } => println!(
                "socksbridge pid {pid} is running and owns the setting; stop it to restore"
            ),
        },
    }
    Ok(())
}

fn env_command(
    shell: Option<Shell>,
    listen: Option<String>,
    config: Option<PathBuf>,
) -> Result<(), CliError> {
    let args = Args {
        listen,
        upstream: None,
        config,
        direct: None,
        auth: None,
        open_proxy: true,
        log_level: "info".into(),
        system_proxy: None,
        guard: false,
    };
    let config = args
        .settings()?
        .validate()
        .map_err(|e| CliError::usage(args.describe(&e)))?;
    print!(
        "{}",
        commands(
            shell.unwrap_or_else(Shell::detect),
            config.listen,
            &config.system_proxy.bypass
        )
    );
    Ok(())
}

/// The binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::SystemProxy(command)) => system_proxy_command(command),
        Some(Command::Env {
            shell,
            listen,
            config,
        }) => env_command(shell, listen, config),
        // One thread drives every connection. Most of a proxy's time is the kernel's
        // loopback TCP work inside its reads and writes; a second worker only adds
        // cross-thread wake-ups (measured on 2 cores: W1 +25 % req/s and W2 p99 halved
        // with one thread). Name lookups and OS proxy commands still run on the
        // blocking pool.
        None => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(run_proxy(cli.args)),
            Err(e) => Err(CliError {
                message: format!("cannot start the async runtime: {e}"),
                code: 1,
            }),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("socksbridge: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
