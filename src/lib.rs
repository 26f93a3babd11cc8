//! websockify-rs: a WebSocket-to-TCP bridge for noVNC, a drop-in for Python
//! websockify. `daemon` binds (or takes systemd's sockets) and handles
//! signals; `server` works on listeners it is given, so tests, socket
//! activation and reload share one path.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod auth;
pub mod cert;
pub mod cli;
pub mod config;
pub mod conn;
pub mod daemon;
pub mod forwarded;
pub mod gate;
pub mod generator;
pub mod handshake;
pub mod http;
pub mod limit;
pub mod limits;
pub mod listen;
pub mod logging;
pub mod notify;
pub mod options;
pub mod proxyproto;
pub mod record;
pub mod relay;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod target;
pub mod tls;
pub mod token;
pub mod web;

pub use config::{Config, Settings};
pub use server::Server;
