//! A one-shot restore at the next login, registered while the setting is ours: after a
//! power cut or a reboot the OS would otherwise point at a dead port until SocksBridge
//! itself runs again. Linux: an XDG autostart entry; macOS: a LaunchAgent that runs at
//! load; Windows: a `RunOnce` value (which Windows deletes as it runs it). Each runs this
//! program's own restore command; the restore (or any disable) removes the entry again.
//!
//! The entries' text is plain code, tested on every OS; only the Windows registry write
//! is `cfg`-gated.

use std::path::{Path, PathBuf};

/// What runs at login: this executable and the arguments of its restore command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl RestoreCommand {
    /// The CLI's `socksbridge system-proxy restore`, or the app's flag of the same effect,
    /// for the running executable.
    pub fn for_this_program(args: &[&str]) -> Option<RestoreCommand> {
        Some(RestoreCommand {
            program: std::env::current_exe().ok()?,
            args: args.iter().map(|a| a.to_string()).collect(),
        })
    }
}

/// Where the entry lives and how it is spelled.
pub trait LoginRestore: Send + Sync + std::fmt::Debug {
    fn register(&self, command: &RestoreCommand) -> std::io::Result<()>;
    fn unregister(&self) -> std::io::Result<()>;
}

/// Linux: `$XDG_CONFIG_HOME/autostart/socksbridge-restore.desktop`.
#[derive(Debug, Clone)]
pub struct AutostartEntry {
    pub path: PathBuf,
}

/// macOS: `~/Library/LaunchAgents/org.socksbridge.restore-proxy.plist`.
#[derive(Debug, Clone)]
pub struct LaunchAgent {
    pub path: PathBuf,
}

pub const LAUNCH_AGENT_LABEL: &str = "org.socksbridge.restore-proxy";
/// The `RunOnce` value's name under `HKCU\Software\Microsoft\Windows\CurrentVersion`.
pub const RUN_ONCE_VALUE: &str = "SocksBridgeRestore";

/// The Desktop Entry `Exec` spelling of a command: each argument in double quotes, with
/// `"`, `` ` ``, `$` and `\` escaped (Desktop Entry Specification, "The Exec key"); `%`
/// doubled, since field codes are expanded everywhere.
pub fn desktop_exec(command: &RestoreCommand) -> String {
    std::iter::once(command.program.to_string_lossy().into_owned())
        .chain(command.args.iter().cloned())
        .map(|arg| {
            let mut quoted = String::from("\"");
            for c in arg.chars() {
                match c {
                    '"' | '`' | '$' | '\\' => {
                        quoted.push('\\');
                        quoted.push(c);
                    }
                    '%' => quoted.push_str("%%"),
                    c => quoted.push(c),
                }
            }
            quoted.push('"');
            quoted
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn desktop_entry(command: &RestoreCommand) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=SocksBridge: restore the proxy setting\n\
         Comment=Puts back the proxy setting a SocksBridge that did not stop cleanly left \
         behind; removes itself\nExec={}\nTerminal=false\nNoDisplay=true\n\
         X-GNOME-Autostart-enabled=true\n",
        desktop_exec(command)
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn launch_agent_plist(command: &RestoreCommand) -> String {
    let arguments: String = std::iter::once(command.program.to_string_lossy().into_owned())
        .chain(command.args.iter().cloned())
        .map(|a| format!("    <string>{}</string>\n", xml_escape(&a)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n  <key>Label</key>\n  <string>{LAUNCH_AGENT_LABEL}</string>\n  \
         <key>ProgramArguments</key>\n  <array>\n{arguments}  </array>\n  \
         <key>RunAtLoad</key>\n  <true/>\n</dict>\n</plist>\n"
    )
}

/// A Windows command line: each argument quoted where needed, as `CommandLineToArgvW`
/// reads it back (backslashes doubled only before a quote).
pub fn windows_command_line(command: &RestoreCommand) -> String {
    std::iter::once(command.program.to_string_lossy().into_owned())
        .chain(command.args.iter().cloned())
        .map(|arg| {
            if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
                return arg;
            }
            let mut out = String::from("\"");
            let mut backslashes = 0;
            for c in arg.chars() {
                match c {
                    '\\' => backslashes += 1,
                    '"' => {
                        out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                        out.push('"');
                        backslashes = 0;
                    }
                    c => {
                        out.extend(std::iter::repeat_n('\\', backslashes));
                        out.push(c);
                        backslashes = 0;
                    }
                }
            }
            out.extend(std::iter::repeat_n('\\', backslashes * 2));
            out.push('"');
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    crate::fsutil::write_atomic(path, text.as_bytes())
}

fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl LoginRestore for AutostartEntry {
    fn register(&self, command: &RestoreCommand) -> std::io::Result<()> {
        write_file(&self.path, &desktop_entry(command))
    }

    fn unregister(&self) -> std::io::Result<()> {
        remove_file(&self.path)
    }
}

impl LoginRestore for LaunchAgent {
    fn register(&self, command: &RestoreCommand) -> std::io::Result<()> {
        write_file(&self.path, &launch_agent_plist(command))
    }

    fn unregister(&self) -> std::io::Result<()> {
        remove_file(&self.path)
    }
}

/// Windows: the `RunOnce` value of the current user.
#[cfg(windows)]
#[derive(Debug, Clone, Default)]
pub struct RunOnce;

#[cfg(windows)]
impl RunOnce {
    const KEY: &'static str = r"Software\Microsoft\Windows\CurrentVersion\RunOnce";
}

#[cfg(windows)]
impl LoginRestore for RunOnce {
    fn register(&self, command: &RestoreCommand) -> std::io::Result<()> {
        let hkcu = winreg::RegKey::predef(winreg::enums::HKEY_CURRENT_USER);
        let (key, _) = hkcu.create_subkey(Self::KEY)?;
        key.set_value(RUN_ONCE_VALUE, &windows_command_line(command))
    }

    fn unregister(&self) -> std::io::Result<()> {
        let hkcu = winreg::RegKey::predef(winreg::enums::HKEY_CURRENT_USER);
        let key = match hkcu.open_subkey_with_flags(Self::KEY, winreg::enums::KEY_SET_VALUE) {
            Ok(key) => key,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        match key.delete_value(RUN_ONCE_VALUE) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// This OS's place for the entry.
pub fn for_this_os() -> Option<Box<dyn LoginRestore>> {
    #[cfg(windows)]
    {
        Some(Box::new(RunOnce))
    }
    #[cfg(target_os = "macos")]
    {
        Some(Box::new(LaunchAgent {
            path: dirs::home_dir()?
                .join("Library/LaunchAgents")
                .join(format!("{LAUNCH_AGENT_LABEL}.plist")),
        }))
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        Some(Box::new(AutostartEntry {
            path: dirs::config_dir()?
                .join("autostart")
                .join("socksbridge-restore.desktop"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(program: &str) -> RestoreCommand {
        RestoreCommand {
            program: program.into(),
            args: vec!["system-proxy".into(), "restore".into()],
        }
    }

    #[test]
    fn desktop_entries_quote_every_argument_as_the_spec_says() {
        assert_eq!(
            desktop_exec(&command("/usr/bin/socksbridge")),
            r#""/usr/bin/socksbridge" "system-proxy" "restore""#
        );
        assert_eq!(
            desktop_exec(&command(r#"/opt/my "odd" $dir\100%/sb"#)),
            r#""/opt/my \"odd\" \$dir\\100%%/sb" "system-proxy" "restore""#
        );
        let entry = desktop_entry(&command("/usr/bin/socksbridge"));
        assert!(
            entry.starts_with("[Desktop Entry]\nType=Application\n"),
            "{entry}"
        );
        assert!(entry.contains("\nExec=\"/usr/bin/socksbridge\" \"system-proxy\" \"restore\"\n"));
    }

    #[test]
    fn launch_agents_run_at_load_with_escaped_arguments() {
        let plist = launch_agent_plist(&command("/Applications/A&B <x>.app/sb"));
        assert!(plist.contains("<string>org.socksbridge.restore-proxy</string>"));
        assert!(plist.contains("<string>/Applications/A&amp;B &lt;x&gt;.app/sb</string>"));
        assert!(plist.contains("<string>system-proxy</string>\n    <string>restore</string>"));
        assert!(plist.contains("<key>RunAtLoad</key>\n  <true/>"));
    }

    /// As `CommandLineToArgvW` parses it: quotes around spaces, backslashes doubled only
    /// before a quote.
    #[test]
    fn windows_command_lines_read_back_as_the_same_arguments() {
        let cases = [
            (
                r"C:\sb\socksbridge.exe",
                r"C:\sb\socksbridge.exe system-proxy restore",
            ),
            (
                r"C:\Program Files\SocksBridge\socksbridge.exe",
                r#""C:\Program Files\SocksBridge\socksbridge.exe" system-proxy restore"#,
            ),
            (r#"C:\a b\x"y\"#, r#""C:\a b\x\"y\\" system-proxy restore"#),
        ];
        for (program, line) in cases {
            assert_eq!(windows_command_line(&command(program)), line, "{program}");
        }
    }

    #[test]
    fn files_are_written_and_removed_and_a_missing_one_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let entry = AutostartEntry {
            path: dir.path().join("autostart/socksbridge-restore.desktop"),
        };
        entry.register(&command("/usr/bin/socksbridge")).unwrap();
        assert!(std::fs::read_to_string(&entry.path)
            .unwrap()
            .contains("Exec="));
        entry.unregister().unwrap();
        assert!(!entry.path.exists());
        entry.unregister().unwrap();
        let agent = LaunchAgent {
            path: dir.path().join("LaunchAgents/x.plist"),
        };
        agent.register(&command("/sb")).unwrap();
        assert!(agent.path.exists());
        agent.unregister().unwrap();
        assert!(!agent.path.exists());
    }
}
