//! websockify-rs: a WebSocket-to-TCP bridge for noVNC, a drop-in for Python
//! websockify.
//!
//! One connection goes `listen` (sockets, bound here or passed in by
//! systemd) -> `server` (accept loops, caps, drain) -> `conn` (PROXY header,
//! TLS or plain) -> `http` (requests, the upgrade, `web` for static files)
//! -> `session` (target connect, the relay), with `access` deciding who may
//! open a session and to where. `config` turns the command line and conf
//! files into settings, `daemon` runs the process, `systemd` is its edges
//! (journal, sd_notify, the generator) and `ctl` is `websockifyctl`.
//!
//! The imports follow tiers, not that path: each module uses only modules of
//! a lower tier, from the leaves (`addr`, `atomic_file`, `defaults`,
//! `response`, `shutdown`) and the utilities `listen` and `metrics`, through
//! `access`, `tls` and `web`, then `config`, up to `session`, `http`,
//! `conn`, `server`, then `systemd` and `ctl`, and `daemon` on top.
//! `docs/architecture.md` lists the tiers and draws them; a test
//! (`tests/it/layout/layers.rs`) fails on an import against them.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod addr;
mod atomic_file;
pub mod config;
pub mod conn;
pub mod ctl;
pub mod daemon;
mod defaults;
mod http;
mod listen;
mod metrics;
mod response;
pub mod server;
mod session;
mod shutdown;
pub mod systemd;
pub mod tls;
mod web;

/// What the fuzz targets in `fuzz/` need from private modules, and nothing
/// more; cargo-fuzz builds with `--cfg fuzzing`, so no other build has it.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    pub use crate::http::handshake::accept;
    pub use crate::session::codec::{
        base64_decoded_len_max, Base64Decoder, CloseReason, Decoder, Event,
    };
    pub use crate::session::Mode;

    /// A request path of `--web` as the relative path opened under the root.
    pub fn web_path(path: &str) -> Option<PathBuf> {
        crate::web::decode(path)
    }

    /// A token plugin's target (`host:port`, `unix_socket:/path`).
    pub fn token_target(text: &str) -> anyhow::Result<crate::addr::Target> {
        crate::access::token::parse_target(text)
    }

    /// The entries of one token file's bytes (bad lines are skipped).
    pub fn token_file(bytes: &[u8]) -> HashMap<String, crate::addr::Target> {
        let mut table = HashMap::new();
        crate::access::token::parse_file(
            Path::new("fuzz.tokens"),
            bytes,
            &mut table,
            log::Level::Debug,
        );
        table
    }
}
