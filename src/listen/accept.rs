//! Accepting that never gives up. An accept error is nearly always a state
//! of the moment: out of file descriptors (`EMFILE`, `ENFILE`), of memory
//! (`ENOMEM`, `ENOBUFS`), or a client gone before we took it
//! (`ECONNABORTED`). A loop that returns on it closes the listener for good,
//! so a load balancer marks the node down until a restart; a loop that
//! retries at once spins and floods the log. Every accept loop (public,
//! metrics, control socket, ACME HTTP-01) goes through [`Incoming`]: it
//! waits [`MIN_BACKOFF`], doubling up to [`MAX_BACKOFF`], between tries, and
//! logs at most one line per [`MAX_BACKOFF`] with the count of the failures
//! it did not log.

use std::time::{Duration, Instant};

use tokio::net::{TcpStream, UnixStream};
use tokio_util::either::Either;

use super::{Listener, Peer};

/// The first wait after a failed accept.
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between tries, and the shortest between two log lines.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// An accepted connection: TCP or unix (both read and write as one type).
pub type Stream = Either<TcpStream, UnixStream>;

/// A listener's stream of connections, with the retry state of its loop.
#[derive(Debug)]
pub struct Incoming {
    listener: Listener,
    /// What the listener is for, in log lines (`clients`, `metrics`).
    what: &'static str,
    backoff: Duration,
    /// When the last failure was logged.
    logged: Option<Instant>,
    /// Failures since then that were not logged.
    unlogged: u64,
}

impl Listener {
    /// Its connections, for an accept loop; `what` names it in log lines.
    pub fn incoming(self, what: &'static str) -> Incoming {
        Incoming {
            listener: self,
            what,
            backoff: MIN_BACKOFF,
            logged: None,
            unlogged: 0,
        }
    }
}

impl Incoming {
    /// The listener, for a hand-over: still open, its backlog kept.
    pub fn into_listener(self) -> Listener {
        self.listener
    }

    /// The next connection and who is on the other end; waits out accept
    /// errors (see the module doc), however long they last.
    pub async fn next(&mut self) -> (Stream, Peer) {
        loop {
            match self.accept_once().await {
                Ok(accepted) => {
                    self.backoff = MIN_BACKOFF;
                    return accepted;
                }
                Err(e) => {
                    self.failed(&e);
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn accept_once(&self) -> std::io::Result<(Stream, Peer)> {
        match &self.listener {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                Ok((Either::Left(s), Peer::Tcp(addr)))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                // Who connected, for trusted-unix-peers.
                let peer = Peer::Unix(s.peer_cred().ok().map(|c| c.uid()));
                Ok((Either::Right(s), peer))
            }
        }
    }

    /// Logs the failure unless one was logged less than [`MAX_BACKOFF`] ago.
    fn failed(&mut self, e: &std::io::Error) {
        let now = Instant::now();
        if self.logged.is_some_and(|t| now - t < MAX_BACKOFF) {
            self.unlogged += 1;
            return;
        }
        let listener = &self.listener;
        let (what, wait) = (self.what, self.backoff);
        match std::mem::take(&mut self.unlogged) {
            0 => log::error!("accept on {listener} ({what}) failed: {e}; retrying in {wait:?}"),
            n => log::error!(
                "accept on {listener} ({what}) failed: {e} ({n} more failures not logged); \
                 retrying in {wait:?}"
            ),
        }
        self.logged = Some(now);
    }
}
