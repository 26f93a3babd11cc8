//! How many WebSocket sessions are live, and how many have ended: what
//! `STATUS=`, the shutdown grace and `--run-once`/`--idle-timeout` watch.

use tokio::sync::watch;

use crate::metrics::Metrics;

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
pub(crate) struct LiveSession<'a>(&'a watch::Sender<SessionCount>, &'a Metrics);

impl<'a> LiveSession<'a> {
    pub(crate) fn new(sessions: &'a watch::Sender<SessionCount>, metrics: &'a Metrics) -> Self {
        sessions.send_modify(|c| c.live += 1);
        metrics.session_opened();
        Self(sessions, metrics)
    }
}

impl Drop for LiveSession<'_> {
    fn drop(&mut self) {
        self.1.session_gone();
        self.0.send_modify(|c| {
            c.live = c.live.saturating_sub(1);
            c.ended += 1;
        });
    }
}
