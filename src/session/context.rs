//! What every connection, and the session it may become, shares with the
//! server. It lives with the session, the lowest layer that reads it, so the
//! connection and HTTP layers above can pass it down without a loop.

use std::sync::Arc;

use tokio::sync::watch;

use super::table::Table;
use super::SessionCount;
use crate::access::caps::{Caps, ConnPermit};
use crate::access::Logins;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// What the connections of one server share, made once (by the daemon, or
/// by a test for each server it runs) and handed down, like mini-redis's
/// `Db`: nothing of it is global, so a reload keeps it and two servers in
/// one process keep apart.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The logins' state: bounded password checks, failed logins, OpenID
    /// logins under way.
    pub logins: Arc<Logins>,
    /// Who is connected, for the control socket and revocation.
    pub table: Arc<Table>,
    /// Sessions paused for a hand-over, waiting for the exec.
    pub parked: Arc<super::resume::Parked>,
    /// The pipes of the splice path (target to client without copies).
    pub pipes: Arc<super::relay::Pipes>,
}

impl Shared {
    /// Fresh counters, password checks with the defaults, no sessions.
    pub fn new() -> Self {
        let metrics = Arc::new(Metrics::new());
        Shared {
            logins: Arc::new(Logins::new(metrics.clone())),
            metrics,
            table: Arc::default(),
            parked: Arc::default(),
            pipes: Arc::default(),
        }
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// The shared state one connection carries.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// Settings in force when the connection was accepted.
    pub config: Arc<Config>,
    /// Tells the connection to stop; keeps the server's drain open.
    pub shutdown: Shutdown,
    /// Live WebSocket sessions, for status reports and the shutdown grace.
    pub sessions: Arc<watch::Sender<SessionCount>>,
    /// Connection and per-target session caps (their counts outlive reloads).
    pub caps: Caps,
    /// What all connections share.
    pub shared: Shared,
    /// This connection's slot under the connection caps (its client is
    /// counted once known); a session started on it keeps a clone, so the
    /// slot is held until both are gone.
    pub permit: Option<Arc<ConnPermit>>,
    /// The client's socket, while its bytes travel on it in the clear (plain
    /// TCP or unix): what a hand-over moves to the new process. `None` over
    /// TLS, whose state lives in this process. With whether it is a unix socket.
    pub client_fd: Option<(std::os::fd::RawFd, bool)>,
}
