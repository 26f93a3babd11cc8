//! The thread that writes one session's recording, so that the relay never
//! waits for the disk: chunks arrive over a channel, are escaped and written
//! here, and when the channel closes the file gets its `'EOF'];` and is
//! flushed and closed before the session is told it is done.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::SystemTime;

use ring::digest::{Context, SHA256};
use tokio::sync::oneshot;

use super::index::{self, End, Written};
use super::{prune, Direction};
use crate::metrics::Metrics;

/// One recorded chunk: its direction, milliseconds since the session
/// started, and the bytes.
pub(super) struct Chunk {
    pub dir: Direction,
    pub ms: u128,
    pub data: Vec<u8>,
}

/// Where a `record-sessions` recording's index line goes, and the end of
/// the session it describes (sent by `Recorder::close`).
pub(super) struct Indexed {
    pub dir: PathBuf,
    pub start: SystemTime,
    pub end: oneshot::Receiver<End>,
}

/// What the writer needs besides its channel.
pub(super) struct Writer {
    pub path: PathBuf,
    pub out: BufWriter<File>,
    /// Bytes queued in the channel, shared with the sender's budget.
    pub queued: Arc<AtomicUsize>,
    /// Told once the file is complete and closed.
    pub done: oneshot::Sender<()>,
    /// Set once the file takes no more chunks (limit or error), so the
    /// sender stops copying them; the channel stays open until the session
    /// ends, for its index line.
    pub stopped: Arc<AtomicBool>,
    /// The file ends (with a marker) past this many bytes.
    pub limit: u64,
    /// The index to append to, for `record-sessions`.
    pub index: Option<Indexed>,
    /// Where failures are counted.
    pub metrics: Arc<Metrics>,
}

/// What a queued chunk counts against the budget: its bytes and the
/// bookkeeping around them.
pub(super) fn cost(data: &[u8]) -> usize {
    data.len() + 64
}

/// Where the file is.
#[derive(PartialEq, Eq)]
enum State {
    Writing,
    /// Ended at the limit; the session goes on.
    Full,
    /// A write failed (logged and counted).
    Failed,
}

/// The file as written so far.
struct Out {
    file: BufWriter<File>,
    hash: Context,
    size: u64,
    /// Its path, for log lines.
    shown: String,
    /// Where failures are counted.
    metrics: Arc<Metrics>,
}

impl Writer {
    /// Writes chunks until the channel closes, then finishes the file and
    /// appends its index line.
    pub(super) fn run(self, chunks: Receiver<Chunk>) {
        let Writer {
            path,
            out,
            queued,
            done,
            stopped,
            limit,
            index,
            metrics,
        } = self;
        let mut out = Out {
            file: out,
            hash: Context::new(&SHA256),
            size: 0,
            shown: path.display().to_string(),
            metrics,
        };
        let mut state = out.write(b"var VNC_frame_data = [\n");
        stopped.store(state != State::Writing, Ordering::Relaxed);
        for chunk in chunks {
            queued.fetch_sub(cost(&chunk.data), Ordering::Relaxed);
            if state == State::Writing {
                state = out.chunk(&chunk, limit);
                stopped.store(state != State::Writing, Ordering::Relaxed);
            } // else drain, so the sender's budget stays true
        }
        let complete = out.finish(state);
        // The file is closed (and indexed) before the session hears of it.
        match index {
            Some(indexed) => {
                prune::finished(&path);
                indexed.append(path, out, complete);
            }
            None => drop(out),
        }
        let _ = done.send(());
    }
}

impl Indexed {
    /// Appends the index line, once the session has said how it ended
    /// (it has not when the session was dropped without `close`).
    fn append(mut self, path: PathBuf, out: Out, complete: bool) {
        let Ok(end) = self.end.try_recv() else { return };
        let Out {
            file,
            hash,
            size,
            shown,
            metrics,
        } = out;
        drop(file);
        let written = Written {
            path,
            start: self.start,
            size,
            sha256: index::hex(hash.finish().as_ref()),
            complete,
        };
        if let Err(e) = index::append(&self.dir, &end, &written) {
            log::warn!("{shown}: cannot add it to {}: {e}", index::INDEX);
            metrics.recording_failed();
        }
    }
}

impl Out {
    /// Writes one chunk's line, or the marker and `Full` when it would
    /// pass `limit`.
    fn chunk(&mut self, chunk: &Chunk, limit: u64) -> State {
        let line = format_line(chunk);
        if self.size + line.len() as u64 <= limit {
            return self.write(line.as_bytes());
        }
        log::warn!(
            "{}: recording stopped at {limit} bytes; the session goes on",
            self.shown
        );
        let marker = format!("// recording stopped: {limit} bytes reached\n");
        match self.write(marker.as_bytes()) {
            State::Writing => State::Full,
            failed => failed,
        }
    }

    /// Ends the file with `'EOF'];` and flushes it; whether it is whole.
    fn finish(&mut self, state: State) -> bool {
        if state == State::Failed || self.write(b"'EOF'];\n") == State::Failed {
            return false;
        }
        match self.file.flush() {
            Ok(()) => true,
            Err(e) => {
                log::warn!("{}: recording incomplete: {e}", self.shown);
                self.metrics.recording_failed();
                false
            }
        }
    }

    /// Writes `bytes`; `Failed` (logged, counted) once writing failed.
    fn write(&mut self, bytes: &[u8]) -> State {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.hash.update(bytes);
                self.size += bytes.len() as u64;
                State::Writing
            }
            Err(e) => {
                log::warn!(
                    "{}: recording stopped: {e}; the session goes on",
                    self.shown
                );
                self.metrics.recording_failed();
                State::Failed
            }
        }
    }
}

/// `'{MS{DATA',` (to the client) or `'}MS}DATA',` (from it).
fn format_line(chunk: &Chunk) -> String {
    let mark = match chunk.dir {
        Direction::ToClient => '{',
        Direction::FromClient => '}',
    };
    format!("'{mark}{}{mark}{}',\n", chunk.ms, escape(&chunk.data))
}

/// Python's `data.decode('latin1').encode('unicode_escape')` with `'` escaped.
pub(super) fn escape(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(data.len());
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}
