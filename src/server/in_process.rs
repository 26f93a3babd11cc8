//! A whole server in the caller's process: the accept loops, caps, sessions
//! and metrics the daemon runs, without its signals, systemd, reloads or
//! control socket. Tests use it where looking inside is clearer than
//! spawning the binary (two servers in one process, each with its own
//! counters and sessions); the binary-level tests still check what a user
//! sees.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{Server, Stop};
use crate::config::{Config, Settings};
use crate::listen::Listener;
use crate::session::table::SessionInfo;
use crate::session::Shared;

/// A server running on a task of the caller's runtime.
#[derive(Debug)]
pub struct InProcess {
    addr: SocketAddr,
    shared: Shared,
    stop: oneshot::Sender<Stop>,
    task: JoinHandle<()>,
}

/// Serves `settings`' per-connection config on `listener` (bound by the
/// caller, e.g. to port 0) with state of its own, until [`InProcess::stop`].
pub fn spawn(settings: Settings, listener: std::net::TcpListener) -> Result<InProcess> {
    listener
        .set_nonblocking(true)
        .context("cannot make the listener non-blocking")?;
    let addr = listener.local_addr().context("listener address")?;
    let listener = tokio::net::TcpListener::from_std(listener).context("listener")?;
    let (config_tx, config) = watch::channel(Arc::new(settings.config));
    let shared = Shared::new();
    let server = Server::new(vec![Listener::Tcp(listener)], config, shared.clone())
        .grace(settings.shutdown_grace);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        server.run(until(stopped, config_tx)).await;
    });
    Ok(InProcess {
        addr,
        shared,
        stop,
        task,
    })
}

/// Resolves with how to stop once told (or `Now` when the handle is gone);
/// holds the config's sender so the server's receiver stays open.
async fn until(stopped: oneshot::Receiver<Stop>, config: watch::Sender<Arc<Config>>) -> Stop {
    let _config = config;
    stopped.await.unwrap_or(Stop::Now)
}

impl InProcess {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `/metrics` would show for this server.
    pub fn metrics(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Its live sessions, as `websockifyctl sessions --json` lists them.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.table.list()
    }

    /// Stops accepting, closes live sessions with 1001 and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(Stop::Now);
        let _ = self.task.await;
    }
}
