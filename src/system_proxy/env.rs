//! `socksbridge env`: the commands that point a terminal at the proxy, per shell.

use std::net::SocketAddr;

use crate::bypass::for_env;
use crate::pac::reachable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Cmd,
}

impl Shell {
    /// The user's shell: `$SHELL` on Unix, PowerShell on Windows.
    pub fn detect() -> Shell {
        if cfg!(windows) {
            return Shell::Powershell;
        }
        Shell::from_path(&std::env::var("SHELL").unwrap_or_default())
    }

    /// The shell a `$SHELL` path names; anything unknown is Bash-like.
    fn from_path(shell: &str) -> Shell {
        match shell.rsplit('/').next().unwrap_or("") {
            "zsh" => Shell::Zsh,
            "fish" => Shell::Fish,
            "pwsh" | "powershell" => Shell::Powershell,
            _ => Shell::Bash,
        }
    }
}

/// The variables, in the order they are printed.
pub fn variables(listen: SocketAddr, bypass: &[String]) -> Vec<(&'static str, String)> {
    let addr = reachable(listen);
    let http = format!("http://{addr}");
    let socks = format!("socks5h://{addr}");
    let no_proxy = for_env(bypass);
    vec![
        ("http_proxy", http.clone()),
        ("https_proxy", http.clone()),
        ("all_proxy", socks.clone()),
        ("no_proxy", no_proxy.clone()),
        ("HTTP_PROXY", http.clone()),
        ("HTTPS_PROXY", http),
        ("ALL_PROXY", socks),
        ("NO_PROXY", no_proxy),
    ]
}

/// The command text for `shell`.
pub fn commands(shell: Shell, listen: SocketAddr, bypass: &[String]) -> String {
    let vars = variables(listen, bypass);
    match shell {
        Shell::Bash | Shell::Zsh => {
            let assignments: Vec<String> = vars
                .iter()
                .map(|(k, v)| format!("{k}={}", sh_quote(v)))
                .collect();
            format!("export {}\n", assignments.join(" "))
        }
        Shell::Fish => vars
            .iter()
            .map(|(k, v)| format!("set -gx {k} {}\n", sh_quote(v)))
            .collect(),
        // Windows environment names are case-insensitive: the lower-case half is enough.
        Shell::Powershell => vars[..4]
            .iter()
            .map(|(k, v)| format!("$env:{k}=\"{v}\"\n"))
            .collect(),
        Shell::Cmd => vars[..4]
            .iter()
            .map(|(k, v)| format!("set {k}={v}\n"))
            .collect(),
    }
}

fn sh_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:,@[]".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_are_told_apart_by_the_file_name_of_shell() {
        for (path, shell) in [
            ("/bin/zsh", Shell::Zsh),
            ("/usr/bin/fish", Shell::Fish),
            ("/usr/bin/pwsh", Shell::Powershell),
            ("/opt/powershell", Shell::Powershell),
            ("/bin/bash", Shell::Bash),
            ("/bin/dash", Shell::Bash),
            ("", Shell::Bash),
            ("/home/me/zsh/bin/sh", Shell::Bash),
        ] {
            assert_eq!(Shell::from_path(path), shell, "{path}");
        }
    }

    #[test]
    fn shells_table() {
        let listen: SocketAddr = "127.0.0.1:1095".parse().unwrap();
        let bypass = vec!["localhost".to_string(), "*.local".to_string()];
        let bash = commands(Shell::Bash, listen, &bypass);
        assert_eq!(
            bash,
            "export http_proxy=http://127.0.0.1:1095 https_proxy=http://127.0.0.1:1095 all_proxy=socks5h://127.0.0.1:1095 \
             no_proxy=localhost,.local HTTP_PROXY=http://127.0.0.1:1095 HTTPS_PROXY=http://127.0.0.1:1095 \
             ALL_PROXY=socks5h://127.0.0.1:1095 NO_PROXY=localhost,.local\n"
        );
        assert!(commands(Shell::Fish, listen, &bypass)
            .starts_with("set -gx http_proxy http://127.0.0.1:1095\n"));
        assert!(commands(Shell::Powershell, listen, &bypass)
            .contains("$env:no_proxy=\"localhost,.local\"\n"));
        assert_eq!(commands(Shell::Cmd, listen, &bypass).lines().count(), 4);
        assert!(
            commands(Shell::Bash, "0.0.0.0:9".parse().unwrap(), &[]).contains("http://127.0.0.1:9")
        );
        assert_eq!(sh_quote("a b'c"), "'a b'\\''c'");
    }
}
