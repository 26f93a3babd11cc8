//! `--record FILE`: each session's traffic to `FILE.N` in the format noVNC's
//! playback harness reads (`var VNC_frame_data = ['{ms{data', ...,'EOF'];`),
//! as Python websockify writes it; and `--traffic`'s frame symbols.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A recording stops growing here (per session file), with a log line:
/// an all-day session must not fill the disk.
pub const RECORD_LIMIT: u64 = 256 * 1024 * 1024;

/// Numbers the session files, as Python's handler id does.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One session's recording.
pub struct Recorder {
    out: Option<BufWriter<File>>,
    path: PathBuf,
    start: Instant,
    written: u64,
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
    /// Opens `BASE.N` for the next session.
    pub fn open(base: &Path) -> std::io::Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{n}"));
        let path = PathBuf::from(name);
        let mut out = BufWriter::new(File::create(&path)?);
        out.write_all(b"var VNC_frame_data = [\n")?;
        Ok(Self {
            out: Some(out),
            path,
            start: Instant::now(),
            written: 0,
        })
    }

    /// Appends one chunk. Recording is best effort: an error or the size
    /// limit ends the file, never the session.
    pub fn record(&mut self, dir: Direction, data: &[u8]) {
        let Some(out) = &mut self.out else { return };
        let ms = self.start.elapsed().as_millis();
        let mark = match dir {
            Direction::ToClient => '{',
            Direction::FromClient => '}',
        };
        let line = format!("'{mark}{ms}{mark}{}',\n", escape(data));
        self.written += line.len() as u64;
        if self.written > RECORD_LIMIT {
            log::warn!(
                "{}: recording stopped at {RECORD_LIMIT} bytes",
                self.path.display()
            );
            self.finish();
            return;
        }
        if let Err(e) = out.write_all(line.as_bytes()) {
            log::warn!("{}: recording stopped: {e}", self.path.display());
            self.out = None;
        }
    }

    /// Writes the closing `'EOF'];` (also done on drop).
    pub fn finish(&mut self) {
        if let Some(mut out) = self.out.take() {
            let _ = out.write_all(b"'EOF'];\n").and_then(|()| out.flush());
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Python's `data.decode('latin1').encode('unicode_escape')` with `'` escaped.
fn escape(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len());
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// `--traffic`: one symbol per frame on standard output, as Python prints them.
pub fn traffic(symbol: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(symbol.as_bytes()).and_then(|()| out.flush());
}

/// Python's legend, printed once at start with `--traffic`.
pub const TRAFFIC_LEGEND: &str = "Traffic Legend:\n    }  - Client receive\n    }. - Client receive partial\n    {  - Target receive\n\n    >  - Target send\n    >. - Target send partial\n    <  - Client send\n    <. - Client send partial\n";

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_like_python_unicode_escape() {
        assert_eq!(escape(b"RFB 003.008\n"), "RFB 003.008\\n");
        assert_eq!(
            escape(&[0, 0x7f, 0xff, b'\'', b'\\']),
            "\\x00\\x7f\\xff\\'\\\\"
        );
    }
}
