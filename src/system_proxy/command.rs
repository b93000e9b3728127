//! Running the OS tools (`gsettings`, `kwriteconfig5`, `networksetup`, `reg`) with their
//! exit status checked, their stderr kept for the error, and a time limit.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::SysProxyError;

const LIMIT: Duration = Duration::from_secs(10);

/// Extra environment for every tool we run (tests point them at a private session bus
/// and a temporary home); lookups fall back to this process's environment.
#[derive(Debug, Clone, Default)]
pub struct CommandEnv {
    vars: Vec<(String, String)>,
    /// How long one tool may take (default 10 s).
    limit: Option<Duration>,
}

impl CommandEnv {
    pub fn new() -> CommandEnv {
        CommandEnv::default()
    }

    pub fn with(mut self, key: &str, value: &str) -> CommandEnv {
        self.vars.push((key.to_string(), value.to_string()));
        self
    }

    /// A tool that takes longer than `limit` is killed and reported.
    pub fn with_limit(mut self, limit: Duration) -> CommandEnv {
        self.limit = Some(limit);
        self
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    }

    /// True when `program` is on the PATH (as seen with this environment).
    pub fn has_program(&self, program: &str) -> bool {
        let path = self.get("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
    }

    /// Runs `program args…`; Ok(stdout) only on exit status 0. A failure's detail is the
    /// tool's own message: stderr, or stdout for tools that print errors there
    /// (`networksetup`), or else the exit status.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, SysProxyError> {
        let output = self.output(program, args)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(SysProxyError::CommandFailed {
                command: shown(program, args),
                detail: failure_detail(&output),
            })
        }
    }

    /// Runs `program args…` to its end (within the time limit), whatever its exit status.
    pub fn output(&self, program: &str, args: &[&str]) -> Result<Output, SysProxyError> {
        self.output_with_input(program, args, None)
    }

    /// [`CommandEnv::output`] with `input` on the tool's stdin (`scutil` reads commands).
    pub fn output_with_input(
        &self,
        program: &str,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<Output, SysProxyError> {
        let shown = || shown(program, args);
        let mut child = Command::new(program)
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => SysProxyError::ToolMissing {
                    tool: program.to_string(),
                },
                _ => SysProxyError::CommandFailed {
                    command: shown(),
                    detail: e.to_string(),
                },
            })?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // Small inputs fit the pipe; a tool that exits early just closes it.
            let _ = std::io::Write::write_all(&mut stdin, input.as_bytes());
        }
        let start = Instant::now();
        let limit = self.limit.unwrap_or(LIMIT);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if start.elapsed() > limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(SysProxyError::CommandFailed {
                        command: shown(),
                        detail: format!("no answer within {limit:?}"),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    return Err(SysProxyError::CommandFailed {
                        command: shown(),
                        detail: e.to_string(),
                    })
                }
            }
        }
        let output = child
            .wait_with_output()
            .map_err(|e| SysProxyError::CommandFailed {
                command: shown(),
                detail: e.to_string(),
            })?;
        Ok(output)
    }
}

fn shown(program: &str, args: &[&str]) -> String {
    format!("{program} {}", args.join(" "))
}

/// What a failed tool said: stderr, else stdout, else its exit status.
pub fn failure_detail(output: &Output) -> String {
    [&output.stderr, &output.stdout]
        .iter()
        .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string())
        .find(|text| !text.is_empty())
        .unwrap_or_else(|| output.status.to_string())
}

/// Unix shells and tools drive these; on Windows the same code runs `reg` and friends.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_own_environment_comes_first_and_the_latest_value_wins() {
        let env = CommandEnv::new()
            .with("SOCKSBRIDGE_TEST_A", "1")
            .with("SOCKSBRIDGE_TEST_A", "2");
        assert_eq!(env.get("SOCKSBRIDGE_TEST_A").as_deref(), Some("2"));
        assert_eq!(env.get("SOCKSBRIDGE_TEST_UNSET_XYZ"), None);
        assert_eq!(env.get("PATH"), std::env::var("PATH").ok());
        let out = env.run("sh", &["-c", "echo $SOCKSBRIDGE_TEST_A"]).unwrap();
        assert_eq!(out, "2\n");
        assert!(env.has_program("sh"));
        assert!(!env.has_program("socksbridge-no-such-tool"));
        assert!(!CommandEnv::new()
            .with("PATH", "/nonexistent")
            .has_program("sh"));
    }

    #[test]
    fn failures_say_what_the_tool_said_and_what_was_run() {
        let env = CommandEnv::new();
        let failed = |script: &str| env.run("sh", &["-c", script]).unwrap_err().to_string();
        let stdout_only = failed("echo '** Error: nope'; exit 4");
        assert!(stdout_only.contains("** Error: nope"), "{stdout_only}");
        assert!(stdout_only.contains("`sh -c echo"), "{stdout_only}");
        let both = failed("echo out; echo err >&2; exit 1");
        assert!(both.ends_with("failed: err"), "stderr wins: {both}");
        let silent = failed("exit 3");
        assert!(silent.contains("exit status: 3"), "{silent}");
        assert!(matches!(
            env.run("socksbridge-no-such-tool", &[]),
            Err(SysProxyError::ToolMissing { .. })
        ));
    }

    #[test]
    fn a_tool_that_hangs_is_killed_at_the_limit() {
        let env = CommandEnv::new().with_limit(Duration::from_millis(200));
        let start = Instant::now();
        let error = env.run("sleep", &["30"]).unwrap_err().to_string();
        assert!(error.contains("no answer within"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(env.run("sh", &["-c", "echo quick"]).unwrap(), "quick\n");
    }
}
