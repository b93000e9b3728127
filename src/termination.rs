//! The signals that end the process, for the CLI and the tray app alike.
//!
//! The handlers are installed when [`termination`] is called, not when its future is
//! first polled: call it before anything touches the OS setting (state file, recovery,
//! apply), so a signal at any instant after that ends in a restore. Installing a handler
//! also overrides an inherited "ignore" (a background job of a non-interactive shell starts
//! with SIGINT ignored).

use std::future::Future;

/// Resolves on SIGINT, SIGTERM or SIGHUP on Unix; on Windows on Ctrl-C, Ctrl-Break and
/// the console's close, logoff and shutdown events. Must be called inside a tokio runtime.
pub fn termination() -> impl Future<Output = ()> + Send {
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
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                        _ = hup.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
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
                        _ = c.recv() => {}
                        _ = brk.recv() => {}
                        _ = close.recv() => {}
                        _ = logoff.recv() => {}
                        _ = shutdown.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
