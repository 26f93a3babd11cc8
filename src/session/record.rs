//! `--record FILE`: each session's traffic to `FILE.N` in the format noVNC's
//! playback harness reads (`var VNC_frame_data = ['{ms{data', ...,'EOF'];`),
//! as Python websockify writes it; and `--traffic`'s frame symbols.
//!
//! Nothing here touches the disk on the event loop: the file is created in
//! `spawn_blocking` (`open`: exclusive, numbered after earlier runs), and a
//! thread per recording writes it (`writer`), fed through a queue with a byte
//! budget. When the disk cannot keep up the recording stops, complete up to
//! there, rather than stalling the relay or growing without bound.

mod open;
mod traffic;
mod writer;

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use traffic::{flushed as traffic_flushed, traffic};
use writer::{cost, Chunk, Writer};

/// A recording stops growing here (per session file), with a log line:
/// an all-day session must not fill the disk.
pub const RECORD_LIMIT: u64 = 256 * 1024 * 1024;

/// Bytes of one session's recording that may wait for the disk; beyond,
/// the recording stops rather than hold the relay back or use more memory.
pub const QUEUE_LIMIT: usize = 16 * 1024 * 1024;

/// How long a closing session waits for its recording to reach the disk.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// One session's recording: the sending end of its writer thread.
pub struct Recorder {
    chunks: Option<Sender<Chunk>>,
    queued: Arc<AtomicUsize>,
    done: Option<oneshot::Receiver<()>>,
    path: PathBuf,
    start: Instant,
}

/// Which way a chunk went.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    /// Data sent to the client (`{`).
    ToClient,
    /// Data received from the client (`}`).
    FromClient,
}

impl Recorder {
    /// Creates the next free `BASE.N` (off the event loop) and starts its writer.
    pub async fn open(base: &Path) -> std::io::Result<Self> {
        let owned = base.to_owned();
        let (path, file) = tokio::task::spawn_blocking(move || open::create_next(&owned))
            .await
            .map_err(std::io::Error::other)??;
        let (tx, rx) = channel();
        let (done_tx, done) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            path: path.clone(),
            out: BufWriter::with_capacity(256 * 1024, file),
            queued: queued.clone(),
            done: done_tx,
        };
        std::thread::Builder::new()
            .name("record".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self {
            chunks: Some(tx),
            queued,
            done: Some(done),
            path,
            start: Instant::now(),
        })
    }

    /// The file this session records to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one chunk; never blocks. Recording is best effort: a full
    /// queue, an error or the size limit ends the file, never the session.
    pub fn record(&mut self, dir: Direction, data: &[u8]) {
        let Some(chunks) = &self.chunks else { return };
        let cost = cost(data);
        let queued = self.queued.fetch_add(cost, Ordering::Relaxed);
        if queued + cost > QUEUE_LIMIT {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            log::warn!(
                "{}: recording stopped: the disk is not keeping up ({} MiB waiting)",
                self.path.display(),
                queued >> 20
            );
            self.chunks = None;
            return;
        }
        let ms = self.start.elapsed().as_millis();
        let chunk = Chunk {
            dir,
            ms,
            data: data.to_vec(),
        };
        if chunks.send(chunk).is_err() {
            self.chunks = None; // the writer stopped and said why
        }
    }

    /// Ends the recording and waits (asynchronously, bounded) until the
    /// file has its `'EOF'];` and is flushed and closed.
    pub async fn close(mut self) {
        self.chunks = None;
        let Some(done) = self.done.take() else { return };
        if tokio::time::timeout(CLOSE_WAIT, done).await.is_err() {
            log::warn!("{}: recording still being written", self.path.display());
        }
    }
}

/// Python's legend, printed once at start with `--traffic`.
pub const TRAFFIC_LEGEND: &str = "Traffic Legend:\n    }  - Client receive\n    }. - Client receive partial\n    {  - Target receive\n\n    >  - Target send\n    >. - Target send partial\n    <  - Client send\n    <. - Client send partial\n";

#[cfg(test)]
mod tests {
    use super::writer::escape;

    #[test]
    fn escapes_like_python_unicode_escape() {
        assert_eq!(escape(b"RFB 003.008\n"), "RFB 003.008\\n");
        assert_eq!(
            escape(&[0, 0x7f, 0xff, b'\'', b'\\']),
            "\\x00\\x7f\\xff\\'\\\\"
        );
    }
}
