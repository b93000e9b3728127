//! The `socksbridge` binary's contract: the ready line, exit codes, one-line errors,
//! signals, `--config` with flags on top.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Running {
    child: Child,
    line: String,
}

/// Starts the binary and waits for its ready line.
async fn start(args: &[&str]) -> Running {
    let mut child = Command::new(bin_path())
        .args(args)
        .stdout(Stdio::piped())
        // Never read: a pipe would block the child once its logs filled the buffer.
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next_line().await.unwrap().unwrap_or_default();
    Running { child, line }
}

async fn run_to_end(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(bin_path())
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn listen_addr(line: &str) -> std::net::SocketAddr {
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

async fn signal_and_wait(mut running: Running, signal: &str) -> i32 {
    let pid = running.child.id().unwrap().to_string();
    Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), running.child.wait())
        .await
        .unwrap()
        .unwrap();
    status.code().unwrap_or(-1)
}

#[tokio::test]
async fn prints_one_ready_line_serves_and_stops_on_sigterm_and_sigint() {
    within(60, async {
        let origin = origin().await;
        let socks = microsocks(Some(("bob", "hunter2"))).await;
        let upstream = format!("socks5h://bob:hunter2@{}", socks.addr);
        for signal in ["TERM", "INT"] {
            let running = start(&["--listen", "127.0.0.1:0", "--upstream", &upstream]).await;
            let addr = listen_addr(&running.line);
            assert_eq!(
                running.line,
                format!(
                    "socksbridge listening on {addr} (http, socks5) -> socks5h://bob@{}",
                    socks.addr
                )
            );
            assert!(!running.line.contains("hunter2"));
            let out = curl(&["-x", &format!("http://{addr}"), &origin.url("/hello")]).await;
            assert_eq!(
                (out.status, out.text().as_str()),
                (200, "hello"),
                "{}",
                out.stderr
            );
            assert_eq!(signal_and_wait(running, signal).await, 0, "SIG{signal}");
            assert!(
                tokio::net::TcpStream::connect(addr).await.is_err(),
                "still listening after SIG{signal}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn defaults_are_documented_ones() {
    within(30, async {
        // Only checks the line, on a free port: the default port may be taken on a dev box.
        let port = free_port().await;
        let running = start(&["--listen", &format!("127.0.0.1:{port}")]).await;
        assert_eq!(running.line, format!("socksbridge listening on 127.0.0.1:{port} (http, socks5) -> socks5h://127.0.0.1:1080"));
        assert_eq!(signal_and_wait(running, "TERM").await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_busy_port_is_one_clear_line() {
    within(30, async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let (code, stdout, stderr) = run_to_end(&["--listen", &format!("127.0.0.1:{port}")]).await;
        assert_eq!(code, 1);
        assert_eq!(stdout, "");
        assert_eq!(
            stderr,
            format!("socksbridge: port {port} is already in use\n")
        );
    })
    .await;
}

#[tokio::test]
async fn bad_flags_name_what_is_wrong() {
    within(30, async {
        let cases: [(&[&str], &str); 6] = [
            (&["--upstream", "ftp://127.0.0.1:8080"], "socksbridge: --upstream: unknown scheme 'ftp' (use socks5h, socks5, socks4a, socks4, http, https or direct)\n"),
            (&["--upstream", "socks5h://u@h:1"], "socksbridge: --upstream: password must be 1-255 bytes\n"),
            (&["--listen", "localhost"], "socksbridge: --listen: 'localhost' is not IP:PORT (for example 127.0.0.1:1095)\n"),
            (&["--direct", "10.0.0.0/40"], "socksbridge: --direct: '10.0.0.0/40' is not a host, *.suffix pattern or CIDR: invalid CIDR\n"),
            (&["--auth", "nocolon"], "socksbridge: --auth: expected USER:PASS\n"),
            (&["--log-level", "loud!"], "socksbridge: --log-level: 'loud!' is not a level (error, warn, info, debug, trace)\n"),
        ];
        for (args, expected) in cases {
            let (code, stdout, stderr) = run_to_end(args).await;
            assert_eq!((code, stdout.as_str(), stderr.as_str()), (2, "", expected), "{args:?}");
        }
        let (code, _, stderr) = run_to_end(&["--no-such-flag"]).await;
        assert_eq!(code, 2);
        assert!(stderr.contains("--no-such-flag"), "{stderr}");
        let (code, _, stderr) = run_to_end(&["--listen", "0.0.0.0:0"]).await;
        assert_eq!(code, 2);
        assert!(stderr.contains("reachable from other machines"), "{stderr}");
    })
    .await;
}

#[tokio::test]
async fn help_shows_examples_and_no_secrets() {
    within(30, async {
        let out = Command::new(bin_path())
            .arg("--help")
            .env("SOCKSBRIDGE_AUTH", "alice:topsecret")
            .output()
            .await
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        for needle in [
            "Examples:",
            "--upstream",
            "--listen",
            "--direct",
            "--auth",
            "--config",
            "--log-level",
            "curl -x http://127.0.0.1:1095",
        ] {
            assert!(help.contains(needle), "help lacks {needle}:\n{help}");
        }
        assert!(!help.contains("topsecret"));
    })
    .await;
}

#[tokio::test]
async fn config_file_with_flags_on_top_and_broken_files_reported() {
    within(30, async {
        let origin = origin().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(
            &file,
            r#"{"listen":"127.0.0.1:1","upstream":"socks5h://127.0.0.1:9","direct":["127.0.0.1"]}"#,
        )
        .unwrap();
        let path = file.display().to_string();
        let running = start(&["--config", &path, "--listen", "127.0.0.1:0"]).await;
        assert!(
            running.line.ends_with("-> socks5h://127.0.0.1:9"),
            "{}",
            running.line
        );
        let addr = listen_addr(&running.line);
        // 127.0.0.1 is direct in the file: reachable although the upstream is dead.
        let out = curl(&["-x", &format!("http://{addr}"), &origin.ip_url("/hello")]).await;
        assert_eq!(out.status, 200);
        assert_eq!(signal_and_wait(running, "TERM").await, 0);

        std::fs::write(&file, r#"{"listen": "127.0.0.1:0", "colour": "blue"}"#).unwrap();
        let (code, _, stderr) = run_to_end(&["--config", &path]).await;
        assert_eq!(code, 2);
        assert!(
            stderr.starts_with(&format!(
                "socksbridge: {path} is not a valid settings file: unknown field `colour`"
            )),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let (code, _, stderr) = run_to_end(&["--config", "/nonexistent/settings.json"]).await;
        assert_eq!(code, 2);
        assert!(
            stderr.starts_with("socksbridge: cannot read /nonexistent/settings.json"),
            "{stderr}"
        );
    })
    .await;
}

#[tokio::test]
async fn more_than_one_upstream_is_the_failover_order() {
    within(60, async {
        let origin = origin().await;
        let backup = socks_server().await;
        let dead = free_port().await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("settings.json");
        let json = format!(
            r#"{{"app":{{"probe_target":"{}"}},"failover":{{"interval_secs":1,"failures":1}}}}"#,
            origin.addr
        );
        std::fs::write(&config, json).unwrap();
        let first = format!("socks5h://127.0.0.1:{dead}");
        let running = start(&[
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
            "--upstream",
            &first,
            "--upstream",
            &backup.url("socks5h"),
        ])
        .await;
        assert!(
            running
                .line
                .ends_with(&format!("-> {first} (then {})", backup.url("socks5h"))),
            "{}",
            running.line
        );
        let addr = listen_addr(&running.line);
        let proxy = format!("http://{addr}");
        let mut served = false;
        for _ in 0..40 {
            let out = curl(&["-x", &proxy, &origin.url("/hello")]).await;
            if out.status == 200 {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(served, "the second upstream took over");
        assert!(backup.targets().contains(&origin.addr.to_string()));
        assert_eq!(signal_and_wait(running, "TERM").await, 0);
    })
    .await;
}
