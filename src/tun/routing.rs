//! Making and undoing the capture on Linux with `ip` (iproute2): each change is
//! journalled, then made; a failure part-way undoes what was made; a leftover journal
//! (the process was killed) is undone before anything new, and by `socksbridge tun
//! restore`. Undoing deletes exactly the journalled specs, last first; a change that is
//! already gone (its route went with the device, or the crash came before it was made)
//! counts as undone.

use std::path::Path;

use super::journal::{self, Journal, JournalError};
use super::rules::{changes, Capture, Change};
use crate::system_proxy::{owner_alive, CommandEnv};

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("another socksbridge (pid {pid}) is capturing this machine's traffic")]
    Busy { pid: u32 },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("`ip {command}` failed: {detail}")]
    Ip { command: String, detail: String },
}

/// What a restore found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// No journal: nothing of ours is in the routing set-up.
    Nothing,
    /// The journal's changes are undone (`undone` were still there) and it is removed.
    Undone { undone: usize, journalled: usize },
}

/// Captures the traffic as `capture` describes, journalling at `path` first. Undoes a
/// dead run's leftover before starting; refuses while a live one holds the capture.
pub fn capture(capture: &Capture, path: &Path, env: &CommandEnv) -> Result<(), RoutingError> {
    restore(path, env)?;
    let mut journal = Journal {
        version: journal::VERSION,
        pid: std::process::id(),
        device: capture.device.clone(),
        changes: Vec::new(),
    };
    for change in changes(capture) {
        journal.changes.push(change.clone());
        journal::write(path, &journal)?;
        if let Err(error) = ip(env, &change.add_args()) {
            // Not made: what is there (a route or rule of the user's, say) is not ours.
            journal.changes.pop();
            // Everything made so far goes; the error is the one that stopped us.
            if let Err(undo_error) = undo(&journal, path, env) {
                tracing::error!("undoing a failed TUN capture: {undo_error}");
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Undoes a journal left at `path` by a run that is no longer alive (or by this one).
pub fn restore(path: &Path, env: &CommandEnv) -> Result<Restored, RoutingError> {
    let Some(journal) = journal::read(path)? else {
        return Ok(Restored::Nothing);
    };
    if journal.pid != std::process::id() && owner_alive(journal.pid) {
        return Err(RoutingError::Busy { pid: journal.pid });
    }
    let undone = undo(&journal, path, env)?;
    Ok(Restored::Undone {
        undone,
        journalled: journal.changes.len(),
    })
}

/// Deletes the journal's changes, last first, then the journal. On an error the journal
/// stays, for the next try.
fn undo(journal: &Journal, path: &Path, env: &CommandEnv) -> Result<usize, RoutingError> {
    let mut undone = 0;
    for change in journal.changes.iter().rev() {
        match ip(env, &change.del_args()) {
            Ok(()) => undone += 1,
            Err(RoutingError::Ip { detail, .. }) if already_gone(change, &detail) => {}
            Err(error) => return Err(error),
        }
    }
    journal::remove(path)?;
    Ok(undone)
}

/// iproute2's answers for a route or rule that is not there (or whose device is gone).
fn already_gone(change: &Change, detail: &str) -> bool {
    detail.contains("No such file or directory")
        || detail.contains("No such process")
        || (detail.contains("Cannot find device") && change.spec.contains(&"dev".to_string()))
}

/// Ends every TCP and UDP socket on this machine whose source is one of `addresses` (the
/// device's own: the sockets of the programs the capture carried) with `ss -K`. Run before
/// the routing is undone, while the device still holds the route: a connection left alive
/// would retransmit its last segments (a FIN the stopped stack never acknowledged) by the
/// real interface once the rules are gone, from an address that is no longer there. Its
/// program learns at once (`ECONNABORTED`) instead of hanging. Best effort: a kernel
/// without socket destruction keeps them, and says so in the log.
pub fn end_sockets(addresses: &[std::net::IpAddr], env: &CommandEnv) {
    for address in addresses {
        let address = address.to_string();
        let args = ["-K", "-t", "-u", "-a", "-n", "src", &address];
        if let Err(e) = env.run("ss", &args) {
            tracing::warn!("the TUN's connections from {address} not ended: {e}");
        }
    }
}

fn ip(env: &CommandEnv, args: &[String]) -> Result<(), RoutingError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run("ip", &args)
        .map(drop)
        .map_err(|error| RoutingError::Ip {
            command: args.join(" "),
            detail: match error {
                crate::system_proxy::SysProxyError::CommandFailed { detail, .. } => detail,
                other => other.to_string(),
            },
        })
}
