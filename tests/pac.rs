//! The served PAC file, executed: node runs `/proxy.pac` as fetched from the proxy, in a
//! `vm` sandbox with the standard PAC helpers, for a table of hosts — bypass names,
//! `*.suffix` patterns, CIDRs, plain host names, IPv6 — expecting DIRECT or PROXY.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use serde_json::json;

/// The PAC helpers the script may call, as browsers define them — `isPlainHostName` in its
/// original form, which looks only for a dot (newer browsers also look for a colon) — and
/// no DNS: `dnsResolve` answers nothing, so a name is never an address behind our back.
const HARNESS: &str = r#"
const vm = require("vm");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const toNumber = (ip) => ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
const isIp = (s) => /^\d+\.\d+\.\d+\.\d+$/.test(s);
const sandbox = {
  isPlainHostName: (host) => host.search("\\.") == -1,
  dnsDomainIs: (host, domain) =>
    host.length >= domain.length && host.substring(host.length - domain.length) == domain,
  dnsResolve: () => null,
  isInNet: (host, pattern, mask) => {
    const ip = isIp(host) ? host : null;
    if (ip === null) return false;
    return (toNumber(ip) & toNumber(mask)) >>> 0 === (toNumber(pattern) & toNumber(mask)) >>> 0;
  },
};
vm.createContext(sandbox);
vm.runInContext(input.pac, sandbox);
const answers = {};
for (const host of input.hosts) {
  answers[host] = vm.runInContext(`FindProxyForURL("http://" + ${JSON.stringify(host)} + "/", ${JSON.stringify(host)})`, sandbox);
}
process.stdout.write(JSON.stringify(answers));
"#;

#[tokio::test]
async fn the_served_pac_sends_each_host_where_the_bypass_list_says() {
    within(30, async {
        let bypass = [
            "localhost",
            "127.0.0.0/8",
            "::1",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "*.local",
            "intranet.corp",
            "*.corp.example",
            "fd00::/8",
        ];
        let proxy = proxy(json!({ "system_proxy": { "bypass": bypass } })).await;
        let pac = curl(&["--noproxy", "*", &format!("{}/proxy.pac", proxy.url())]).await;
        assert_eq!(pac.status, 200);
        let ours = format!("PROXY {}", proxy.addr);
        let table = [
            ("localhost", "DIRECT"),
            ("printer", "DIRECT"),
            ("127.0.0.1", "DIRECT"),
            ("127.8.9.10", "DIRECT"),
            ("::1", "DIRECT"),
            ("[::1]", "DIRECT"),
            ("10.1.2.3", "DIRECT"),
            ("11.1.2.3", &ours),
            ("172.16.0.1", "DIRECT"),
            ("172.31.255.255", "DIRECT"),
            ("172.32.0.1", &ours),
            ("192.168.1.1", &ours),
            ("printer.local", "DIRECT"),
            ("a.b.local", "DIRECT"),
            ("local", "DIRECT"),
            ("a.notlocal", &ours),
            ("intranet.corp", "DIRECT"),
            ("www.intranet.corp", &ours),
            ("corp.example", "DIRECT"),
            ("a.corp.example", "DIRECT"),
            ("notcorp.example", &ours),
            ("example.com", &ours),
            ("2001:db8::1", &ours),
            // PAC has no portable IPv6 CIDR test: IPv6 ranges are not bypassed.
            ("fd00::1", &ours),
        ];
        let input = json!({
            "pac": pac.text(),
            "hosts": table.iter().map(|(host, _)| *host).collect::<Vec<_>>(),
        });
        let mut node = Command::new("node")
            .args(["-e", HARNESS])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is not installed");
        node.stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = node.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let wrong: Vec<String> = table
            .iter()
            .filter(|(host, expected)| answers[host] != *expected)
            .map(|(host, expected)| format!("{host}: {} (expected {expected})", answers[host]))
            .collect();
        assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), pac.text());
    })
    .await;
}

#[tokio::test]
async fn requests_to_the_proxy_itself_are_read_only() {
    within(30, async {
        let proxy = proxy(json!({})).await;
        let base = proxy.url();
        // (method, path, status, content type)
        for (method, path, expected, kind) in [
            (
                "GET",
                "/proxy.pac",
                200,
                "application/x-ns-proxy-autoconfig",
            ),
            (
                "HEAD",
                "/proxy.pac",
                200,
                "application/x-ns-proxy-autoconfig",
            ),
            ("POST", "/proxy.pac", 400, "text/plain"),
            ("GET", "/", 200, "text/plain"),
            ("HEAD", "/", 200, "text/plain"),
            ("DELETE", "/", 400, "text/plain"),
            ("GET", "/other", 400, "text/plain"),
        ] {
            let url = format!("{base}{path}");
            let mut args = vec!["--noproxy", "*", "-D", "/dev/stderr"];
            if method == "HEAD" {
                args.push("-I");
            } else {
                args.extend(["-X", method]);
            }
            args.push(&url);
            let out = curl(&args).await;
            let head = out.stderr.to_ascii_lowercase();
            assert!(
                head.contains(&format!("content-type: {kind}")),
                "{method} {path}: {head}"
            );
            assert_eq!(out.status, expected, "{method} {path}");
        }
    })
    .await;
}
