//! Target to client: each target read becomes one frame, read straight into
//! a buffer with room for the frame header in front, so the payload is never
//! copied (base64 mode encodes it once). This direction also owns the
//! heartbeat and the shutdown signal.

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::BytesMut;
use tokio::io::AsyncWrite;
use tokio::sync::{watch, Mutex};
use tokio::time::{interval_at, timeout, Instant, Interval, MissedTickBehavior};

use super::splice::{target_readable, ClientSocket, SPLICE_THRESHOLD};
use super::writer::{ClientWriter, Spliced, HEADER_ROOM};
use super::{End, Liveness, Observer};
use crate::session::codec::Mode;
use crate::session::codec::{base64_encoded_len, Opcode};
use crate::session::record::Direction;
use crate::session::table::Counts;
use crate::session::target::TargetReader;
use crate::shutdown::Shutdown;

/// The target-to-client direction.
pub(super) struct Down<'a, W> {
    pub(super) writer: &'a Mutex<ClientWriter<W>>,
    pub(super) tr: TargetReader,
    pub(super) mode: Mode,
    pub(super) alive: &'a Liveness,
    /// Payload bytes sent to the client (shared with the session table).
    pub(super) counts: &'a Counts,
    pub(super) observe: &'a Observer,
    /// `None` when this session copies (something needs the bytes, or the
    /// client is not plain TCP); else whether the next read splices.
    pub(super) splice: Option<bool>,
}

/// What the target has for the client.
enum Next {
    /// Bytes read into a buffer with room for the header (copying path).
    Copied(BytesMut),
    /// The target is readable and the next frame goes by splice.
    Splice,
}

impl<W: AsyncWrite + Unpin + ClientSocket> Down<'_, W> {
    /// Target bytes to client frames, plus heartbeat pings and the shutdown signal.
    pub(super) async fn relay(
        &mut self,
        heartbeat: Option<Duration>,
        shutdown: &mut Shutdown,
        pause: &mut watch::Receiver<bool>,
    ) -> End {
        let mut ticker = heartbeat.map(|period| {
            let mut i = interval_at(Instant::now() + period, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        // A client that stops reading for this long is as dead as one that stops answering.
        let send_limit = heartbeat.map_or(Duration::MAX, |p| p.saturating_mul(2));
        loop {
            // A clean point: no frame is half-written to the client.
            if *pause.borrow() {
                return End::HandOver;
            }
            let mut buf = tokio::select! {
                read = self.next() => match read {
                    Ok(Next::Copied(buf)) if buf.len() == HEADER_ROOM => return End::TargetClosed,
                    Ok(Next::Copied(buf)) => buf,
                    Ok(Next::Splice) => match self.spliced(send_limit).await {
                        Ok(()) => continue,
                        Err(end) => return end,
                    },
                    Err(e) => return End::TargetError(e),
                },
                () = tick(&mut ticker) => {
                    if self.alive.silent() {
                        return End::HeartbeatTimeout;
                    }
                    if let Err(end) = self.send(Opcode::Ping, &mut [0u8; HEADER_ROOM], send_limit).await {
                        return end;
                    }
                    continue;
                }
                () = shutdown.requested() => return End::Shutdown,
                () = super::paused::requested(pause) => return End::HandOver,
            };
            let len = (buf.len() - HEADER_ROOM) as u64;
            if let Some(big) = &mut self.splice {
                *big = buf.len() - HEADER_ROOM >= SPLICE_THRESHOLD;
            }
            self.observe
                .chunk(Direction::ToClient, "{", &buf[HEADER_ROOM..]);
            let sent = match self.mode {
                Mode::Binary => self.send(Opcode::Binary, &mut buf, send_limit).await,
                Mode::Base64 => {
                    let mut text = base64_frame(&buf[HEADER_ROOM..]);
                    self.send(Opcode::Text, &mut text, send_limit).await
                }
            };
            if let Err(end) = sent {
                return end;
            }
            self.observe.symbol("<");
            self.counts.to_client.fetch_add(len, Ordering::Relaxed);
        }
    }

    /// Waits for the target: a copied read, or readiness when the last
    /// read was large and this session may splice. Cancel-safe.
    async fn next(&mut self) -> std::io::Result<Next> {
        if self.splice == Some(true) {
            target_readable(&self.tr).await?;
            return Ok(Next::Splice);
        }
        self.tr.read(HEADER_ROOM).await.map(Next::Copied)
    }

    /// One frame by splice, under the same send limit as a copied frame;
    /// counted as the copying path counts. A splice that moved little
    /// sends the next read back to the copying path, as does a pool with
    /// every pipe lent; a pipe that cannot be made (no descriptors left)
    /// keeps this session on it for good.
    async fn spliced(&mut self, limit: Duration) -> Result<(), End> {
        let step = async {
            let mut w = self.writer.lock().await;
            w.splice(&self.tr).await
        };
        match timeout(limit, step).await {
            Ok(Ok(Spliced::Sent(n))) => {
                self.splice = Some(n >= SPLICE_THRESHOLD);
                self.counts.to_client.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Ok(Ok(Spliced::Nothing)) => Ok(()),
            Ok(Ok(Spliced::Busy)) => {
                self.splice = Some(false);
                Ok(())
            }
            Ok(Ok(Spliced::Eof)) => Err(End::TargetClosed),
            Ok(Ok(Spliced::TargetFailed(e))) => Err(End::TargetError(e)),
            Ok(Ok(Spliced::NoPipe(e))) => {
                log::debug!("target->client by copy: no pipe for splice: {e}");
                self.splice = None;
                Ok(())
            }
            Ok(Err(e)) => Err(End::client_gone(&e)),
            Err(_) => Err(End::HeartbeatTimeout),
        }
    }

    /// Sends one frame; a client that takes longer than `limit` to take it
    /// has stopped reading and is treated as gone.
    async fn send(
        &mut self,
        opcode: Opcode,
        framed: &mut [u8],
        limit: Duration,
    ) -> Result<(), End> {
        let write = async {
            let mut w = self.writer.lock().await;
            w.data(opcode, framed).await
        };
        match timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::client_gone(&e)),
            Err(_) => Err(End::HeartbeatTimeout),
        }
    }
}

/// `data` base64-encoded behind room for the header.
fn base64_frame(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_ROOM + base64_encoded_len(data.len())];
    let n = BASE64
        .encode_slice(data, &mut out[HEADER_ROOM..])
        .unwrap_or_default();
    out.truncate(HEADER_ROOM + n);
    out
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
