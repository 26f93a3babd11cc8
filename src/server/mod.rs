//! The accept loops. The server is given ready listeners, a config that may
//! be replaced at any time (reload), and a shutdown future: it never binds a
//! socket or installs a signal handler itself, so tests, socket activation and
//! reload hand it whatever they have. The global connection cap is counted
//! here, at accept; the per-client cap later, where the real client is known.

pub mod in_process;

use std::future::Future;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::either::Either;

use crate::access::caps::{Caps, Maximums};
use crate::config::Config;
use crate::conn;
use crate::defaults::{DRAIN_TIMEOUT, PAUSE_TIMEOUT};
use crate::listen::{Listener, Peer};
use crate::session::resume::{self, Moved};
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
    /// A hand-over (SIGUSR2): stop accepting but keep the listening sockets
    /// (new clients wait in the backlog), pause every session and park it.
    HandOver,
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
    /// Sessions handed over by the previous process, to go on here.
    adopted: Vec<Moved>,
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
            adopted: Vec::new(),
        }
    }

    /// Counts sessions in `sessions`, kept by the caller across servers (a
    /// hand-over that failed serves again with a new one).
    pub fn counting(mut self, sessions: Arc<watch::Sender<SessionCount>>) -> Self {
        self.sessions = sessions;
        self
    }

    /// Goes on with `sessions`, handed over by the previous process.
    pub fn adopt(mut self, sessions: Vec<Moved>) -> Self {
        self.adopted = sessions;
        self
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
    /// For `Stop::HandOver` it returns the listeners, still open, once every
    /// session is parked (`Shared::parked`) or closed; else none.
    pub async fn run(self, shutdown: impl Future<Output = Stop>) -> Vec<Listener> {
        let trigger = Trigger::new();
        let (pause_tx, pause) = watch::channel(false);
        let mut accepting = JoinSet::new();
        let acceptor = Acceptor {
            config: self.config.clone(),
            shutdown: trigger.subscribe(),
            sessions: self.sessions.clone(),
            caps: self.caps.clone(),
            shared: self.shared.clone(),
        };
        for moved in self.adopted {
            tokio::spawn(resume::resume(moved, acceptor.adopted_ctx()));
        }
        for listener in self.listeners {
            accepting.spawn(acceptor.clone().run(listener, pause.clone()));
        }
        drop(acceptor);
        let stop = shutdown.await;
        if stop == Stop::HandOver {
            pause_tx.send_replace(true);
            return hand_over(accepting, &self.sessions, (&self.shared, &self.caps)).await;
        }
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
        Vec::new()
    }
}

/// The hand-over's pause: the accept loops give their listeners back, open;
/// every session pauses (or closes with 1012) and leaves the live count, and
/// connections still in their HTTP steps become sessions that pause at once
/// or end; bounded by twice `PAUSE_TIMEOUT` (what is left then, an idle
/// keep-alive connection say, is closed by the exec). The table stays
/// paused: a failed exec unpauses it before the sessions go on.
async fn hand_over(
    mut accepting: JoinSet<Listener>,
    sessions: &watch::Sender<SessionCount>,
    (shared, caps): (&Shared, &Caps),
) -> Vec<Listener> {
    let mut listeners = Vec::new();
    while let Some(joined) = accepting.join_next().await {
        listeners.extend(joined.ok());
    }
    let mut count = sessions.subscribe();
    let ended = count.borrow().ended;
    shared.table.pause_all(true);
    let settled = async {
        let _ = count.wait_for(|c| c.live == 0).await;
        while caps.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = count.wait_for(|c| c.live == 0).await;
        }
    };
    if timeout(PAUSE_TIMEOUT * 2, settled).await.is_err() {
        let (live, conns) = (sessions.borrow().live, caps.connections());
        log::warn!(
            "hand-over: {live} sessions and {conns} connections not paused in time; the exec closes them"
        );
    }
    let parked = shared.parked.len();
    let closed = (count.borrow().ended - ended).saturating_sub(parked as u64);
    log::info!(
        "hand-over: {parked} sessions paused to move; {closed} closed (1012, or ended meanwhile: each logged with why)"
    );
    listeners
}

/// One listener's accept loop.
#[derive(Clone)]
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
            client_fd: None,
        })
    }

    /// The context of a session handed over: no connection cap slot (it
    /// was counted by the previous process, which is gone).
    fn adopted_ctx(&self) -> ConnCtx {
        ConnCtx {
            config: self.config.borrow().clone(),
            shutdown: self.shutdown.clone(),
            sessions: self.sessions.clone(),
            caps: self.caps.clone(),
            shared: self.shared.clone(),
            permit: None,
            client_fd: None,
        }
    }

    /// Accepts until a hand-over asks it to stop (`pause`), then gives the
    /// listener back, still open.
    async fn run(self, listener: Listener, mut pause: watch::Receiver<bool>) -> Listener {
        let mut incoming = listener.incoming("clients");
        loop {
            let (stream, peer) = tokio::select! {
                accepted = incoming.next() => accepted,
                Ok(_) = pause.wait_for(|p| *p) => return incoming.into_listener(),
            };
            let Some(mut ctx) = self.ctx(&peer) else {
                continue;
            };
            ctx.client_fd = Some(match &stream {
                Either::Left(s) => (s.as_raw_fd(), false),
                Either::Right(s) => (s.as_raw_fd(), true),
            });
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
