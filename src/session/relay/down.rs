//! Target to client: each target read becomes one frame, read straight into
//! a buffer with room for the frame header in front, so the payload is never
//! copied (base64 mode encodes it once). This direction also owns the
//! heartbeat and the shutdown signal.

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::AsyncWrite;
use tokio::sync::{watch, Mutex};
use tokio::time::{interval_at, timeout, Instant, Interval, MissedTickBehavior};

use super::writer::{ClientWriter, HEADER_ROOM};
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
}

impl<W: AsyncWrite + Unpin> Down<'_, W> {
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
                read = self.tr.read(HEADER_ROOM) => match read {
                    Ok(buf) if buf.len() == HEADER_ROOM => return End::TargetClosed,
                    Ok(buf) => buf,
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
