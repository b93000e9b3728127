//! The subcommands that do not run the proxy: `system-proxy status|restore` and `env`
//! (`tun …` is in [`tun_commands`](crate::tun_commands)).

use std::path::PathBuf;

use socksbridge::system_proxy::env::{commands, Shell};
use socksbridge::system_proxy::{Recovery, SysProxyError, SystemProxy};

use crate::args::{Args, CliError, SystemProxyCommand};

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
        tun_control: None,
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
