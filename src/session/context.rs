//! What every connection, and the session it may become, shares with the
//! server. It lives with the session, the lowest layer that reads it, so the
//! connection and HTTP layers above can pass it down without a loop.

use std::sync::Arc;

use tokio::sync::watch;

use super::SessionCount;
use crate::access::caps::{Caps, ConnPermit};
use crate::config::Config;
use crate::shutdown::Shutdown;

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
    /// This connection's slot under the connection caps (its client is
    /// counted once known); a session started on it keeps a clone, so the
    /// slot is held until both are gone.
    pub permit: Option<Arc<ConnPermit>>,
}
