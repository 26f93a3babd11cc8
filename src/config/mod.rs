//! Configuration: the command line (`cli`) and conf files (`options`) merged
//! into validated `Settings` (`settings`), whose per-connection part, a
//! `Config`, is built by `build` and handed to the server, which swaps it on
//! reload.
//!
//! Everything that can be wrong (addresses, files, option combinations) is
//! found here, before any socket is bound, with an error naming where the
//! value came from (`FILE:LINE: key` or `command line: key`) and what is wrong.

mod acme;
pub mod bounds;
mod build;
pub mod cli;
mod conf_file;
mod kind;
mod oidc;
pub mod options;
mod parse_error;
mod settings;
mod spec;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::access::caps::Maximums;
use crate::access::vnc_password::VncPassword;
use crate::access::Gate;
use crate::web::Web;

pub use settings::{Lifetime, MetricsListen, Settings, UnixListen, Unsupported};

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From accept to a complete TLS handshake and HTTP request head.
    pub handshake_timeout: Duration,
    /// Per resolved target address.
    pub connect_timeout: Duration,
    /// Largest client message and frame.
    pub max_message_size: Option<u64>,
    /// Largest HTTP request head.
    pub max_header_size: usize,
}

/// Everything a connection needs, shared by all connections. A reload
/// builds a new one; sessions keep the one they started with.
#[derive(Debug)]
pub struct Config {
    /// Where sessions go and who may open them.
    pub gate: Gate,
    /// Trusted proxies send a PROXY protocol header first.
    pub proxy_protocol: bool,
    /// Connection and session caps.
    pub caps: Maximums,
    /// The static file server, if `web` is set.
    pub web: Option<Web>,
    /// Canonical web root, for the start-up log line.
    pub web_root: Option<PathBuf>,
    /// TLS settings when a certificate was given.
    pub tls: Option<crate::tls::TlsServer>,
    /// TLS to the target (`ssl-target`).
    pub target_tls: Option<Arc<rustls::ClientConfig>>,
    /// Refuse clients that do not start with a TLS handshake.
    pub ssl_only: bool,
    /// Ping interval; `None` when heartbeats are off.
    pub heartbeat: Option<Duration>,
    /// Per-connection limits.
    pub limits: Limits,
    /// Print frame symbols (`--traffic`).
    pub traffic: bool,
    /// Record sessions to `FILE.N` (`--record`).
    pub record: Option<PathBuf>,
    /// Where a recording ends (`record-max-size`), for `record` too.
    pub record_max_size: u64,
    /// Every session recorded, with an index (`record-sessions`).
    pub recordings: Option<Recordings>,
    /// VNC checks and password injection (`require-rfb`, `vnc-password-file`).
    pub rfb: RfbPolicy,
}

/// `record-sessions`: where and how much.
#[derive(Debug, Clone)]
pub struct Recordings {
    /// `record-dir`, made mode 0700; holds the files and `index.jsonl`.
    pub dir: PathBuf,
    /// Also what the browser sent (`record-input`).
    pub input: bool,
    /// Most bytes all recordings may take (`record-max-total`; 0: no cap).
    pub max_total: u64,
    /// Oldest a recording may get (`record-max-age`); `None`: kept.
    pub max_age: Option<Duration>,
}

/// What sessions do with RFB before relaying (the session's `rfb` runs it).
#[derive(Debug, Clone, Default)]
pub struct RfbPolicy {
    /// The target must open with an RFB ProtocolVersion (`require-rfb`).
    pub require_rfb: bool,
    /// The target's VNC password, answered by the proxy (`vnc-password-file`).
    pub password: Option<VncPassword>,
}

impl RfbPolicy {
    /// The policy of one session, with its destination's VNC password (the
    /// fixed target's `vnc-password-file`, a token's or a user's) and no
    /// other: a hostile token target must never get a DES response to
    /// another target's password.
    pub fn for_session(&self, password: Option<VncPassword>) -> Self {
        Self {
            require_rfb: self.require_rfb,
            password,
        }
    }
}

#[cfg(test)]
mod tests;
