//! macOS: `networksetup` on every enabled network service, not only the current one, so
//! moving from Wi-Fi to Ethernet keeps the proxy; `scutil` names the primary service,
//! which is the one "the current setting" means.
//!
//! Plain Rust around the tools, so it runs on every OS: the tests put a faithful model of
//! `networksetup`, `scutil` and `osascript` first on the PATH (tests/fixtures/macos/).
//! Where changing the setting needs an administrator (standard users, and admins on recent
//! releases: `networksetup` exits 14), the remaining commands run once more, together,
//! through macOS's own password prompt (`osascript … with administrator privileges`); a
//! cancelled prompt changes nothing and says so.

mod parse;
mod plan;

use super::command::{failure_detail, CommandEnv};
use std::collections::BTreeSet;

use super::ownership::{Merged, Ours};
use super::{Backend, Current, Desired, Parts, Snapshot, SysProxyError};
use plan::{ServiceSettings, HINT, KINDS};

const TOOL: &str = "networksetup";
/// `networksetup`'s exit status when the change needs an administrator.
const NEEDS_ADMIN: i32 = 14;
/// How long the administrator password prompt may stay open.
pub const ADMIN_PROMPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Default)]
pub struct MacOs {
    env: CommandEnv,
    /// No password prompt can be answered any more (logout, shutdown).
    unattended: std::sync::atomic::AtomicBool,
}

impl MacOs {
    pub fn new() -> MacOs {
        MacOs::with_env(CommandEnv::new())
    }

    /// With extra environment for the tools (tests: a PATH with the model first).
    pub fn with_env(env: CommandEnv) -> MacOs {
        MacOs {
            env,
            unattended: Default::default(),
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, SysProxyError> {
        self.env.run(TOOL, args)
    }

    fn services(&self) -> Result<Vec<parse::Service>, SysProxyError> {
        Ok(parse::services(&self.run(&["-listallnetworkservices"])?))
    }

    fn enabled_services(&self) -> Result<Vec<String>, SysProxyError> {
        Ok(self
            .services()?
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| s.name)
            .collect())
    }

    fn read_service(&self, service: &str) -> Result<ServiceSettings, SysProxyError> {
        let mut settings = ServiceSettings::default();
        for (kind, proxy) in KINDS.iter().zip(&mut settings.proxies) {
            let out = self.run(&[&format!("-get{kind}proxy"), service])?;
            *proxy = plan::Endpoint {
                enabled: parse::field(&out, "Enabled") == "Yes",
                server: parse::field(&out, "Server"),
                port: parse::field(&out, "Port"),
                authenticated: parse::field(&out, "Authenticated Proxy Enabled") == "1",
                any_auth: false,
            };
        }
        let out = self.run(&["-getautoproxyurl", service])?;
        let url = parse::field(&out, "URL");
        settings.auto = plan::AutoProxy {
            enabled: parse::field(&out, "Enabled") == "Yes",
            url: if url == "(null)" { String::new() } else { url },
        };
        settings.bypass = parse::bypass_domains(&self.run(&["-getproxybypassdomains", service])?);
        let out = self.run(&["-getproxyautodiscovery", service])?;
        settings.discovery = parse::field(&out, "Auto Proxy Discovery") == "On";
        Ok(settings)
    }

    /// The service macOS routes through now: `scutil`'s primary interface matched to a
    /// service's device, or, for a VPN (its device is empty in the service order), the
    /// `PrimaryService` named in the same output. Offline, the first enabled service in
    /// service order, the one macOS would use first.
    fn primary_service(&self) -> Result<Option<String>, SysProxyError> {
        let ipv4 = self.scutil("show State:/Network/Global/IPv4")?;
        let interface = parse::primary_interface(&ipv4);
        let enabled = self.enabled_services()?;
        let order = parse::service_devices(&self.run(&["-listnetworkserviceorder"])?);
        let in_order = || order.iter().filter(|(name, _)| enabled.contains(name));
        let by_device = interface
            .as_ref()
            .and_then(|i| in_order().find(|(_, device)| device == i));
        if let Some((name, _)) = by_device {
            return Ok(Some(name.clone()));
        }
        if let Some(id) = parse::primary_service_id(&ipv4) {
            let setup = self.scutil(&format!("show Setup:/Network/Service/{id}"))?;
            if let Some(name) = parse::user_defined_name(&setup).filter(|n| enabled.contains(n)) {
                return Ok(Some(name));
            }
        }
        Ok(in_order()
            .next()
            .map(|(name, _)| name.clone())
            .or_else(|| enabled.into_iter().next()))
    }

    /// One `scutil` command read from its standard input, as its prompt takes it.
    fn scutil(&self, command: &str) -> Result<String, SysProxyError> {
        let output =
            self.env
                .output_with_input("scutil", &[], Some(&format!("{command}\nquit\n")))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `networksetup` commands in order. When one needs an administrator, it and the
    /// rest run together behind one password prompt.
    fn execute(&self, commands: &[Vec<String>]) -> Result<(), SysProxyError> {
        for (i, args) in commands.iter().enumerate() {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = self.env.output(TOOL, &refs)?;
            if output.status.success() {
                continue;
            }
            if output.status.code() == Some(NEEDS_ADMIN) {
                if self.unattended.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(SysProxyError::NeedsAdmin {
                        detail: "no password prompt while the session ends; the setting \
                                 is put back at the next login"
                            .to_string(),
                    });
                }
                return self.execute_as_admin(&commands[i..]);
            }
            return Err(SysProxyError::CommandFailed {
                command: format!("{TOOL} {}", args.join(" ")),
                detail: failure_detail(&output),
            });
        }
        Ok(())
    }

    fn execute_as_admin(&self, commands: &[Vec<String>]) -> Result<(), SysProxyError> {
        let script = admin_script(commands);
        // A person types a password here: give them time.
        let output = self
            .env
            .clone()
            .with_limit(ADMIN_PROMPT_LIMIT)
            .output("osascript", &["-e", &script])?;
        if output.status.success() {
            return Ok(());
        }
        let detail = failure_detail(&output);
        Err(SysProxyError::NeedsAdmin {
            detail: if detail.contains("(-128)") {
                "the administrator password prompt was cancelled, so nothing more was changed"
                    .to_string()
            } else {
                format!("running the change as an administrator failed: {detail}")
            },
        })
    }

    fn verify(
        &self,
        wanted: &[(String, ServiceSettings)],
    ) -> Result<Vec<ServiceSettings>, SysProxyError> {
        let mut now_all = Vec::new();
        for (service, wanted) in wanted {
            let now = self.read_service(service)?;
            if let Some(difference) = plan::difference(wanted, &now) {
                return Err(SysProxyError::DidNotTake {
                    detail: format!("on {service:?}, {difference}"),
                    hint: HINT,
                });
            }
            now_all.push(now);
        }
        Ok(now_all)
    }
}

/// One `do shell script` for all of `commands`, stopping at the first failure. Quoted for
/// the shell (single quotes) and then for AppleScript (backslash and double quote).
pub fn admin_script(commands: &[Vec<String>]) -> String {
    let shell_quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let shell = commands
        .iter()
        .map(|args| {
            std::iter::once(TOOL.to_string())
                .chain(args.iter().map(|a| shell_quote(a)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" && ");
    let applescript = shell.replace('\\', r"\\").replace('"', r#"\""#);
    format!("do shell script \"{applescript}\" with administrator privileges")
}

/// The one service a record of [`plan::encode`] holds.
fn single(record: &Snapshot) -> Result<(String, ServiceSettings), SysProxyError> {
    plan::decode(record)?
        .into_iter()
        .next()
        .ok_or_else(|| SysProxyError::DidNotTake {
            detail: "the saved macOS setting is empty".into(),
            hint: HINT,
        })
}

fn encode_one(service: &str, settings: &ServiceSettings) -> Snapshot {
    let mut record = Snapshot::new();
    plan::encode(service, settings, &mut record);
    record
}

impl Backend for MacOs {
    fn name(&self) -> &'static str {
        "macOS (networksetup, all services)"
    }

    fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
        let mut snapshot = Snapshot::new();
        for service in self.enabled_services()? {
            plan::encode(&service, &self.read_service(&service)?, &mut snapshot);
        }
        Ok(snapshot)
    }

    fn current(&self) -> Result<Current, SysProxyError> {
        match self.primary_service()? {
            Some(service) => Ok(plan::current_of(&self.read_service(&service)?)),
            None => Ok(Current::default()),
        }
    }

    /// The named services that still exist, enabled or not.
    fn read(&self, entries: &BTreeSet<String>) -> Result<Snapshot, SysProxyError> {
        let mut snapshot = Snapshot::new();
        for service in self.services()? {
            if entries.contains(&service.name) {
                plan::encode(
                    &service.name,
                    &self.read_service(&service.name)?,
                    &mut snapshot,
                );
            }
        }
        Ok(snapshot)
    }

    /// Writes every service of `target`, all the commands behind at most one administrator
    /// prompt, then reads each one back.
    fn write(&self, target: &Snapshot, now: &Snapshot) -> Result<(), SysProxyError> {
        let now: std::collections::BTreeMap<String, ServiceSettings> =
            plan::decode(now)?.into_iter().collect();
        let wanted = plan::decode(target)?;
        let mut commands = Vec::new();
        for (service, settings) in &wanted {
            let Some(now) = now.get(service) else {
                continue;
            };
            if plan::difference(settings, now).is_some() {
                commands.extend(plan::commands(service, now, settings));
            }
        }
        if commands.is_empty() {
            return Ok(());
        }
        self.execute(&commands)?;
        self.verify(&wanted).map(drop)
    }

    fn entry_of(&self, key: &str) -> String {
        key.rsplit_once('|')
            .map_or(key, |(service, _)| service)
            .to_string()
    }

    fn wanted(
        &self,
        _: &str,
        desired: &Desired,
        now: &Snapshot,
    ) -> Result<Snapshot, SysProxyError> {
        let (service, before) = single(now)?;
        Ok(encode_one(&service, &plan::wanted(desired, &before)))
    }

    fn merge(&self, _: &str, parts: Parts<'_>) -> Result<Merged, SysProxyError> {
        let (service, now) = single(parts.now)?;
        let (_, saved) = single(parts.saved)?;
        let (_, written) = single(parts.written)?;
        let (settings, kept) = plan::merge(&saved, &written, &now, parts.ours);
        Ok(Merged {
            record: encode_one(&service, &settings),
            kept,
        })
    }

    fn routes_through(&self, _: &str, record: &Snapshot, ours: &Ours) -> bool {
        single(record).is_ok_and(|(_, settings)| settings.routes_through(ours))
    }

    fn set_unattended(&self) {
        self.unattended
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn os_default(&self, _: &str, now: &Snapshot) -> Snapshot {
        single(now).map_or_else(
            |_| Snapshot::new(),
            |(service, settings)| encode_one(&service, &plan::os_default(&settings)),
        )
    }
}
