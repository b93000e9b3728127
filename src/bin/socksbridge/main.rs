//! `socksbridge`, the headless proxy: flags over an optional settings file, one ready line
//! on stdout, logs on stderr, and on SIGINT/SIGTERM/SIGHUP the OS setting restored before
//! connections drain.

mod args;
mod commands;
mod logging;
mod tun_commands;
mod whole_desktop;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use socksbridge::config::SystemProxyMode;
use socksbridge::controller::{repair_leftover, restore_on_panic, Controller};
use socksbridge::system_proxy::env::{commands, Shell};
use socksbridge::system_proxy::SystemProxy;
use socksbridge::termination::termination;

use args::{Args, Cli, CliError, Command};

/// Runs the proxy in the foreground until a termination signal.
async fn run_proxy(args: Args) -> Result<(), CliError> {
    // First of all: from here on a signal, whenever it comes (during recovery, during
    // start-up), ends in a restore instead of the default action.
    let signalled = termination();
    logging::init_logging(&args.log_level)?;
    let mut settings = args.settings()?;
    let detected =
        SystemProxy::detect().map(|s| Arc::new(s.restore_at_login(crate::commands::RESTORE_ARGS)));
    let system = detected.as_ref().ok().cloned();
    let wants_system_proxy = settings.system_proxy.mode != SystemProxyMode::Off;
    let unsupported = match &detected {
        Err(e) if wants_system_proxy => {
            // Run as a plain proxy, and say how to use it from a terminal.
            settings.system_proxy.mode = SystemProxyMode::Off;
            Some(e.to_string())
        }
        _ => None,
    };
    let controller = Controller::new(settings, system.clone())
        .map_err(|e| CliError::usage(args.describe(&e)))?;
    match socksbridge::limits::raise_fd_limit() {
        Ok(limit) => tracing::debug!("open file limit: {limit}"),
        Err(e) => tracing::debug!("could not raise the open file limit: {e}"),
    }
    repair_leftover(system.as_ref()).await;
    if let (Some(system), true) = (&system, wants_system_proxy) {
        restore_on_panic(Arc::clone(system));
    }
    let config = controller.config().await;
    let local = controller.start().await.map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })?;
    if let Some(message) = unsupported {
        tracing::warn!(
            "{message}:\n{}",
            commands(Shell::detect(), local, &config.system_proxy.bypass).trim_end()
        );
    }
    let mut upstream = config.proxy.upstream.redacted();
    let others: Vec<String> = config
        .servers
        .servers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != config.servers.active)
        .map(|(_, s)| s.upstream.redacted())
        .collect();
    if config.failover.enabled && !others.is_empty() {
        upstream = format!("{upstream} (then {})", others.join(", "));
    }
    let tun = match args.tun {
        true => match whole_desktop::start(&controller, &args).await {
            Ok(tun) => Some(tun),
            Err(e) => {
                // Nothing may stay pointed at a port that is about to close.
                if let Err(close) = controller.close().await {
                    tracing::error!("{close}");
                }
                return Err(e);
            }
        },
        false => None,
    };
    serve_until_signal(controller, local, &upstream, tun, signalled).await
}

async fn serve_until_signal(
    controller: Controller,
    local: std::net::SocketAddr,
    upstream: &str,
    tun: Option<whole_desktop::Capture>,
    signalled: impl std::future::Future<Output = socksbridge::termination::Termination>,
) -> Result<(), CliError> {
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "socksbridge listening on {local} (http, socks5) -> {upstream}{}",
            tun.as_ref()
                .map(|tun| format!("; whole desktop: {}", tun.describe()))
                .unwrap_or_default()
        );
        let _ = out.flush();
    }
    // A stop asked over the capture's control socket is a person at the app or a terminal.
    let asked = async {
        match &tun {
            Some(tun) => tun.stop_asked().await,
            None => std::future::pending().await,
        }
    };
    let signal = tokio::select! {
        signal = signalled => signal,
        () = asked => socksbridge::termination::Termination::Interrupt,
    };
    // The routing goes first: programs are back on the network before anything else.
    if let Some(tun) = tun {
        if let Err(e) = tun.stop().await {
            tracing::error!("{e}");
        }
    }
    // The desktop stops routing through us first; then connections drain.
    let result = if signal.attended() {
        controller.close().await
    } else {
        controller.close_unattended().await
    };
    tracing::info!("stopped");
    result.map_err(|e| CliError {
        message: e.to_string(),
        code: 1,
    })
}

/// The runtime for `threads` threads. With one, every connection runs on the main thread
/// (name lookups and OS proxy commands still go to the blocking pool).
///
/// The whole-desktop mode needs the multi-threaded scheduler even on one thread: its
/// packet stack blocks in place when a flow closes.
fn runtime(threads: usize, tun: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 && !tun {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::SystemProxy(command)) => commands::system_proxy_command(command),
        Some(Command::Tun(command)) => tun_commands::tun_command(command),
        Some(Command::Env {
            shell,
            listen,
            config,
        }) => commands::env_command(shell, listen, config),
        None => match runtime(
            cli.args
                .threads
                .map_or_else(socksbridge::limits::proxy_threads, usize::from),
            cli.args.tun,
        ) {
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
