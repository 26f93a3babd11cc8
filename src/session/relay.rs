//! The pump between one WebSocket client and its TCP target.
//!
//! Phase one relays both ways until either side ends. Phase two closes the
//! other side the way that side expects: what is already in flight is
//! delivered first, then the close frame or TCP FIN follows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::{interval_at, timeout, Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::record::{traffic, Direction, Recorder};
use super::target::{TargetReader, TargetStream, TargetWriter};
use super::Mode;
use crate::defaults::{CLOSE_TIMEOUT, TARGET_WRITE_BATCH};
use crate::shutdown::Shutdown;

type Sink<S> = SplitSink<WebSocketStream<S>, Message>;
type Stream<S> = SplitStream<WebSocketStream<S>>;

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

    fn symbol(&self, symbol: &str) {
        if self.traffic {
            traffic(symbol);
        }
    }
}

/// Why phase one stopped.
#[derive(Debug)]
enum End {
    /// The client sent a close frame; its code is echoed back.
    ClientClose(Option<CloseFrame>),
    /// The client's connection ended without a close frame, or failed.
    ClientGone(String),
    /// The client broke the protocol; we answer with this code.
    ClientFault(CloseCode, &'static str),
    /// The target sent FIN: the client gets 1000 "Target closed".
    TargetClosed,
    /// Reading from or writing to the target failed.
    TargetError(std::io::Error),
    /// No frame from the client for a whole heartbeat interval, or it stopped reading.
    HeartbeatTimeout,
    /// The server is stopping: the client gets 1001.
    Shutdown,
}

/// Relays until both sides are closed and reports what happened.
pub async fn run<S>(
    ws: WebSocketStream<S>,
    target: TargetStream,
    mode: Mode,
    heartbeat: Option<Duration>,
    shutdown: &mut Shutdown,
    observe: &Observer,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (sink, stream) = ws.split();
    let (tr, tw) = target.into_split();
    // Cleared at each heartbeat tick, set by every frame from the client.
    let alive = AtomicBool::new(true);
    let mut up = Up {
        stream,
        tw,
        batch: BytesMut::new(),
        mode,
        alive: &alive,
        count: 0,
        observe,
    };
    let mut down = Down {
        sink,
        tr,
        mode,
        alive: &alive,
        count: 0,
        observe,
    };
    let end = tokio::select! {
        end = up.relay() => end,
        end = down.relay(heartbeat, shutdown) => end,
    };
    log::debug!("relay phase one ended: {end:?}");
    close(end, up, down).await
}

/// Phase two: closes the other side the way it expects and says how the
/// session ended.
async fn close<S>(end: End, mut up: Up<'_, S>, mut down: Down<'_, S>) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (code, reason) = match end {
        End::ClientClose(frame) => {
            // tungstenite queued the echo of the client's close frame; flush it.
            let _ = timeout(CLOSE_TIMEOUT, down.sink.close()).await;
            match frame {
                Some(f) => (u16::from(f.code), f.reason.to_string()),
                None => (1005, "client closed".into()),
            }
        }
        End::ClientGone(why) => (1006, why),
        End::HeartbeatTimeout => (1006, "client stopped answering heartbeat pings".into()),
        End::ClientFault(code, why) => {
            down.send_close(code, why).await;
            if let Ok(mut ws) = down.sink.reunite(up.stream) {
                linger(ws.get_mut()).await;
            }
            (code.into(), why.into())
        }
        End::TargetError(e) => {
            down.send_close(CloseCode::Error, "Target connection error")
                .await;
            (1011, format!("target connection error: {e}"))
        }
        End::TargetClosed | End::Shutdown => {
            let (code, why) = match end {
                End::Shutdown => (CloseCode::Away, "Server shutting down"),
                _ => (CloseCode::Normal, "Target closed"),
            };
            down.send_close(code, why).await;
            // The client may still send until it answers our close frame:
            // deliver that too, as a TCP half-close would.
            if let Ok(End::TargetError(e)) = timeout(CLOSE_TIMEOUT, up.relay()).await {
                log::debug!("target failed while the client was closing: {e}");
            }
            (code.into(), why.into())
        }
    };
    let _ = up.tw.shutdown().await;
    Outcome {
        to_target: up.count,
        to_client: down.count,
        code,
        reason,
    }
}

/// Reads and discards what a faulty client is still sending, so that closing
/// does not reset the connection before it has read our close frame.
async fn linger<S>(io: &mut S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = timeout(CLOSE_TIMEOUT, async {
        let _ = io.shutdown().await;
        let mut buf = [0u8; 8192];
        while let Ok(1..) = io.read(&mut buf).await {}
    })
    .await;
}

/// The client-to-target direction.
struct Up<'a, S> {
    stream: Stream<S>,
    tw: TargetWriter,
    /// Client payload not yet written; kept here, not in the future, so that
    /// `relay` can be dropped and started again without losing bytes.
    batch: BytesMut,
    mode: Mode,
    alive: &'a AtomicBool,
    /// Payload bytes written to the target.
    count: u64,
    observe: &'a Observer,
}

impl<S> Up<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Client frames to target bytes. Messages that have already arrived are
    /// gathered into one write, so many small messages cost one syscall.
    async fn relay(&mut self) -> End {
        loop {
            let item = if self.batch.is_empty() {
                self.stream.next().await
            } else if let Some(item) = self.stream.next().now_or_never() {
                item
            } else {
                if let Err(e) = self.write_batch().await {
                    return End::TargetError(e);
                }
                continue;
            };
            self.alive.store(true, Ordering::Relaxed);
            let end = match item {
                Some(Ok(Message::Binary(data))) => {
                    self.observe.chunk(Direction::FromClient, "}", &data);
                    self.batch.extend_from_slice(&data);
                    None
                }
                Some(Ok(Message::Text(text))) if self.mode == Mode::Base64 => {
                    match BASE64.decode(text.as_str().trim()) {
                        Ok(data) => {
                            self.observe.chunk(Direction::FromClient, "}", &data);
                            self.batch.extend_from_slice(&data);
                            None
                        }
                        Err(_) => Some(End::ClientFault(CloseCode::Invalid, "Invalid base64 data")),
                    }
                }
                Some(Ok(Message::Text(_))) => Some(End::ClientFault(
                    CloseCode::Unsupported,
                    "Unsupported: Text frames are not supported",
                )),
                Some(Ok(Message::Close(frame))) => Some(End::ClientClose(frame)),
                Some(Ok(_)) => None, // ping (answered by tungstenite), pong
                Some(Err(e)) => Some(client_error(e)),
                None => Some(End::ClientGone("connection closed".into())),
            };
            if let Some(end) = end {
                return match self.write_batch().await {
                    Ok(()) => end,
                    Err(e) => End::TargetError(e),
                };
            }
            if self.batch.len() >= TARGET_WRITE_BATCH {
                if let Err(e) = self.write_batch().await {
                    return End::TargetError(e);
                }
            }
        }
    }

    /// Writes the whole batch, then releases its memory so idle sessions hold none.
    async fn write_batch(&mut self) -> std::io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let len = self.batch.len() as u64;
        // write_all_buf consumes what it wrote, so a cancelled write loses nothing.
        self.tw.write_all_buf(&mut self.batch).await?;
        self.observe.symbol(">");
        self.count += len;
        self.batch = BytesMut::new();
        Ok(())
    }
}

fn client_error(e: WsError) -> End {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            End::ClientFault(CloseCode::Size, "Message too big")
        }
        WsError::Utf8(_) => End::ClientFault(CloseCode::Invalid, "Invalid UTF-8"),
        WsError::Protocol(p) => {
            log::debug!("client protocol error: {p}");
            End::ClientFault(CloseCode::Protocol, "Protocol error")
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            End::ClientGone("connection closed".into())
        }
        other => End::ClientGone(other.to_string()),
    }
}

/// The target-to-client direction, which also owns the heartbeat.
struct Down<'a, S> {
    sink: Sink<S>,
    tr: TargetReader,
    mode: Mode,
    alive: &'a AtomicBool,
    /// Payload bytes read from the target and sent to the client.
    count: u64,
    observe: &'a Observer,
}

impl<S> Down<'_, S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Target bytes to client frames, plus heartbeat pings and the shutdown signal.
    async fn relay(&mut self, heartbeat: Option<Duration>, shutdown: &mut Shutdown) -> End {
        let mut ticker = heartbeat.map(|period| {
            let mut i = interval_at(Instant::now() + period, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        // A client that stops reading for this long is as dead as one that stops answering.
        let send_limit = heartbeat.map_or(Duration::MAX, |p| p.saturating_mul(2));
        loop {
            let buf = tokio::select! {
                read = self.tr.read() => match read {
                    Ok(buf) if buf.is_empty() => return End::TargetClosed,
                    Ok(buf) => buf,
                    Err(e) => return End::TargetError(e),
                },
                () = tick(&mut ticker) => {
                    if !self.alive.swap(false, Ordering::Relaxed) {
                        return End::HeartbeatTimeout;
                    }
                    if let Err(end) = self.send(Message::Ping(Bytes::new()), send_limit).await {
                        return end;
                    }
                    continue;
                }
                () = shutdown.requested() => return End::Shutdown,
            };
            let len = buf.len() as u64;
            self.observe.chunk(Direction::ToClient, "{", &buf);
            let message = match self.mode {
                Mode::Binary => Message::Binary(buf.freeze()),
                Mode::Base64 => Message::Text(BASE64.encode(&buf).into()),
            };
            if let Err(end) = self.send(message, send_limit).await {
                return end;
            }
            self.observe.symbol("<");
            self.count += len;
        }
    }

    /// Sends one message; a client that takes longer than `limit` to take it
    /// has stopped reading and is treated as gone.
    async fn send(&mut self, message: Message, limit: Duration) -> Result<(), End> {
        match timeout(limit, self.sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::ClientGone(e.to_string())),
            Err(_) => Err(End::HeartbeatTimeout),
        }
    }

    /// Sends a close frame, bounded in time; failures mean the client is gone anyway.
    async fn send_close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = timeout(CLOSE_TIMEOUT, self.sink.send(Message::Close(Some(frame)))).await;
    }
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
