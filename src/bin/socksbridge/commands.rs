//! The subcommands that do not run the proxy: `system-proxy status|restore`,
//! `tun status|restore` and `env`.

use std::path::PathBuf;

use socksbridge::system_proxy::env::{commands, Shell};
use socksbridge::system_proxy::{Recovery, SysProxyError, SystemProxy};

use crate::args::{Args, CliError, SystemProxyCommand, TunCommand};

/// The command registered to run at the next login while the setting is ours.
pub const RESTORE_ARGS: &[&str] = &["system-proxy", "restore"];

pub fn system_proxy_command(command: SystemProxyCommand) -> Result<(), CliError> {
    let system = SystemProxy::detect()
        .map_err(|e| CliError {
            message: e.to_string(),
            code: 1,
        })?
        .restore_at_login(RESTORE_ARGS);
    let fail = |e: SysProxyError| CliError {
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

pub fn tun_command(command: TunCommand) -> Result<(), CliError> {
    use socksbridge::tun::journal;
    let path = journal::default_path();
    let fail = |message: String| CliError { message, code: 1 };
    match command {
        TunCommand::Status => match journal::read(&path).map_err(|e| fail(e.to_string()))? {
            None => println!("capture: none ({} absent)", path.display()),
            Some(journal) => {
                let alive = socksbridge::system_proxy::owner_alive(journal.pid);
                let owner = if alive {
                    "running"
                } else {
                    "gone: `socksbridge tun restore` undoes it"
                };
                println!(
                    "capture: device {} by socksbridge pid {} ({owner})",
                    journal.device, journal.pid
                );
                for change in &journal.changes {
                    println!("  ip {}", change.add_args().join(" "));
                }
            }
        },
        TunCommand::Restore => restore_tun(&path).map_err(fail)?,
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn restore_tun(path: &std::path::Path) -> Result<(), String> {
    use socksbridge::tun::routing::{restore, Restored};
    let env = socksbridge::system_proxy::CommandEnv::new();
    match restore(path, &env).map_err(|e| e.to_string())? {
        Restored::Nothing => println!("nothing to restore"),
        Restored::Undone { undone, journalled } => println!(
            "restored: {undone} of {journalled} routing changes were still there and are undone"
        ),
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn restore_tun(path: &std::path::Path) -> Result<(), String> {
    match socksbridge::tun::journal::read(path).map_err(|e| e.to_string())? {
        None => {
            println!("nothing to restore");
            Ok(())
        }
        Some(_) => Err("the whole-desktop mode's routing is Linux-only in this version".into()),
    }
}

pub fn env_command(
    shell: Option<Shell>,
    listen: Option<String>,
    config: Option<PathBuf>,
) -> Result<(), CliError> {
    let args = Args {
        listen,
        upstream: Vec::new(),
        upstream_via: None,
        config,
        direct: None,
        auth: None,
        open_proxy: true,
        no_udp: false,
        log_level: "info".into(),
        system_proxy: None,
        guard: false,
        tun: false,
        tun_exclude: Vec::new(),
        tun_dns: crate::args::TunDns::Fake,
        tun_resolver: None,
        threads: None,
    };
    let config = args
        .settings()?
        .validate()
        .map_err(|e| CliError::usage(args.describe(&e)))?;
    print!(
        "{}",
        commands(
            shell.unwrap_or_else(Shell::detect),
            config.proxy.listen,
            &config.system_proxy.bypass
        )
    );
    Ok(())
}
