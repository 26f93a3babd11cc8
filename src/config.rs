//! The validated settings the server runs with, built from the command line.
//!
//! Everything that can be wrong (addresses, files, option combinations) is
//! found here, before any socket is bound, with an error naming what is wrong.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::addr::{ListenAddr, TargetAddr};
use crate::cli::Cli;
use crate::tls;

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

/// Everything a session needs to know, shared by all connections.
#[derive(Debug)]
pub struct Config {
    /// Where sessions are relayed.
    pub target: TargetAddr,
    /// Canonical static web root, if any.
    pub web: Option<PathBuf>,
    /// TLS settings when a certificate was given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse clients that do not start with a TLS handshake.
    pub ssl_only: bool,
    /// Ping interval; `None` when heartbeats are off.
    pub heartbeat: Option<Duration>,
    /// Per-connection limits.
    pub limits: Limits,
}

impl Config {
    /// Validates the command line into a config and the address to listen on.
    pub fn from_cli(cli: &Cli) -> Result<(ListenAddr, Config)> {
        let listen = ListenAddr::parse(&cli.listen).context("bad listen address")?;
        let target = TargetAddr::parse(&cli.target).context("bad target address")?;
        let web = cli
            .web
            .as_ref()
            .map(|dir| {
                dir.canonicalize()
                    .with_context(|| format!("--web directory {}", dir.display()))
            })
            .transpose()?;
        if let Some(dir) = &web {
            if !dir.is_dir() {
                bail!("--web {}: not a directory", dir.display());
            }
        }
        let tls = match (&cli.cert, &cli.key) {
            (Some(cert), key) => Some(Arc::new(
                tls::server_config(cert, key.as_deref()).context("TLS certificate")?,
            )),
            (None, Some(_)) => bail!("--key needs --cert"),
            (None, None) if cli.ssl_only => bail!("--ssl-only needs --cert"),
            (None, None) => None,
        };
        if cli.max_header_size < 8192 {
            bail!("--max-header-size must be at least 8192 bytes");
        }
        if cli.handshake_timeout == 0 || cli.connect_timeout == 0 {
            bail!("--handshake-timeout and --connect-timeout must be at least 1 second");
        }
        let config = Config {
            target,
            web,
            tls,
            ssl_only: cli.ssl_only,
            heartbeat: (cli.heartbeat > 0).then(|| Duration::from_secs(cli.heartbeat)),
            limits: Limits {
                handshake_timeout: Duration::from_secs(cli.handshake_timeout),
                connect_timeout: Duration::from_secs(cli.connect_timeout),
                max_message_size: cli.max_message_size,
                max_header_size: cli.max_header_size,
            },
        };
        Ok((listen, config))
    }
}
