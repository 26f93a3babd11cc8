//! `--traffic`'s frame symbols, written to standard output by one thread so
//! that a slow or stalled reader of stdout never blocks a session: symbols
//! queue in a bounded channel (dropped, with one log line, when it is full),
//! and the thread flushes whenever it has caught up, not once per frame.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::oneshot;

/// Symbols that may wait for standard output before new ones are dropped.
const QUEUE: usize = 64 * 1024;

/// How long a session waits at its end for its symbols to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

enum Msg {
    Symbol(String),
    /// Answered once everything sent before it is written and flushed.
    Flush(oneshot::Sender<()>),
}

/// The writer thread's queue, started on first use.
static QUEUE_TX: OnceLock<Option<SyncSender<Msg>>> = OnceLock::new();

/// Set while symbols are being dropped, so that is logged once per episode.
static DROPPING: AtomicBool = AtomicBool::new(false);

fn queue() -> Option<&'static SyncSender<Msg>> {
    QUEUE_TX
        .get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            let spawned = std::thread::Builder::new()
                .name("traffic".into())
                .spawn(move || write_all(rx));
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    log::warn!("--traffic: cannot start its writer: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// Queues one symbol for standard output; never blocks.
pub fn traffic(symbol: &str) {
    let Some(tx) = queue() else { return };
    match tx.try_send(Msg::Symbol(symbol.to_owned())) {
        Ok(()) => {
            if DROPPING.swap(false, Ordering::Relaxed) {
                log::info!("--traffic: standard output caught up");
            }
        }
        Err(TrySendError::Full(_)) => {
            if !DROPPING.swap(true, Ordering::Relaxed) {
                log::warn!("--traffic: standard output is not keeping up; symbols dropped");
            }
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// Waits (asynchronously, at most a second) until the symbols queued so far
/// are on standard output: a session's symbols come before its closing line.
pub async fn flushed() {
    let Some(tx) = queue() else { return };
    let (done, wait) = oneshot::channel();
    if tx.try_send(Msg::Flush(done)).is_ok() {
        let _ = tokio::time::timeout(FLUSH_WAIT, wait).await;
    }
}

/// The writer thread: writes what comes, flushes when nothing more waits.
fn write_all(rx: Receiver<Msg>) {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut next = rx.recv().ok();
    while let Some(msg) = next {
        match msg {
            Msg::Symbol(s) => {
                let _ = out.write_all(s.as_bytes());
            }
            Msg::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
            }
        }
        next = match rx.try_recv() {
            Ok(msg) => Some(msg),
            Err(TryRecvError::Empty) => {
                let _ = out.flush();
                rx.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
    }
    let _ = out.flush();
}
