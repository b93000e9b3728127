//! SocksBridge core: a local HTTP(S) + SOCKS mixed-port proxy that dials every target
//! through an upstream SOCKS server, the OS proxy setting it points at itself, and the
//! controller that moves both as one — the pieces the CLI and the tray app share.
//!
//! The data path, top to bottom (each floor imports only the floors below it):
//!
//! ```text
//! server/     listener, connection cap, accept backoff, graceful shutdown, reloads;
//!             the first byte sends a connection to socks/ (0x05, 0x04) or http/
//! http/       hyper per connection; CONNECT → tunnel, absolute-form → forward,
//!             origin-form → local (PAC file); header rules in http/headers.rs
//! socks/      inbound SOCKS5/SOCKS4a handshake (pure parsers in socks/parse.rs);
//!             socks/udp/: UDP ASSOCIATE, relayed through the upstream's UDP relay
//! engine/     one config generation: Engine::open = loop guard + route + dial, the
//!             pooled client for forwarding; Conn: inbound auth and error report, once
//! auth        who must present credentials, checked in constant time
//! loop_guard  refuse targets that are this proxy
//! dial/       a Route → a stream: direct, SOCKS5/SOCKS4(a) via tokio-socks, HTTP(S)
//!             CONNECT proxies, and a server behind an HTTP(S) proxy; under the timeout
//! route       the router: direct rules and the upstream → a Route per target
//! pump        byte copy for tunnels: buffers that follow the traffic, half-close, idle
//! error       one error enum → HTTP status / SOCKS reply / stats bucket
//! ```
//!
//! Around it: `config/` (the settings file's schema → validated [`Config`]),
//! `system_proxy/` (snapshot, apply, exact restore of the OS setting, per desktop),
//! `controller` (proxy + OS setting as one unit), `health` (checking the servers while
//! on) with `failover` (the pure policy of when to switch), `termination` (the signals
//! that end the process), `secret` (passwords that never reach a log), `bypass` (the
//! default bypass list and its spelling for each OS and for `no_proxy`), `pac` (the PAC
//! file `http/` serves and `system_proxy/` points the OS at), `sync` (the one lock helper),
//! `tun/` (the whole-desktop mode's fake-IP DNS and its journalled Linux routing),
//! `connections` with `socket_owner` (the Connections view, and the program behind each).

mod auth;
mod bypass;
pub mod config;
pub mod connections;
pub mod controller;
mod dial;
mod engine;
mod error;
pub mod failover;
mod fsutil;
pub mod health;
mod heap;
mod http;
pub mod limits;
mod loop_guard;
pub mod message;
mod metered;
mod pac;
mod pump;
mod route;
pub mod secret;
mod server;
pub mod socket_owner;
mod socks;
mod stats;
mod stream;
pub mod sync;
pub mod system_proxy;
pub mod target;
pub mod termination;
pub mod tun;

pub use config::{Config, ProxyConfig, Settings};
pub use dial::probe;
pub use error::{ErrorKind, ProxyError};
pub use server::{Applied, BindError, ProxyHandle, ProxyServer};
pub use stats::StatsSnapshot;

/// Entry points for the fuzz targets (`fuzz/`): the pure parsers that read untrusted input.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::DirectRules;
    pub use crate::socks::parse;
}
