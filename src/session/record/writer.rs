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

use tokio::sync::oneshot;

use super::{Direction, RECORD_LIMIT};

/// One recorded chunk: its direction, milliseconds since the session
/// started, and the bytes.
pub(super) struct Chunk {
    pub dir: Direction,
    pub ms: u128,
    pub data: Vec<u8>,
}

/// What the writer needs besides its channel.
pub(super) struct Writer {
    pub path: PathBuf,
    pub out: BufWriter<File>,
    /// Bytes queued in the channel, shared with the sender's budget.
    pub queued: Arc<AtomicUsize>,
    /// Told once the file is complete and closed.
    pub done: oneshot::Sender<()>,
}

/// What a queued chunk counts against the budget: its bytes and the
/// bookkeeping around them.
pub(super) fn cost(data: &[u8]) -> usize {
    data.len() + 64
}

impl Writer {
    /// Writes chunks until the channel closes, then finishes the file.
    pub(super) fn run(mut self, chunks: Receiver<Chunk>) {
        let mut written = 0u64;
        let mut open = self.line(b"var VNC_frame_data = [\n");
        for chunk in chunks {
            self.queued.fetch_sub(cost(&chunk.data), Ordering::Relaxed);
            if !open {
                continue; // drain, so the sender's budget stays true
            }
            let line = format_line(&chunk);
            written += line.len() as u64;
            if written > RECORD_LIMIT {
                log::warn!(
                    "{}: recording stopped at {RECORD_LIMIT} bytes",
                    self.path.display()
                );
                break;
            }
            open = self.line(line.as_bytes());
        }
        if open {
            let _ = self.line(b"'EOF'];\n") && self.flush();
        }
        drop(self.out);
        let _ = self.done.send(());
    }

    /// Writes `bytes`; false (with a log line) once writing failed.
    fn line(&mut self, bytes: &[u8]) -> bool {
        match self.out.write_all(bytes) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("{}: recording stopped: {e}", self.path.display());
                false
            }
        }
    }

    fn flush(&mut self) -> bool {
        match self.out.flush() {
            Ok(()) => true,
            Err(e) => {
                log::warn!("{}: recording incomplete: {e}", self.path.display());
                false
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
