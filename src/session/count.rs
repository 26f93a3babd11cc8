//! How many WebSocket sessions are live, and how many have ended: what
//! `STATUS=`, the shutdown grace and `--run-once`/`--idle-timeout` watch.

use tokio::sync::watch;

use crate::metrics;

/// Live and finished WebSocket sessions, as the server reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCount {
    /// Sessions open now.
    pub live: usize,
    /// Sessions that have ended since start.
    pub ended: u64,
}

/// Counts a session as live from the upgrade until it is dropped (also when
/// its task panics or is cancelled).
pub(crate) struct LiveSession<'a>(&'a watch::Sender<SessionCount>);

impl<'a> LiveSession<'a> {
    pub(crate) fn new(sessions: &'a watch::Sender<SessionCount>) -> Self {
        sessions.send_modify(|c| c.live += 1);
        metrics::global().session_opened();
        Self(sessions)
    }
}

impl Drop for LiveSession<'_> {
    fn drop(&mut self) {
        metrics::global().session_gone();
        self.0.send_modify(|c| {
            c.live = c.live.saturating_sub(1);
            c.ended += 1;
        });
    }
}
