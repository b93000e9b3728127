//! The signals that end the process, for the CLI and the tray app alike.
//!
//! The handlers are installed when [`termination`] is called, not when its future is
//! first polled: call it before anything touches the OS setting (state file, recovery,
//! apply), so a signal at any instant after that ends in a restore. Installing a handler
//! also overrides an inherited "ignore" (a background job of a non-interactive shell starts
//! with SIGINT ignored).

use std::future::Future;

/// How the process was asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Ctrl-C or Ctrl-Break: a person at the terminal, who can answer a password prompt.
    Interrupt,
    /// SIGTERM, SIGHUP, the console closing, logoff or shutdown: nobody may be there to
    /// answer one (a session ending), so the restore must not wait on it.
    Ended,
}

impl Termination {
    pub fn attended(self) -> bool {
        self == Termination::Interrupt
    }
}

/// Resolves on SIGINT, SIGTERM or SIGHUP on Unix; on Windows on Ctrl-C, Ctrl-Break and
/// the console's close, logoff and shutdown events. Must be called inside a tokio runtime.
pub fn termination() -> impl Future<Output = Termination> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        );
        async move {
            match handlers {
                (Ok(mut int), Ok(mut term), Ok(mut hup)) => {
                    tokio::select! {
                        _ = int.recv() => Termination::Interrupt,
                        _ = term.recv() => Termination::Ended,
                        _ = hup.recv() => Termination::Ended,
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    Termination::Interrupt
                }
            }
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows;
        let handlers = (
            windows::ctrl_c(),
            windows::ctrl_break(),
            windows::ctrl_close(),
            windows::ctrl_logoff(),
            windows::ctrl_shutdown(),
        );
        async move {
            match handlers {
                (Ok(mut c), Ok(mut brk), Ok(mut close), Ok(mut logoff), Ok(mut shutdown)) => {
                    tokio::select! {
                        _ = c.recv() => Termination::Interrupt,
                        _ = brk.recv() => Termination::Interrupt,
                        _ = close.recv() => Termination::Ended,
                        _ = logoff.recv() => Termination::Ended,
                        _ = shutdown.recv() => Termination::Ended,
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    Termination::Interrupt
                }
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            Termination::Interrupt
        }
    }
}
