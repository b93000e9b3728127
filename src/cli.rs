//! The headless `socksbridge` command: flags over an optional settings file, one ready
//! line on stdout, logs on stderr, graceful stop on SIGINT/SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::config::{ConfigErrors, InboundAuthSettings, Settings};
use crate::server::ProxyServer;

const EXAMPLES: &str = "\
Examples:
  socksbridge                                   # 127.0.0.1:1095 -> socks5h://127.0.0.1:1080
  socksbridge --upstream socks5h://user:pass@10.0.0.2:1080
  socksbridge --upstream socks5://127.0.0.1:9050 --direct 'localhost,*.lan,10.0.0.0/8'
  socksbridge --listen 0.0.0.0:1095 --auth alice:secret
  socksbridge --config ~/.config/socksbridge/settings.json --log-level debug

Then point clients at it:
  curl -x http://127.0.0.1:1095 https://example.com/
  curl --socks5-hostname 127.0.0.1:1095 https://example.com/
  export http_proxy=http://127.0.0.1:1095 https_proxy=http://127.0.0.1:1095";

/// Run every app on this machine through a SOCKS server: a local HTTP(S) + SOCKS5 proxy.
#[derive(Debug, Parser)]
#[command(name = "socksbridge", version, after_help = EXAMPLES)]
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
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|_| bad())?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init()
        .map_err(|e| CliError::usage(format!("logging: {e}")))
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
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
    let upstream = config.upstream.redacted();
    let server = ProxyServer::bind(config).await.map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "socksbridge listening on {} (http, socks5) -> {upstream}",
            server.local_addr()
        );
        let _ = out.flush();
    }
    server.run(termination()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The binary's `main`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("socksbridge: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run_proxy(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("socksbridge: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
