//! The thread that writes one session's recording, so that the relay never
//! waits for the disk: chunks arrive over a channel, are escaped and written
//! here, and when the channel closes the file gets its `'EOF'];` and is
//! flushed and closed before the session is told it is done.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::SystemTime;

use ring::digest::{Context, SHA256};
use tokio::sync::oneshot;

use super::index::{self, End, Written};
use super::Direction;
use crate::metrics;

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
    /// The file ends (with a marker) past this many bytes.
    pub limit: u64,
    /// The index to append to, for `record-sessions`.
    pub index: Option<Indexed>,
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
            limit,
            index,
        } = self;
        let mut out = Out {
            file: out,
            hash: Context::new(&SHA256),
            size: 0,
        };
        let shown = path.display().to_string();
        let mut state = out.write(&shown, b"var VNC_frame_data = [\n");
        for chunk in chunks {
            queued.fetch_sub(cost(&chunk.data), Ordering::Relaxed);
            if state != State::Writing {
                continue; // drain, so the sender's budget stays true
            }
            let line = format_line(&chunk);
            if out.size + line.len() as u64 > limit {
                log::warn!("{shown}: recording stopped at {limit} bytes; the session goes on");
                let marker = format!("// recording stopped: {limit} bytes reached\n");
                state = match out.write(&shown, marker.as_bytes()) {
                    State::Writing => State::Full,
                    failed => failed,
                };
                continue;
            }
            state = out.write(&shown, line.as_bytes());
        }
        if state != State::Failed {
            state = out.write(&shown, b"'EOF'];\n");
        }
        if state != State::Failed {
            if let Err(e) = out.file.flush() {
                log::warn!("{shown}: recording incomplete: {e}");
                metrics::global().recording_failed();
                state = State::Failed;
            }
        }
        let Out { file, hash, size } = out;
        drop(file);
        if let Some(mut indexed) = index {
            super::prune::finished(&path);
            if let Ok(end) = indexed.end.try_recv() {
                let written = Written {
                    path,
                    start: indexed.start,
                    size,
                    sha256: index::hex(hash.finish().as_ref()),
                    complete: state != State::Failed,
                };
                if let Err(e) = index::append(&indexed.dir, &end, &written) {
                    log::warn!("{shown}: cannot add it to {}: {e}", index::INDEX);
                    metrics::global().recording_failed();
                }
            }
        }
        let _ = done.send(());
    }
}

impl Out {
    /// Writes `bytes`; `Failed` (logged, counted) once writing failed.
    fn write(&mut self, shown: &str, bytes: &[u8]) -> State {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.hash.update(bytes);
                self.size += bytes.len() as u64;
                State::Writing
            }
            Err(e) => {
                log::warn!("{shown}: recording stopped: {e}; the session goes on");
                metrics::global().recording_failed();
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
