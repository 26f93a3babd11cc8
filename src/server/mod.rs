//! The accept loops. The server is given ready listeners, a config that may
//! be replaced at any time (reload), and a shutdown future: it never binds a
//! socket or installs a signal handler itself, so tests, socket activation and
//! reload hand it whatever they have. The global connection cap is counted
//! here, at accept; the per-client cap later, where the real client is known.

pub mod in_process;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::either::Either;

use crate::access::caps::{Caps, Maximums};
use crate::config::Config;
use crate::conn;
use crate::defaults::DRAIN_TIMEOUT;
use crate::listen::{Listener, Peer};
use crate::session::{ConnCtx, SessionCount, Shared};
use crate::shutdown::{Shutdown, Trigger};

/// How the server should stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A signal: live sessions get the grace period, then close 1001.
    Now,
    /// The server's lifetime is over (`--timeout`, `--run-once`): stop
    /// accepting and let live sessions end by themselves.
    WhenIdle,
}

/// A server over some listeners.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<Listener>,
    config: watch::Receiver<Arc<Config>>,
    grace: Duration,
    sessions: Arc<watch::Sender<SessionCount>>,
    caps: Caps,
    shared: Shared,
}

impl Server {
    /// Serves `listeners`; each new connection uses the config current when it arrives.
    /// `shared` is what its connections share (and what the caller keeps
    /// to look at: the metrics, the session table).
    pub fn new(
        listeners: Vec<Listener>,
        config: watch::Receiver<Arc<Config>>,
        shared: Shared,
    ) -> Self {
        Self {
            shared,
            listeners,
            config,
            grace: Duration::ZERO,
            sessions: Arc::new(watch::channel(SessionCount::default()).0),
            caps: Caps::new(Maximums::default()),
        }
    }

    /// How long live sessions may go on after shutdown is requested.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Live and ended WebSocket sessions, updated as they come and go.
    pub fn sessions(&self) -> watch::Receiver<SessionCount> {
        self.sessions.subscribe()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets sessions
    /// run for the grace period (or, for `Stop::WhenIdle`, until they end),
    /// closes the rest with 1001 and waits (bounded) for them to finish.
    pub async fn run(self, shutdown: impl Future<Output = Stop>) {
        let trigger = Trigger::new();
        let mut accepting = JoinSet::new();
        for listener in self.listeners {
            let acceptor = Acceptor {
                config: self.config.clone(),
                shutdown: trigger.subscribe(),
                sessions: self.sessions.clone(),
                caps: self.caps.clone(),
                shared: self.shared.clone(),
            };
            accepting.spawn(acceptor.run(listener));
        }
        let stop = shutdown.await;
        // Wait until the accept loops are gone, so the listening sockets are
        // closed and new clients are refused rather than left queued.
        accepting.abort_all();
        while accepting.join_next().await.is_some() {}
        let mut count = self.sessions.subscribe();
        let live = count.borrow().live;
        if stop == Stop::WhenIdle && live > 0 {
            log::info!("stopped accepting; waiting for {live} sessions to end");
            let _ = count.wait_for(|c| c.live == 0).await;
        } else if !self.grace.is_zero() && live > 0 {
            log::info!(
                "stopped accepting; waiting up to {:?} for {live} sessions",
                self.grace
            );
            let _ = timeout(self.grace, count.wait_for(|c| c.live == 0)).await;
        }
        log::info!("shutting down: closing sessions");
        if timeout(DRAIN_TIMEOUT, trigger.shutdown_and_drain())
            .await
            .is_err()
        {
            log::warn!("sessions still open after {DRAIN_TIMEOUT:?}; exiting anyway");
        }
    }
}

/// One listener's accept loop.
struct Acceptor {
    config: watch::Receiver<Arc<Config>>,
    shutdown: Shutdown,
    sessions: Arc<watch::Sender<SessionCount>>,
    caps: Caps,
    shared: Shared,
}

impl Acceptor {
    /// The context for a new connection, or `None` when the global cap
    /// refuses it (the connection is then closed). The per-client cap is
    /// counted later, once the real client is known (conn, http).
    fn ctx(&self, peer: &Peer) -> Option<ConnCtx> {
        let config = self.config.borrow().clone();
        // Caps may change on reload; the live counts stay.
        self.caps.set(config.caps);
        let Some(permit) = self.caps.try_connection() else {
            let cap = config.caps.global.unwrap_or_default();
            log::warn!(
                "connection from {peer} refused: connection cap reached (max-connections {cap})"
            );
            return None;
        };
        Some(ConnCtx {
            config,
            shutdown: self.shutdown.clone(),
            sessions: self.sessions.clone(),
            caps: self.caps.clone(),
            shared: self.shared.clone(),
            permit: Some(Arc::new(permit)),
        })
    }

    async fn run(self, listener: Listener) {
        let mut incoming = listener.incoming("clients");
        loop {
            let (stream, peer) = incoming.next().await;
            let Some(ctx) = self.ctx(&peer) else {
                continue;
            };
            match stream {
                Either::Left(s) => {
                    let _ = s.set_nodelay(true);
                    tokio::spawn(conn::handle(s, peer, ctx));
                }
                Either::Right(s) => drop(tokio::spawn(conn::handle(s, peer, ctx))),
            }
        }
    }
}
