//! A shutdown signal every connection can wait on, and a drain that knows when
//! the last connection has finished (the last `DrainGuard` dropped).

use tokio::sync::{mpsc, watch};

/// Held by the server: trips shutdown and waits for connections to finish.
#[derive(Debug)]
pub struct Trigger {
    tx: watch::Sender<bool>,
    drain_tx: mpsc::Sender<()>,
    drain_rx: mpsc::Receiver<()>,
}

/// Held by each connection: tells it when to stop, and keeps the drain open.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    _drain: mpsc::Sender<()>,
}

impl Trigger {
    /// A trigger with no connections yet.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        let (drain_tx, drain_rx) = mpsc::channel(1);
        Self {
            tx,
            drain_tx,
            drain_rx,
        }
    }

    /// A handle for a new connection.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
            _drain: self.drain_tx.clone(),
        }
    }

    /// Tells every connection to stop, then waits until all have dropped their handle.
    pub async fn shutdown_and_drain(self) {
        let Trigger {
            tx,
            drain_tx,
            mut drain_rx,
        } = self;
        let _ = tx.send(true);
        drop(drain_tx);
        // recv() yields None once every Shutdown (each holding a sender) is gone.
        let _ = drain_rx.recv().await;
    }
}

impl Default for Trigger {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Completes once shutdown has been requested (at once if it already was).
    pub async fn requested(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}
