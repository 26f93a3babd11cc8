//! websockify-rs: a WebSocket-to-TCP bridge for noVNC, a drop-in for Python
//! websockify.
//!
//! The folders follow one connection: `listen` (sockets, bound here or passed
//! in by systemd) -> `server` (accept loops, caps, drain) -> `conn` (PROXY
//! header, TLS or plain) -> `http` (requests, the upgrade) -> `access` (who
//! may open a session, and to where) -> `session` (target connect, the relay).
//! Beside the flow: `config` (command line and conf files into settings),
//! `daemon` (the process: signals, reload, readiness), `tls`, `systemd`,
//! `web` (static files), `ctl` (`websockifyctl`, the administrator's tool,
//! which uses `config` and `tls`), and the leaves `addr`, `defaults`,
//! `response` and `shutdown`. A module only uses modules below it in that
//! flow, or leaves.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod addr;
pub mod config;
pub mod conn;
pub mod ctl;
pub mod daemon;
mod defaults;
mod http;
mod listen;
mod metrics;
mod response;
mod server;
mod session;
mod shutdown;
pub mod systemd;
pub mod tls;
mod web;
