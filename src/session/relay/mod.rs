//! The pump between one WebSocket client and its TCP target, streaming: a
//! fixed memory budget per session whatever the client sends.
//!
//! Phase one relays both ways (`up`: client to target, `down`: target to
//! client and the heartbeat) until either side ends. Phase two closes the
//! other side the way that side expects: what is already in flight is
//! delivered first, then the close frame or TCP FIN follows. Both directions
//! write client frames through one `writer`.

mod down;
mod paused;
mod pongs;
mod splice;
mod up;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Mutex;
use tokio::time::timeout;

use super::codec::Mode;
use super::record::{traffic, Direction, Recorder};
use super::table::Registration;
use super::target::TargetStream;
use crate::defaults::{CLOSE_TIMEOUT, PAUSE_TIMEOUT};
use crate::shutdown::Shutdown;
use down::Down;
pub use paused::{Kept, Paused};
pub use splice::{ClientSocket, Pipes};
use up::Up;
pub(crate) use writer::ClientWriter;

/// How a session ended, for its closing log line.
#[derive(Debug)]
pub struct Outcome {
    /// Payload bytes written to the target.
    pub to_target: u64,
    /// Payload bytes read from the target and sent to the client.
    pub to_client: u64,
    /// Close code sent or received (1006 when the connection just dropped).
    pub code: u16,
    /// Close reason or what went wrong.
    pub reason: String,
    /// Set when the session paused for a hand-over instead of closing: its
    /// sockets, kept open, and where its client was; nothing was sent to
    /// either side.
    pub paused: Option<Kept>,
}

/// What a session runs with beyond its two connections.
#[derive(Clone)]
pub struct RelayParams {
    /// Payload encoding.
    pub mode: Mode,
    /// Ping interval; `None` when heartbeats are off.
    pub heartbeat: Option<Duration>,
    /// Largest message in payload bytes (after base64 decoding).
    pub max_message: Option<u64>,
    /// The `[client, target]` sockets that move to a new process at a
    /// hand-over, or why the session cannot move (a TLS client, a TLS
    /// target, recording or `--traffic` on).
    pub movable: Result<[std::os::fd::RawFd; 2], &'static str>,
    /// Target to client may go by splice (`splice`), with pipes from this
    /// pool: nothing needs the bytes, and both sockets are plain; the
    /// caller decides.
    pub splice: Option<std::sync::Arc<Pipes>>,
}

/// `--traffic` and `--record`: what a session shows of its frames.
#[derive(Default)]
pub struct Observer {
    /// Print a symbol per frame.
    pub traffic: bool,
    /// Record the session.
    pub recorder: Option<std::sync::Mutex<Recorder>>,
}

impl Observer {
    fn chunk(&self, dir: Direction, symbol: &str, data: &[u8]) {
        if self.traffic {
            traffic(symbol);
        }
        if let Some(r) = &self.recorder {
            if let Ok(mut r) = r.lock() {
                r.record(dir, data);
            }
        }
    }

    /// Records what the proxy itself sent the client before the relay
    /// started (`rfb::prepare`), so that a recording replays from the start.
    pub fn shown(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(r) = &self.recorder {
            if let Ok(mut r) = r.lock() {
                r.record(Direction::ToClient, data);
            }
        }
    }

    fn symbol(&self, symbol: &str) {
        if self.traffic {
            traffic(symbol);
        }
    }
}

/// What the two directions tell each other about the client: whether it
/// was heard since the last heartbeat tick, and whether the relay is not
/// reading it because the target is not taking what it sent (then a silent
/// client is the target's fault, not the client's).
#[derive(Default)]
struct Liveness {
    heard: AtomicBool,
    waiting_on_target: AtomicBool,
}

impl Liveness {
    fn heard(&self) {
        self.heard.store(true, Ordering::Relaxed);
    }

    fn waiting_on_target(&self, waiting: bool) {
        self.waiting_on_target.store(waiting, Ordering::Relaxed);
    }

    /// At a heartbeat tick: true when the client was silent for a whole
    /// interval while the relay was free to read it.
    fn silent(&self) -> bool {
        !self.heard.swap(false, Ordering::Relaxed)
            && !self.waiting_on_target.load(Ordering::Relaxed)
    }
}

/// Why phase one stopped.
#[derive(Debug)]
enum End {
    /// The client sent a close frame (code, reason); its code is echoed back.
    ClientClose(Option<u16>, String),
    /// The client's connection ended without a close frame, or failed.
    ClientGone(String),
    /// The client broke the protocol; we answer with this code.
    ClientFault(u16, &'static str),
    /// The target sent FIN: the client gets 1000 "Target closed".
    TargetClosed,
    /// Reading from or writing to the target failed.
    TargetError(std::io::Error),
    /// No frame from the client for a whole heartbeat interval, or it stopped reading.
    HeartbeatTimeout,
    /// The server is stopping: the client gets 1001.
    Shutdown,
    /// An administrator closed the session (control socket), or a reload
    /// revoked its user's access: 1008, with this reason.
    Killed(&'static str),
    /// A hand-over asked the session to pause, and it is at a clean point.
    HandOver,
    /// A hand-over, but the session cannot move, for this reason: 1012.
    Restart(&'static str),
}

impl End {
    /// The client's connection failed with `e`, in plain words. A browser
    /// closing a wss:// tab drops TCP without TLS's close_notify, which
    /// rustls reports as UnexpectedEof with a documentation URL: an
    /// ordinary end, said as one.
    fn client_gone(e: &std::io::Error) -> End {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return End::ClientGone("connection closed without a TLS goodbye".into());
        }
        End::ClientGone(e.to_string())
    }
}

/// Relays until both sides are closed and reports what happened, or until
/// a hand-over pauses it (`Outcome::paused`; the sockets are left open).
/// `cr` and `cw` are the client connection's read and write halves;
/// `resumed` is the state of a session another process handed over.
pub async fn run<R, W>(
    (cr, cw): (R, W),
    target: TargetStream,
    settings: RelayParams,
    shutdown: &mut Shutdown,
    (observe, live): (&Observer, &Registration),
    resumed: Option<Paused>,
) -> Outcome
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + ClientSocket,
{
    let writer = Mutex::new(ClientWriter::with_pipes(cw, settings.splice.clone()));
    let (tr, tw) = target.into_split();
    let alive = Liveness::default();
    alive.heard();
    // A target that takes nothing for this long has stalled, as a client
    // that reads nothing for two heartbeats has.
    let stall = settings
        .heartbeat
        .map_or(Duration::MAX, |p| p.saturating_mul(2));
    let limits = (settings.mode, settings.max_message, stall);
    let mut up = Up::new(cr, &writer, tw, limits, &alive, observe, &live.counts)
        .resumed(live.pause.clone(), resumed);
    let mut down = Down {
        writer: &writer,
        tr,
        mode: settings.mode,
        alive: &alive,
        counts: &live.counts,
        observe,
        splice: settings.splice.is_some().then_some(false),
    };
    let end = phase_one(&mut up, &mut down, settings.heartbeat, shutdown, live).await;
    log::debug!("relay phase one ended: {end:?}");
    let end = match end {
        End::HandOver => match kept(settings.movable, &up) {
            Ok(kept) => return outcome(live, 0, String::new(), Some(kept)),
            Err(why) => End::Restart(why),
        },
        end => end,
    };
    let target_failed = matches!(end, End::TargetError(_));
    let (code, reason) = close(end, &mut up).await;
    // What was read from the client goes to the target (unless it failed),
    // then FIN: both bounded, so a stalled target cannot hold the session.
    if !target_failed {
        let _ = timeout(CLOSE_TIMEOUT, up.write_pending()).await;
    }
    let _ = timeout(CLOSE_TIMEOUT, up.tw.shutdown()).await;
    let _ = timeout(CLOSE_TIMEOUT, async {
        writer.lock().await.shutdown().await
    })
    .await;
    outcome(live, code, reason, None)
}

/// A session paused at a clean point: its sockets kept and its state, or
/// why it cannot move.
fn kept<R, W>(
    movable: Result<[std::os::fd::RawFd; 2], &'static str>,
    up: &Up<'_, R, W>,
) -> Result<Kept, &'static str>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let fds = paused::keep(movable?).map_err(|_| "its sockets could not be kept")?;
    Ok(Kept {
        paused: up.paused(),
        fds,
    })
}

fn outcome(live: &Registration, code: u16, reason: String, paused: Option<Kept>) -> Outcome {
    Outcome {
        to_target: live.counts.to_target.load(Ordering::Relaxed),
        to_client: live.counts.to_client.load(Ordering::Relaxed),
        code,
        reason,
        paused,
    }
}

/// Phase one: both directions until one ends. At a hand-over the one that
/// paused first waits (bounded) for the other to reach its clean point too,
/// so neither is cut in the middle of a frame or a write.
async fn phase_one<R, W>(
    up: &mut Up<'_, R, W>,
    down: &mut Down<'_, W>,
    heartbeat: Option<Duration>,
    shutdown: &mut Shutdown,
    live: &Registration,
) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + ClientSocket,
{
    let mut pause = live.pause.clone();
    let (upf, downf) = (up.relay(), down.relay(heartbeat, shutdown, &mut pause));
    tokio::pin!(upf, downf);
    let (first, up_first) = tokio::select! {
        end = &mut upf => (end, true),
        end = &mut downf => (end, false),
        why = live.kill.requested() => return End::Killed(why),
    };
    if !matches!(first, End::HandOver) {
        return first;
    }
    let other = match up_first {
        true => timeout(PAUSE_TIMEOUT, &mut downf).await,
        false => timeout(PAUSE_TIMEOUT, &mut upf).await,
    };
    other.unwrap_or(End::Restart(
        "it did not reach a clean point (a whole frame) in time",
    ))
}

/// Phase two: closes the other side the way it expects and says how the
/// session ended (close code and reason).
async fn close<R, W>(end: End, up: &mut Up<'_, R, W>) -> (u16, String)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + ClientSocket,
{
    match end {
        End::ClientClose(code, reason) => {
            send_close(up.writer, code, &reason).await;
            match code {
                Some(code) => (code, reason),
                None => (1005, "client closed".into()),
            }
        }
        End::ClientGone(why) => (1006, why),
        End::HeartbeatTimeout => (1006, "client stopped answering heartbeat pings".into()),
        End::ClientFault(code, why) => {
            send_close(up.writer, Some(code), why).await;
            // Our FIN tells the client its close reply is not awaited.
            let _ = timeout(CLOSE_TIMEOUT, async {
                up.writer.lock().await.shutdown().await
            })
            .await;
            linger(&mut up.reader).await;
            (code, why.into())
        }
        End::TargetError(e) => {
            send_close(up.writer, Some(1011), "Target connection error").await;
            (1011, format!("target connection error: {e}"))
        }
        End::Killed(why) => {
            send_close(up.writer, Some(1008), why).await;
            if let Ok(End::TargetError(e)) = timeout(CLOSE_TIMEOUT, up.relay()).await {
                log::debug!("target failed while the client was closing: {e}");
            }
            (1008, why.into())
        }
        End::HandOver => (1012, "hand-over".into()), // taken before phase two
        End::TargetClosed | End::Shutdown | End::Restart(_) => {
            let (code, why) = match end {
                End::Shutdown => (1001, "Server shutting down".into()),
                End::Restart(why) => (1012, format!("service restart: {why}")),
                _ => (1000, "Target closed".into()),
            };
            let sent = if code == 1012 {
                "Service restart"
            } else {
                &why
            };
            send_close(up.writer, Some(code), sent).await;
            up.unpause();
            // The client may still send until it answers our close frame:
            // deliver that too, as a TCP half-close would. Closing a socket
            // with unread bytes would reset it, and a reset can drop the
            // close frame before the client reads it (seen with wss:// at a
            // hand-over, when the process then execs).
            if let Ok(End::TargetError(e)) = timeout(CLOSE_TIMEOUT, up.relay()).await {
                log::debug!("target failed while the client was closing: {e}");
            }
            (code, why)
        }
    }
}

/// Sends a close frame, bounded in time; failures mean the client is gone
/// anyway. A spliced frame cut short when phase one ended is finished first.
async fn send_close<W: AsyncWrite + Unpin + ClientSocket>(
    writer: &Mutex<ClientWriter<W>>,
    code: Option<u16>,
    reason: &str,
) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        let mut w = writer.lock().await;
        w.settle().await?;
        w.close(code, reason).await
    })
    .await;
}

/// Reads and discards what a faulty client is still sending, so that closing
/// does not reset the connection before it has read our close frame.
async fn linger<R: AsyncRead + Unpin>(reader: &mut R) {
    let _ = timeout(CLOSE_TIMEOUT, async {
        // On the heap: a buffer in this future would enlarge every session's task.
        let mut buf = vec![0u8; 8192];
        while let Ok(1..) = reader.read(&mut buf).await {}
    })
    .await;
}
