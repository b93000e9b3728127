//! Logs on stderr, filtered by `--log-level`.

use crate::args::CliError;

pub fn init_logging(level: &str) -> Result<(), CliError> {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let bad = || {
        CliError::usage(format!(
            "--log-level: '{level}' is not a level (error, warn, info, debug, trace)"
        ))
    };
    // A bare word that is not a level would silently be taken as a target name.
    if !level.contains('=') && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
        return Err(bad());
    }
    // `Targets`, not `EnvFilter`: the same `target=level` syntax without a regex engine
    // (a tenth of the binary's code, resident for the process's whole life).
    let filter: tracing_subscriber::filter::Targets = level.parse().map_err(|_| bad())?;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .map_err(|e| CliError::usage(format!("logging: {e}")))
}
