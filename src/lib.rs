//! websockify-rs: a WebSocket-to-TCP bridge for noVNC, a drop-in for Python
//! websockify. `main.rs` binds and handles signals; everything here works on
//! listeners it is given, so tests and socket activation share one path.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod cli;
pub mod config;
pub mod conn;
pub mod handshake;
pub mod http;
pub mod limits;
pub mod listen;
pub mod logging;
pub mod relay;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod target;
pub mod tls;
pub mod web;

pub use config::Config;
pub use server::run;
