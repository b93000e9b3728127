//! Whole-desktop mode (TUN): capturing the traffic of programs that ignore the proxy
//! setting. Built in layers, each usable and tested on its own:
//!
//! ```text
//! fake_ip   names ↔ synthetic addresses (198.18.0.0/15 and an IPv6 twin), bounded
//! dns       a DNS query → the name's fake address, or "forward it" for names the
//!           desktop needs for real (direct list, LAN, reverse, connectivity checks)
//! rules     the Linux capture as data: a table of our own and rules above `main`,
//!           each with the exact `ip` arguments that add and delete it
//! journal   every change on disk before it is made, so a crash is undone exactly
//! routing   making and undoing the capture with `ip`, journal first (Linux)
//! device    the TUN interface itself (tun-rs), gone with the process (Linux)
//! stack     the userspace TCP/IP stack (netstack-smoltcp) between the device and the
//!           flows: TCP streams, and datagrams sorted into UDP flows (Linux)
//! time_wait the stack's TIME-WAIT ended once both FINs are acknowledged (no duplicates
//!           cross a device), and a tuple it still holds reopened by a new SYN
//! flows     each TCP flow from the stack → a Target → the proxy's own engine;
//!           DNS answered by `dns`
//! datagrams each other UDP flow through the server's UDP relay (or direct, by the rules);
//!           where the server has none: QUIC refused, the rest dropped, nothing around it
//! icmp      the port-unreachable that refuses it (a packet the stack cannot make)
//! session   start (mark, device, routing, stack) and stop (routing first) (Linux)
//! control   the running capture's control socket: status, connections, stop, for the
//!           user who started it only (Linux)
//! ```
//!
//! The main routing table and the resolver configuration are never edited: DNS is
//! captured by a rule for port 53, so nothing but journalled rules and a route in our own
//! table (which goes with the device) needs undoing.

#[cfg(target_os = "linux")]
pub mod control;
#[cfg(target_os = "linux")]
mod datagrams;
#[cfg(target_os = "linux")]
mod device;
pub mod dns;
pub mod fake_ip;
#[cfg(target_os = "linux")]
mod flows;
#[cfg(target_os = "linux")]
mod icmp;
pub mod journal;
#[cfg(target_os = "linux")]
pub mod routing;
pub mod rules;
#[cfg(target_os = "linux")]
mod session;
#[cfg(target_os = "linux")]
mod stack;
#[cfg(target_os = "linux")]
mod time_wait;

#[cfg(target_os = "linux")]
pub use session::{restore_on_panic, Tun, TunError, TunOptions};
