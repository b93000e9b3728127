//! SocksBridge core: a local HTTP(S) + SOCKS mixed-port proxy that dials every target
//! through an upstream SOCKS server, and the pieces the CLI and the tray app share.
//!
//! The data path, top to bottom:
//!
//! ```text
//! server/     listener, connection cap, accept backoff, graceful shutdown, reloads
//!   connection  first byte: 0x05/0x04 → socks/, anything else → http/
//! http/       auth (407), CONNECT → tunnel, absolute-form → forward, origin-form → local
//! socks/      inbound SOCKS5/SOCKS4a handshake (pure parsers in socks/parse.rs)
//! loop_guard  refuse targets that are this proxy
//! route       --direct rules: which targets skip the upstream
//! dial/       Direct | SOCKS5 | SOCKS4(a) via tokio-socks; hyper connector for pooling
//! pump        byte copy for tunnels: buffers that follow the traffic, half-close, idle timeout
//! heap        give freed memory back to the OS once a burst of connections is over
//! error       one error enum → HTTP status / SOCKS reply / stats bucket
//! config/     Settings (JSON schema) → validated ProxyConfig
//! ```

pub mod cli;
pub mod config;
pub mod controller;
pub mod dial;
pub mod error;
pub mod fsutil;
pub mod heap;
pub mod http;
pub mod limits;
pub mod loop_guard;
pub mod metered;
pub mod pump;
pub mod route;
pub mod server;
pub mod socks;
pub mod stats;
pub mod system_proxy;
pub mod target;

pub use config::{ProxyConfig, Settings};
pub use error::ProxyError;
pub use server::{Applied, BindError, ProxyHandle, ProxyServer};
pub use stats::StatsSnapshot;
