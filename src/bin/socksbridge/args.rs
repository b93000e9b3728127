//! The command line: flags laid over an optional settings file, and the one-line errors
//! with exit codes (2 for usage, 1 for everything else).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use socksbridge::config::links::unique_name;
use socksbridge::config::{
    ConfigErrors, InboundAuthSettings, ServerSettings, Settings, SystemProxyMode,
};
use socksbridge::system_proxy::env::Shell;

const EXAMPLES: &str = "\
Examples:
  socksbridge                                   # 127.0.0.1:1095 -> socks5h://127.0.0.1:1080
  socksbridge --upstream socks5h://user:pass@10.0.0.2:1080
  socksbridge --upstream socks5://127.0.0.1:9050 --direct 'localhost,*.lan,10.0.0.0/8'
  socksbridge --upstream http://user:pass@proxy.example:3128
  socksbridge --upstream https://user:pass@proxy.example:443   # TLS to the proxy
  socksbridge --upstream socks5h://10.0.0.2:1080 --upstream-via http://office.example:3128
  socksbridge --upstream socks5h://10.0.0.2:1080 --upstream socks5h://10.0.0.3:1080  # failover
  socksbridge --listen 0.0.0.0:1095 --auth alice:secret
  socksbridge --config ~/.config/socksbridge/settings.json --log-level debug
  socksbridge --system-proxy                    # point the desktop at it while it runs
  socksbridge --system-proxy=pac                # ... through http://127.0.0.1:1095/proxy.pac
  socksbridge system-proxy status               # what the OS setting is, and whether it is ours
  socksbridge system-proxy restore              # put back what a crashed run left behind
  sudo socksbridge --tun                        # whole desktop: programs that ignore proxies too
  sudo socksbridge --tun --tun-dns real --tun-resolver 1.1.1.1   # ... with real addresses
  sudo socksbridge tun connections              # what the capture carries, program by program
  socksbridge tun restore                       # undo the routing a killed capture left
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
    /// Show or undo the whole-desktop mode's routing changes (Linux)
    #[command(subcommand)]
    Tun(TunCommand),
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

#[derive(Debug, Subcommand)]
pub enum TunCommand {
    /// Print the routing changes a capture made, whether its process is alive, and what
    /// the running capture says of itself
    Status(Control),
    /// List the connections the running capture carries, with the program behind each
    Connections {
        #[command(flatten)]
        control: Control,
        /// Print the Connections view as JSON (what the app's window shows)
        #[arg(long)]
        json: bool,
    },
    /// Stop the running capture: it undoes its routing and exits
    Stop(Control),
    /// Undo the routing changes a killed run left behind, exactly (idempotent)
    Restore,
}

/// Where the running capture answers.
#[derive(Debug, clap::Args)]
pub struct Control {
    /// The capture's control socket [default: tun.sock in the state directory]
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (HTTP and SOCKS on one port) [default: 127.0.0.1:1095]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Upstream: socks5h://, socks5://, socks4a://, socks4://, http://, https:// or direct:// [default: socks5h://127.0.0.1:1080]; more than once: the failover order
    #[arg(long, value_name = "URL")]
    pub upstream: Vec<String>,
    /// Reach the upstreams through this HTTP(S) proxy's CONNECT tunnel (http://user:pass@host:port)
    #[arg(long, value_name = "URL")]
    pub upstream_via: Option<String>,
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
    /// Refuse SOCKS5 UDP ASSOCIATE (on by default: UDP through a SOCKS5 server)
    #[arg(long)]
    pub no_udp: bool,
    /// error, warn, info, debug or trace (or a tracing filter such as socksbridge=debug)
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,
    /// Point the OS proxy setting at the listener while running: global (HTTP/HTTPS) or pac
    #[arg(long, value_name = "MODE", value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "global")]
    pub system_proxy: Option<SystemProxyMode>,
    /// With --system-proxy: re-apply when another program changes the setting
    #[arg(long)]
    pub guard: bool,
    /// Capture the traffic of every program in this network namespace through a TUN
    /// device (Linux; needs CAP_NET_ADMIN), not only of those that read the proxy setting
    #[arg(long)]
    pub tun: bool,
    /// With --tun: comma-separated addresses and CIDRs kept out of the TUN — where a local
    /// SOCKS client (ssh -D, Tor, shadowsocks) connects to, or its traffic would loop
    #[arg(long, value_name = "LIST", requires = "tun", value_delimiter = ',')]
    pub tun_exclude: Vec<String>,
    /// With --tun: what DNS queries get — fake (addresses standing for the names, which the
    /// SOCKS server resolves) or real (resolved through the SOCKS server, for programs that
    /// need real addresses)
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        requires = "tun",
        default_value = "fake"
    )]
    pub tun_dns: TunDns,
    /// With --tun-dns real: the resolver asked through the SOCKS server (IP or IP:port;
    /// default: the one each query was sent to, which the SOCKS server must be able to reach)
    #[arg(long, value_name = "ADDRESS", requires = "tun")]
    pub tun_resolver: Option<String>,
    /// With --tun: the control socket that `socksbridge tun status|connections|stop` and the
    /// app ask (only the user who started the capture can open it) [default: tun.sock in the
    /// state directory]
    #[arg(long, value_name = "PATH", requires = "tun")]
    pub tun_control: Option<PathBuf>,
    /// Threads serving connections (1: all on one thread) [default: 2, or 1 on one core]
    #[arg(long, value_name = "N", env = "SOCKSBRIDGE_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=512))]
    pub threads: Option<u16>,
}

/// `--tun-dns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TunDns {
    Fake,
    Real,
}

/// A failure the CLI reports as one line and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
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
        if !self.upstream.is_empty() {
            let mut names = Vec::new();
            settings.servers = self
                .upstream
                .iter()
                .map(|url| {
                    let server = ServerSettings::named_after(url);
                    let name = unique_name(&server.name, &names);
                    names.push(name.clone());
                    ServerSettings { name, ..server }
                })
                .collect();
            settings.active = String::new();
        }
        if let Some(via) = &self.upstream_via {
            for server in &mut settings.servers {
                if !server.url.trim().eq_ignore_ascii_case("direct://") {
                    server.via = Some(via.clone());
                }
            }
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
                password: password.into(),
                exempt_loopback: false,
            });
        }
        if self.no_udp {
            settings.udp = false;
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
    pub fn describe(&self, errors: &ConfigErrors) -> String {
        let flag_for = |field: &str| -> Option<&'static str> {
            match field {
                "listen" if self.listen.is_some() => Some("--listen"),
                f if f.ends_with(".url") && !self.upstream.is_empty() => Some("--upstream"),
                f if f.ends_with(".via") && self.upstream_via.is_some() => Some("--upstream-via"),
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
