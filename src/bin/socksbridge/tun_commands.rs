//! `socksbridge tun status|connections|stop|restore`: what a capture changed (its journal),
//! what the running one says of itself (its control socket), and undoing either.

use std::path::{Path, PathBuf};

use socksbridge::tun::journal;

use crate::args::{CliError, Control, TunCommand};

pub fn tun_command(command: TunCommand) -> Result<(), CliError> {
    let fail = |message: String| CliError { message, code: 1 };
    match command {
        TunCommand::Status(control) => {
            status(&journal::default_path()).map_err(fail)?;
            running::status(&socket(control))
        }
        TunCommand::Connections { control, json } => running::connections(&socket(control), json),
        TunCommand::Stop(control) => running::stop(&socket(control)),
        TunCommand::Restore => restore(&journal::default_path()).map_err(fail),
    }
}

fn socket(control: Control) -> PathBuf {
    control.control.unwrap_or_else(journal::control_socket_path)
}

/// The journal: the routing changes a capture made, and whether its process lives.
fn status(path: &Path) -> Result<(), String> {
    match journal::read(path).map_err(|e| e.to_string())? {
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
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn restore(path: &Path) -> Result<(), String> {
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
fn restore(path: &Path) -> Result<(), String> {
    match journal::read(path).map_err(|e| e.to_string())? {
        None => {
            println!("nothing to restore");
            Ok(())
        }
        Some(_) => Err("the whole-desktop mode's routing is Linux-only in this version".into()),
    }
}

/// The running capture, over its control socket.
#[cfg(target_os = "linux")]
mod running {
    use std::path::Path;

    use serde_json::Value;
    use socksbridge::tun::control::{ask, ControlError, Reply, Request};

    use crate::args::CliError;

    fn asked(path: &Path, request: Request) -> Result<Reply, CliError> {
        checked(ask(path, request))
    }

    /// A reply, or the error and the refusal as one line each.
    fn checked(asked: Result<Reply, ControlError>) -> Result<Reply, CliError> {
        match asked {
            Ok(Reply::Refused(why)) => Err(CliError {
                message: format!("the capture refused: {why}"),
                code: 1,
            }),
            Ok(reply) => Ok(reply),
            Err(e) => Err(CliError {
                message: e.to_string(),
                code: 1,
            }),
        }
    }

    fn unexpected(reply: Reply) -> CliError {
        CliError {
            message: format!("the capture answered something else: {reply:?}"),
            code: 1,
        }
    }

    pub fn status(path: &Path) -> Result<(), CliError> {
        match ask(path, Request::Status) {
            Err(ControlError::NotRunning { .. }) => {
                println!("running capture: none answers on {}", path.display());
                Ok(())
            }
            asked => match checked(asked)? {
                Reply::Status(status) => {
                    println!(
                        "running capture: pid {}, proxy on {}, {} connections open; UDP: {}",
                        status.pid,
                        status.listen,
                        status.open,
                        status.udp_blocked.map_or_else(
                            || "not blocked".to_string(),
                            |why| format!("blocked ({why})")
                        )
                    );
                    println!("  {}", status.capture);
                    Ok(())
                }
                other => Err(unexpected(other)),
            },
        }
    }

    pub fn connections(path: &Path, json: bool) -> Result<(), CliError> {
        let view = match asked(path, Request::Connections)? {
            Reply::Connections(view) => view,
            other => return Err(unexpected(other)),
        };
        if json {
            println!("{view}");
            return Ok(());
        }
        print!("{}", describe(&view));
        Ok(())
    }

    /// The Connections view as lines: one per connection, then the failures.
    pub(super) fn describe(view: &Value) -> String {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let number = |v: &Value| v.as_u64().unwrap_or_default();
        let connections = view["connections"].as_array().cloned().unwrap_or_default();
        let mut out = format!("{} open\n", number(&view["open"]));
        for c in &connections {
            let program = match &c["process"] {
                Value::Null => String::new(),
                p => format!("{} ({}) ", text(&p["name"]), number(&p["pid"])),
            };
            let via = match &c["via"] {
                Value::Null => "direct".to_string(),
                v => format!("via {}", text(v)),
            };
            out += &format!(
                "  {program}{} -> {} {via}, {} B up, {} B down, {} s\n",
                text(&c["client"]),
                text(&c["target"]),
                number(&c["up"]),
                number(&c["down"]),
                number(&c["age_ms"]) / 1000
            );
        }
        let failures = view["failures"].as_array().cloned().unwrap_or_default();
        if !failures.is_empty() {
            out += "last failures:\n";
            for f in &failures {
                out += &format!("  {}: {}\n", text(&f["what"]), text(&f["error"]));
            }
        }
        out
    }

    pub fn stop(path: &Path) -> Result<(), CliError> {
        match asked(path, Request::Stop)? {
            Reply::Stopping => {
                println!("stopping: the capture undoes its routing and exits");
                Ok(())
            }
            other => Err(unexpected(other)),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_view_reads_as_one_line_per_connection() {
            let view = serde_json::json!({
                "open": 2,
                "connections": [
                    {"kind": "tun", "client": "192.0.2.2:40000", "process": {"pid": 42, "name": "curl"},
                     "target": "origin.test:8080", "via": "Home", "up": 78, "down": 1200, "age_ms": 4500, "udp": null},
                    {"kind": "udp", "client": "192.0.2.2:5353", "process": null,
                     "target": "198.51.100.7:7", "via": null, "up": 5, "down": 5, "age_ms": 0, "udp": null},
                ],
                "failures": [{"at_ms": 0, "client": "192.0.2.2:1", "what": "TUN x.test:443", "error": "refused", "message": null}],
            });
            assert_eq!(
                super::describe(&view),
                "2 open\n  curl (42) 192.0.2.2:40000 -> origin.test:8080 via Home, 78 B up, 1200 B down, 4 s\n  \
                 192.0.2.2:5353 -> 198.51.100.7:7 direct, 5 B up, 5 B down, 0 s\n\
                 last failures:\n  TUN x.test:443: refused\n"
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod running {
    use std::path::Path;

    use crate::args::CliError;

    fn linux_only() -> CliError {
        CliError {
            message: "the whole-desktop mode is Linux-only in this version".into(),
            code: 1,
        }
    }

    pub fn status(_path: &Path) -> Result<(), CliError> {
        Ok(())
    }

    pub fn connections(_path: &Path, _json: bool) -> Result<(), CliError> {
        Err(linux_only())
    }

    pub fn stop(_path: &Path) -> Result<(), CliError> {
        Err(linux_only())
    }
}
