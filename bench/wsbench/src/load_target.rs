//! The target side of the realistic load row ([`crate::load`]): a session
//! shaped like a VNC server's. It sends bursts of 64–256 KiB (a framebuffer
//! update) every 50–200 ms, sizes and intervals drawn from the session's
//! seed, and echoes each small input event the client sends at once, ahead
//! of any burst bytes it has not started writing yet, as a VNC server
//! answers input while updates stream.
//!
//! The proxy re-frames the target's byte stream as it likes, so the target
//! frames its own output in records the client can find again: one byte of
//! kind (`B` burst, `E` echo), a little-endian u32 length, the body. A burst
//! goes out as records of at most [`CHUNK`] bytes, so an echo waits for at
//! most one chunk of the target's own making; what delay remains is the
//! proxy's and the sockets' queueing, which is what the row measures. A new
//! burst is not started before the last one is written: a proxy that falls
//! behind gets fewer updates (as a VNC client asks for the next one only
//! after the last), and the target's queue stays bounded.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Record kinds and the header length (kind + u32 length).
pub const REC_BURST: u8 = b'B';
pub const REC_ECHO: u8 = b'E';
pub const REC_HEAD: usize = 5;
/// An input event: u64 send time (ns since the client's start) and u16
/// sequence number, the size of a VNC pointer or key event.
pub const EVENT_LEN: usize = 10;
/// Largest burst record.
const CHUNK: usize = 16 * 1024;
/// Burst sizes and intervals, as the issue sets them.
const BURST_BYTES: (u64, u64) = (64 * 1024, 256 * 1024);
const BURST_MS: (u64, u64) = (50, 200);
/// Bytes per second one session offers when the proxy keeps up: mean burst
/// ÷ mean interval (about 1.31 MB/s).
pub fn offered_bytes_per_sec() -> f64 {
    let burst = (BURST_BYTES.0 + BURST_BYTES.1) as f64 / 2.0;
    let interval = (BURST_MS.0 + BURST_MS.1) as f64 / 2.0 / 1e3;
    burst / interval
}

/// Most input bytes buffered while waiting for a whole event.
const MAX_IN: usize = 64 * 1024;

/// The record being written: header, body (an echo's bytes, or `len` bytes
/// of the shared burst data) and how much of it is out.
struct Pending {
    head: [u8; REC_HEAD],
    echo: Option<[u8; EVENT_LEN]>,
    len: usize,
    off: usize,
}

impl Pending {
    fn new(kind: u8, echo: Option<[u8; EVENT_LEN]>, len: usize) -> Self {
        let mut head = [kind, 0, 0, 0, 0];
        head[1..].copy_from_slice(&(len as u32).to_le_bytes());
        Pending {
            head,
            echo,
            len,
            off: 0,
        }
    }

    /// What is left to write, as two slices.
    fn slices<'a>(&'a self, data: &'a [u8]) -> [IoSlice<'a>; 2] {
        let body: &[u8] = match &self.echo {
            Some(e) => e,
            None => &data[..self.len],
        };
        let h = self.off.min(REC_HEAD);
        let b = self.off.saturating_sub(REC_HEAD);
        [IoSlice::new(&self.head[h..]), IoSlice::new(&body[b..])]
    }

    fn done(&self) -> bool {
        self.off >= REC_HEAD + self.len
    }
}

/// Stands in for "no record" in the write branch, which is disabled then.
const NOTHING: Pending = Pending {
    head: [0; REC_HEAD],
    echo: None,
    len: 0,
    off: 0,
};

/// One `writev` of what is left of `p`.
async fn write_some(
    wr: &mut tokio::net::tcp::WriteHalf<'_>,
    p: &Pending,
    data: &[u8],
) -> std::io::Result<usize> {
    let n = wr.write_vectored(&p.slices(data)).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(n)
}

/// Per-session state: input not yet a whole event, echoes to send, burst
/// bytes not yet queued, the next burst's time and the random stream.
struct Shape {
    input: Vec<u8>,
    echoes: VecDeque<[u8; EVENT_LEN]>,
    burst_left: usize,
    next_burst: Instant,
    rng: u64,
}

impl Shape {
    fn rand(&mut self, (lo, hi): (u64, u64)) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        lo + self.rng % (hi - lo + 1)
    }

    /// Take whole events from `input` into the echo queue.
    fn take_events(&mut self) {
        let whole = self.input.len() / EVENT_LEN * EVENT_LEN;
        for ev in self.input[..whole].chunks_exact(EVENT_LEN) {
            let mut e = [0u8; EVENT_LEN];
            e.copy_from_slice(ev);
            self.echoes.push_back(e);
        }
        self.input.drain(..whole);
    }

    /// The next record to write: echoes first, then the burst.
    fn next_record(&mut self) -> Option<Pending> {
        if let Some(e) = self.echoes.pop_front() {
            return Some(Pending::new(REC_ECHO, Some(e), EVENT_LEN));
        }
        if self.burst_left == 0 {
            return None;
        }
        let n = self.burst_left.min(CHUNK);
        self.burst_left -= n;
        Some(Pending::new(REC_BURST, None, n))
    }

    /// Start a burst; the next one is due an interval after this one was,
    /// or after now if this one was late (no catching up).
    fn start_burst(&mut self) {
        self.burst_left = self.rand(BURST_BYTES) as usize;
        let from = self.next_burst.max(Instant::now());
        self.next_burst = from + Duration::from_millis(self.rand(BURST_MS));
    }
}

/// Serve one load session until the client leaves. `seed` 0: no bursts (the
/// idle baseline); `first`: input that came with the header; `data`: the
/// shared burst bytes (at least [`CHUNK`] long).
pub async fn serve_load(
    mut sock: TcpStream,
    first: &[u8],
    seed: u64,
    data: &[u8],
) -> std::io::Result<()> {
    let bursts = seed != 0;
    let mut s = Shape {
        input: first.to_vec(),
        echoes: VecDeque::new(),
        burst_left: 0,
        next_burst: Instant::now(),
        rng: seed | 1,
    };
    s.take_events();
    let (mut rd, mut wr) = sock.split();
    let mut buf = vec![0u8; 4096];
    let mut cur: Option<Pending> = None;
    loop {
        if cur.is_none() {
            cur = s.next_record();
        }
        let arm = bursts && s.burst_left == 0;
        tokio::select! {
            n = rd.read(&mut buf) => {
                let n = n?;
                if n == 0 || s.input.len() + n > MAX_IN {
                    return Ok(());
                }
                s.input.extend_from_slice(&buf[..n]);
                s.take_events();
            }
            w = write_some(&mut wr, cur.as_ref().unwrap_or(&NOTHING), data), if cur.is_some() => {
                let n = w?;
                if let Some(p) = cur.as_mut() {
                    p.off += n;
                    if p.done() {
                        cur = None;
                    }
                }
            }
            () = tokio::time::sleep_until(s.next_burst), if arm => s.start_burst(),
        }
    }
}
