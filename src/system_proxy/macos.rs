//! macOS: `networksetup` on every enabled network service, not only the current one, so
//! switching from Wi-Fi to Ethernet keeps the proxy. (Compiled and tested on macOS only.)

use super::command::CommandEnv;
use super::{bypass, Backend, Current, Desired, Snapshot, SysProxyError};

const TOOL: &str = "networksetup";

#[derive(Debug, Clone, Default)]
pub struct MacOs {
    env: CommandEnv,
}

impl MacOs {
    pub fn new() -> MacOs {
        MacOs {
            env: CommandEnv::new(),
        }
    }

    fn run(&self, args: &[&str]) -> Result<String, SysProxyError> {
        self.env.run(TOOL, args)
    }

    /// Enabled services (disabled ones are listed with a leading `*`).
    fn services(&self) -> Result<Vec<String>, SysProxyError> {
        let out = self.run(&["-listallnetworkservices"])?;
        Ok(out
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('*'))
            .map(String::from)
            .collect())
    }

    fn field(out: &str, name: &str) -> String {
        out.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches(':').trim().to_string())
            })
            .unwrap_or_default()
    }

    fn read_service(&self, service: &str, into: &mut Snapshot) -> Result<(), SysProxyError> {
        for kind in ["web", "secureweb", "socksfirewall"] {
            let out = self.run(&[&format!("-get{kind}proxy"), service])?;
            let enabled = Self::field(&out, "Enabled") == "Yes";
            into.insert(
                format!("{service}|{kind}"),
                format!(
                    "{}|{}|{}",
                    if enabled { "on" } else { "off" },
                    Self::field(&out, "Server"),
                    Self::field(&out, "Port")
                ),
            );
        }
        let out = self.run(&["-getautoproxyurl", service])?;
        let url = Self::field(&out, "URL");
        let url = if url == "(null)" { String::new() } else { url };
        let enabled = Self::field(&out, "Enabled") == "Yes";
        into.insert(
            format!("{service}|auto"),
            format!("{}|{url}", if enabled { "on" } else { "off" }),
        );
        let out = self.run(&["-getproxybypassdomains", service])?;
        let domains: Vec<&str> = if out.contains("aren't any") {
            Vec::new()
        } else {
            out.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        };
        into.insert(format!("{service}|bypass"), domains.join("\n"));
        Ok(())
    }

    fn set_bypass(&self, service: &str, domains: &[String]) -> Result<(), SysProxyError> {
        let mut args = vec!["-setproxybypassdomains".to_string(), service.to_string()];
        if domains.is_empty() {
            args.push("Empty".into());
        } else {
            args.extend(domains.iter().cloned());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs).map(|_| ())
    }

    fn current_of(snapshot: &Snapshot, service: &str) -> Current {
        let get = |k: &str| {
            snapshot
                .get(&format!("{service}|{k}"))
                .cloned()
                .unwrap_or_default()
        };
        let endpoint = |k: &str| {
            let v = get(k);
            let parts: Vec<&str> = v.split('|').collect();
            (parts.first() == Some(&"on") && parts.len() == 3 && !parts[1].is_empty())
                .then(|| format!("{}:{}", parts[1], parts[2]))
        };
        let auto = get("auto");
        let (auto_on, pac_url) = auto
            .split_once('|')
            .map(|(a, u)| (a == "on", u.to_string()))
            .unwrap_or((false, String::new()));
        let http = endpoint("web");
        let mode = if auto_on {
            "auto"
        } else if http.is_some() {
            "manual"
        } else {
            "none"
        };
        Current {
            mode: mode.into(),
            http,
            https: endpoint("secureweb"),
            socks: endpoint("socksfirewall"),
            bypass: get("bypass").lines().map(String::from).collect(),
            pac_url,
        }
    }
}

impl Backend for MacOs {
    fn name(&self) -> &'static str {
        "macOS (networksetup, all services)"
    }

    fn snapshot(&self) -> Result<Snapshot, SysProxyError> {
        let mut snapshot = Snapshot::new();
        for service in self.services()? {
            self.read_service(&service, &mut snapshot)?;
        }
        Ok(snapshot)
    }

    fn current(&self) -> Result<Current, SysProxyError> {
        let snapshot = self.snapshot()?;
        let first = self.services()?.into_iter().next().unwrap_or_default();
        Ok(Self::current_of(&snapshot, &first))
    }

    fn apply(&self, desired: &Desired) -> Result<(), SysProxyError> {
        let services = self.services()?;
        for service in &services {
            let s = service.as_str();
            match desired {
                Desired::Global {
                    proxy,
                    bypass: list,
                    socks,
                } => {
                    let (host, port) = (proxy.ip().to_string(), proxy.port().to_string());
                    self.run(&["-setwebproxy", s, &host, &port])?;
                    self.run(&["-setsecurewebproxy", s, &host, &port])?;
                    if *socks {
                        self.run(&["-setsocksfirewallproxy", s, &host, &port])?;
                    } else {
                        self.run(&["-setsocksfirewallproxystate", s, "off"])?;
                    }
                    self.set_bypass(s, &bypass::for_macos(list))?;
                    self.run(&["-setautoproxystate", s, "off"])?;
                }
                Desired::Pac { url } => {
                    self.run(&["-setautoproxyurl", s, url])?;
                    self.run(&["-setwebproxystate", s, "off"])?;
                    self.run(&["-setsecurewebproxystate", s, "off"])?;
                }
            }
        }
        let snapshot = self.snapshot()?;
        for service in &services {
            Self::current_of(&snapshot, service).expect_points_at(desired)?;
        }
        Ok(())
    }

    fn restore(&self, snapshot: &Snapshot) -> Result<(), SysProxyError> {
        for service in self.services()? {
            let s = service.as_str();
            if !snapshot.contains_key(&format!("{s}|web")) {
                continue; // a service added since the snapshot: leave it as it is
            }
            for kind in ["web", "secureweb", "socksfirewall"] {
                let value = snapshot
                    .get(&format!("{s}|{kind}"))
                    .cloned()
                    .unwrap_or_default();
                let parts: Vec<&str> = value.split('|').collect();
                if let [state, host, port] = parts[..] {
                    if !host.is_empty() {
                        self.run(&[&format!("-set{kind}proxy"), s, host, port])?;
                    }
                    self.run(&[&format!("-set{kind}proxystate"), s, state])?;
                }
            }
            let auto = snapshot
                .get(&format!("{s}|auto"))
                .cloned()
                .unwrap_or_default();
            if let Some((state, url)) = auto.split_once('|') {
                if !url.is_empty() {
                    self.run(&["-setautoproxyurl", s, url])?;
                }
                self.run(&["-setautoproxystate", s, state])?;
            }
            let domains: Vec<String> = snapshot
                .get(&format!("{s}|bypass"))
                .map(|d| d.lines().map(String::from).collect())
                .unwrap_or_default();
            self.set_bypass(s, &domains)?;
        }
        let after = self.snapshot()?;
        for (key, value) in snapshot {
            if after.get(key).is_some_and(|v| v != value) {
                return Err(SysProxyError::DidNotTake {
                    detail: format!("{key} is {:?}, expected {value:?}", after.get(key)),
                });
            }
        }
        Ok(())
    }
}
