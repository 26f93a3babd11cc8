//! The validated settings the server runs with, built from the merged
//! command-line and conf-file options.
//!
//! Everything that can be wrong (addresses, files, option combinations) is
//! found here, before any socket is bound, with an error naming where the
//! value came from (`FILE:LINE: key` or `command line: key`) and what is wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::addr::{ListenAddr, TargetAddr};
use crate::limits;
use crate::options::{Merged, OneOrMany};
use crate::tls;
use crate::web::Web;

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From accept to a complete TLS handshake and HTTP request head.
    pub handshake_timeout: Duration,
    /// Per resolved target address.
    pub connect_timeout: Duration,
    /// Largest client message and frame.
    pub max_message_size: usize,
    /// Largest HTTP request head.
    pub max_header_size: usize,
}

/// Everything a connection needs, shared by all connections. A reload
/// builds a new one; sessions keep the one they started with.
#[derive(Debug)]
pub struct Config {
    /// Where sessions are relayed.
    pub target: TargetAddr,
    /// The static file server, if `web` is set.
    pub web: Option<Web>,
    /// Canonical web root, for the start-up log line.
    pub web_root: Option<PathBuf>,
    /// TLS settings when a certificate was given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse clients that do not start with a TLS handshake.
    pub ssl_only: bool,
    /// Ping interval; `None` when heartbeats are off.
    pub heartbeat: Option<Duration>,
    /// Per-connection limits.
    pub limits: Limits,
}

/// What the process needs beyond `Config`: where to listen and how to stop.
#[derive(Debug)]
pub struct Settings {
    /// Addresses to bind when no sockets are passed in by systemd.
    pub listen: Vec<ListenAddr>,
    /// The per-connection settings.
    pub config: Config,
    /// Grace period for live sessions after SIGTERM.
    pub shutdown_grace: Duration,
    /// Debug logging.
    pub verbose: bool,
}

impl Settings {
    /// Validates merged options.
    pub fn from_merged(m: &Merged) -> Result<Settings> {
        let o = &m.options;
        let at = |key: &str| format!("{}: {key}", m.origin(key));
        let listen = o
            .listen
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|l| ListenAddr::parse(l).with_context(|| at("listen")))
            .collect::<Result<Vec<_>>>()?;
        let target = match &o.target {
            Some(t) => TargetAddr::parse(t).with_context(|| at("target"))?,
            None => bail!(
                "{}: no target: give TARGET_ADDR:TARGET_PORT on the command line or `target` in the conf file",
                m.conf().map_or("command line".into(), |c| c.path.display().to_string())
            ),
        };
        let web_root = match &o.web {
            Some(dir) => Some(web_root(dir).with_context(|| at("web"))?),
            None => None,
        };
        let cert = o
            .cert
            .as_deref()
            .map(credential)
            .transpose()
            .with_context(|| at("cert"))?;
        let key = o
            .key
            .as_deref()
            .map(credential)
            .transpose()
            .with_context(|| at("key"))?;
        let tls = match (&cert, &key) {
            (Some(cert), key) => Some(Arc::new(
                tls::server_config(cert, key.as_deref()).with_context(|| at("cert"))?,
            )),
            (None, Some(_)) => bail!("{}: `key` needs `cert`", at("key")),
            (None, None) if o.ssl_only == Some(true) => {
                bail!("{}: `ssl-only` needs `cert`", at("ssl-only"))
            }
            (None, None) => None,
        };
        let secs = |key: &str, v: Option<u64>, default: Duration, min: u64| -> Result<Duration> {
            match v {
                Some(v) if v < min => bail!("{}: must be at least {min}", at(key)),
                Some(v) => Ok(Duration::from_secs(v)),
                None => Ok(default),
            }
        };
        let max_header_size = o.max_header_size.unwrap_or(limits::MAX_HEADER_SIZE);
        if max_header_size < 8192 {
            bail!("{}: must be at least 8192 bytes", at("max-header-size"));
        }
        let max_message_size = o.max_message_size.unwrap_or(limits::MAX_MESSAGE_SIZE);
        if max_message_size == 0 {
            bail!("{}: must be at least 1 byte", at("max-message-size"));
        }
        let heartbeat = o.heartbeat.unwrap_or(limits::HEARTBEAT_SECS);
        let config = Config {
            target,
            web: web_root.clone().map(Web::new),
            web_root,
            tls,
            ssl_only: o.ssl_only.unwrap_or(false),
            heartbeat: (heartbeat > 0).then(|| Duration::from_secs(heartbeat)),
            limits: Limits {
                handshake_timeout: secs(
                    "handshake-timeout",
                    o.handshake_timeout,
                    limits::HANDSHAKE_TIMEOUT,
                    1,
                )?,
                connect_timeout: secs(
                    "connect-timeout",
                    o.connect_timeout,
                    limits::CONNECT_TIMEOUT,
                    1,
                )?,
                max_message_size,
                max_header_size,
            },
        };
        Ok(Settings {
            listen,
            config,
            shutdown_grace: secs(
                "shutdown-grace",
                o.shutdown_grace,
                limits::SHUTDOWN_GRACE,
                0,
            )?,
            verbose: o.verbose.unwrap_or(false),
        })
    }
}

/// `credential:NAME` is the file systemd's `LoadCredential=NAME:...` made
/// for this service: how a key that only root may read (Let's Encrypt's)
/// reaches a daemon running as an unprivileged user.
fn credential(path: &Path) -> Result<PathBuf> {
    let Some(name) = path.to_str().and_then(|p| p.strip_prefix("credential:")) else {
        return Ok(path.to_owned());
    };
    if name.is_empty() || name.contains('/') {
        bail!("{name:?}: a credential name is a plain file name");
    }
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => Ok(Path::new(&dir).join(name)),
        None => bail!(
            "credential:{name} needs systemd's LoadCredential={name}:FILE (CREDENTIALS_DIRECTORY is not set)"
        ),
    }
}

fn web_root(dir: &Path) -> Result<PathBuf> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    if !root.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    Ok(root)
}
