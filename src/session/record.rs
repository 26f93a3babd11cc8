//! `--record FILE`: each session's traffic to `FILE.N` in the format noVNC's
//! playback harness reads (`var VNC_frame_data = ['{ms{data', ...,'EOF'];`),
//! as Python websockify writes it; `record-sessions`: the same format, one
//! file per session in `record-dir` named by time, session and user
//! (`named`), old ones pruned by age and total (`prune`), and a line per
//! session in `index.jsonl` with the file's SHA-256 (`index`); and
//! `--traffic`'s frame symbols.
//!
//! Nothing here touches the disk on the event loop: the file is created in
//! `spawn_blocking` (`open`: exclusive, numbered after earlier runs), and a
//! thread per recording writes it (`writer`), fed through a queue with a byte
//! budget. When the disk cannot keep up the recording stops, complete up to
//! there, rather than stalling the relay or growing without bound.

mod index;
mod named;
mod open;
mod prune;
mod traffic;
mod writer;

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use crate::config::Recordings;
use crate::metrics::Metrics;
pub use index::{hex, End, INDEX};
pub use traffic::{flushed as traffic_flushed, traffic};
use writer::{cost, Chunk, Indexed, Writer};

/// Bytes of one session's recording that may wait for the disk; beyond,
/// the recording stops rather than hold the relay back or use more memory.
pub const QUEUE_LIMIT: usize = 16 * 1024 * 1024;

/// How long a closing session waits for its recording to reach the disk.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// One session's recording: the sending end of its writer thread.
pub struct Recorder {
    chunks: Option<Sender<Chunk>>,
    queued: Arc<AtomicUsize>,
    /// The writer took its last chunk (size limit, write error).
    stopped: Arc<AtomicBool>,
    done: Option<oneshot::Receiver<()>>,
    path: PathBuf,
    start: Instant,
    /// Also what the client sent (`--record`; `record-input`).
    input: bool,
    /// Where the session's end goes, for its index line.
    end: Option<oneshot::Sender<End>>,
    /// Where failures are counted (here and by the writer).
    metrics: Arc<Metrics>,
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
    /// Creates the next free `BASE.N` (off the event loop) and starts its
    /// writer; both directions are recorded, as Python's `--record` does.
    pub async fn open(base: &Path, limit: u64, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let owned = base.to_owned();
        let (path, file) = tokio::task::spawn_blocking(move || open::create_next(&owned))
            .await
            .map_err(std::io::Error::other)??;
        Self::start(path, file, (limit, metrics), None, true)
    }

    /// Creates session `id`'s recording in `record-dir` (after pruning old
    /// ones, off the event loop) and starts its writer, which appends the
    /// index line when [`close`](Self::close) gives it the session's end.
    pub async fn open_session(
        settings: &Recordings,
        limit: u64,
        id: u64,
        user: Option<&str>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (owned, user_owned) = (settings.clone(), user.map(str::to_owned));
        let started = SystemTime::now();
        let (path, file) = tokio::task::spawn_blocking(move || {
            named::create(&owned, id, user_owned.as_deref(), started)
        })
        .await
        .map_err(std::io::Error::other)??;
        let (end_tx, end) = oneshot::channel();
        let indexed = Indexed {
            dir: settings.dir.clone(),
            start: started,
            end,
        };
        let mut r = Self::start(path, file, (limit, metrics), Some(indexed), settings.input)?;
        r.end = Some(end_tx);
        Ok(r)
    }

    fn start(
        path: PathBuf,
        file: std::fs::File,
        (limit, metrics): (u64, Arc<Metrics>),
        index: Option<Indexed>,
        input: bool,
    ) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let (done_tx, done) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            path: path.clone(),
            out: BufWriter::with_capacity(256 * 1024, file),
            queued: queued.clone(),
            done: done_tx,
            stopped: stopped.clone(),
            limit,
            index,
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name("record".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self {
            chunks: Some(tx),
            queued,
            stopped,
            done: Some(done),
            path,
            start: Instant::now(),
            input,
            end: None,
            metrics,
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
        if matches!(dir, Direction::FromClient) && !self.input {
            return; // keys and pointer: typed secrets, left out unless asked
        }
        if self.stopped.load(Ordering::Relaxed) {
            return; // the file is complete: no copy for the writer to drop
        }
        let cost = cost(data);
        let queued = self.queued.fetch_add(cost, Ordering::Relaxed);
        if queued + cost > QUEUE_LIMIT {
            self.queued.fetch_sub(cost, Ordering::Relaxed);
            log::warn!(
                "{}: recording stopped: the disk is not keeping up ({} MiB waiting)",
                self.path.display(),
                queued >> 20
            );
            self.metrics.recording_failed();
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
    /// file has its `'EOF'];` and is flushed and closed, and, with `end`,
    /// its index line is written.
    pub async fn close(mut self, end: Option<End>) {
        if let (Some(tx), Some(end)) = (self.end.take(), end) {
            let _ = tx.send(end);
        }
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
