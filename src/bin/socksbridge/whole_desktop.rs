//! `--tun`: the whole-desktop mode around the running proxy (Linux only in this version).

use socksbridge::controller::Controller;

use crate::args::CliError;

#[cfg(target_os = "linux")]
pub use socksbridge::tun::Tun;

/// Starts the capture (undoing a killed run's leftover first) and makes a panic undo it.
#[cfg(target_os = "linux")]
pub async fn start(controller: &Controller) -> Result<Tun, CliError> {
    use socksbridge::tun::{restore_on_panic, TunOptions};
    let fail = |message: String| CliError { message, code: 1 };
    let proxy = controller
        .proxy()
        .ok_or_else(|| fail("the proxy is not running".into()))?;
    let options = TunOptions::default();
    restore_on_panic(&options.journal);
    Tun::start(&proxy, options)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// Other systems: the flag is refused with the reason.
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub enum Tun {}

#[cfg(not(target_os = "linux"))]
impl Tun {
    pub fn describe(&self) -> String {
        match *self {}
    }

    pub async fn stop(self) -> Result<(), String> {
        match self {}
    }
}

#[cfg(not(target_os = "linux"))]
pub async fn start(_controller: &Controller) -> Result<Tun, CliError> {
    Err(CliError::usage(
        "--tun: the whole-desktop mode is Linux-only in this version",
    ))
}
