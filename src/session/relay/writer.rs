//! The client's write side, shared by both directions of a session: data
//! frames from the target, heartbeat pings, and the pongs and close frames
//! that client frames call for. Each frame leaves in one write, header and
//! payload together, so TLS makes one record of it and plain TCP one segment.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::splice::{send_head, ClientSocket, Pipe, Pipes};
use crate::session::codec::Mode;
use crate::session::codec::{self, Opcode};
use crate::session::target::TargetReader;

/// Bytes kept free in front of a payload for its frame header (2 to 10).
pub(super) const HEADER_ROOM: usize = 10;

/// Frames to the client.
pub(crate) struct ClientWriter<W> {
    w: W,
    /// A close frame went out: nothing may follow it.
    closed: bool,
    /// The process's pipes, when this writer may splice.
    pipes: Option<Arc<Pipes>>,
    /// The pipe of a spliced frame while it is being sent.
    pipe: Option<Pipe>,
    /// This session said it splices (once).
    said: bool,
    /// What is left of a spliced frame whose sending was cancelled: it is
    /// finished before anything else goes out (`settle`), so no other frame
    /// ever lands inside it.
    owed: Owed,
}

/// The rest of a spliced frame: header bytes still to send, then payload
/// bytes still in the pipe.
#[derive(Default)]
struct Owed {
    head: [u8; HEADER_ROOM],
    head_at: usize,
    head_end: usize,
    body: usize,
}

impl Owed {
    fn is_empty(&self) -> bool {
        self.head_at == self.head_end && self.body == 0
    }
}

/// What one splice step did.
pub(super) enum Spliced {
    /// A binary frame of this many payload bytes went to the client.
    Sent(usize),
    /// The target had nothing after all (its readiness was stale).
    Nothing,
    /// The target sent FIN.
    Eof,
    /// Reading the target failed.
    TargetFailed(io::Error),
    /// Every pipe is lent out: copy this one.
    Busy,
    /// No pipe could be made (the open-file limit): copy instead.
    NoPipe(io::Error),
}

impl<W: AsyncWrite + Unpin> ClientWriter<W> {
    pub(crate) fn new(w: W) -> Self {
        Self {
            w,
            closed: false,
            pipes: None,
            pipe: None,
            said: false,
            owed: Owed::default(),
        }
    }

    /// A writer that may splice when given `pipes` to take pipes from.
    pub(super) fn with_pipes(w: W, pipes: Option<Arc<Pipes>>) -> Self {
        let mut writer = Self::new(w);
        writer.pipes = pipes;
        writer
    }

    /// Sends `framed[HEADER_ROOM..]` as one frame, writing its header into
    /// the room in front of it: the payload is never copied.
    pub(super) async fn data(&mut self, opcode: Opcode, framed: &mut [u8]) -> io::Result<()> {
        if !self.owed.is_empty() {
            // Only after `settle` failed: the client is gone or stuck.
            return Err(io::Error::other("a spliced frame is unfinished"));
        }
        let mut header = [0u8; HEADER_ROOM];
        let n = codec::header(opcode, true, framed.len() - HEADER_ROOM, &mut header);
        let start = HEADER_ROOM - n;
        framed[start..HEADER_ROOM].copy_from_slice(&header[..n]);
        self.w.write_all(&framed[start..]).await?;
        self.w.flush().await
    }

    /// `data` as one data frame in the session's `mode` (binary, or base64
    /// text), copied: for the few bytes a session sends before the relay.
    pub(crate) async fn payload(&mut self, mode: Mode, data: &[u8]) -> io::Result<()> {
        let (opcode, mut framed) = match mode {
            Mode::Binary => {
                let mut framed = vec![0u8; HEADER_ROOM];
                framed.extend_from_slice(data);
                (Opcode::Binary, framed)
            }
            Mode::Base64 => {
                let mut framed = vec![0u8; HEADER_ROOM];
                framed.extend_from_slice(BASE64.encode(data).as_bytes());
                (Opcode::Text, framed)
            }
        };
        self.data(opcode, &mut framed).await
    }

    /// A ping or pong (payload at most 125 bytes).
    pub(crate) async fn control(&mut self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        let mut frame = [0u8; HEADER_ROOM + 125];
        let len = payload.len().min(125);
        frame[HEADER_ROOM..HEADER_ROOM + len].copy_from_slice(&payload[..len]);
        self.data(opcode, &mut frame[..HEADER_ROOM + len]).await
    }

    /// The close frame, once; `None` sends one without a code.
    pub(crate) async fn close(&mut self, code: Option<u16>, reason: &str) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut payload = [0u8; 125];
        let n = code.map_or(0, |c| codec::close_payload(c, reason, &mut payload));
        self.control(Opcode::Close, &payload[..n]).await
    }

    /// Ends the write side (TCP FIN, TLS close_notify).
    pub(super) async fn shutdown(&mut self) -> io::Result<()> {
        self.w.shutdown().await
    }
}

impl<W: AsyncWrite + Unpin + ClientSocket> ClientWriter<W> {
    /// One binary frame straight from the target by splice: what the target
    /// has now (up to a pipe's worth) goes into the pipe, its length makes
    /// the header, and the pipe is emptied to the client. The caller holds
    /// the writer's lock for all of it, so pongs and pings wait until the
    /// frame is whole. Client failures are the `Err`.
    pub(super) async fn splice(&mut self, tr: &TargetReader) -> io::Result<Spliced> {
        self.settle().await?;
        let Some(pipes) = &self.pipes else {
            return Ok(Spliced::Busy);
        };
        let pipe = match pipes.take() {
            Some(Ok(pipe)) => pipe,
            Some(Err(e)) => return Ok(Spliced::NoPipe(e)),
            None => return Ok(Spliced::Busy),
        };
        let n = match pipe.fill(tr) {
            Ok(n @ 1..) => n,
            got => {
                pipes.give(pipe);
                return Ok(match got {
                    Ok(_) => Spliced::Eof,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Spliced::Nothing,
                    Err(e) => Spliced::TargetFailed(e),
                });
            }
        };
        if !self.said {
            self.said = true;
            log::debug!("target->client by splice");
        }
        let mut head = [0u8; HEADER_ROOM];
        let len = codec::header(Opcode::Binary, true, n, &mut head);
        self.owed = Owed {
            head,
            head_at: 0,
            head_end: len,
            body: n,
        };
        self.pipe = Some(pipe);
        self.settle().await?;
        Ok(Spliced::Sent(n))
    }

    /// Finishes a spliced frame whose sending was interrupted (a cancelled
    /// send, a timeout): first the rest of its header, then its payload.
    pub(super) async fn settle(&mut self) -> io::Result<()> {
        let (Some(tcp), Some(pipe)) = (self.w.tcp(), &self.pipe) else {
            return Ok(());
        };
        while self.owed.head_at < self.owed.head_end {
            let rest = &self.owed.head[self.owed.head_at..self.owed.head_end];
            self.owed.head_at += send_head(tcp, rest).await?;
        }
        while self.owed.body > 0 {
            self.owed.body -= pipe.drain(tcp, self.owed.body).await?;
        }
        if let (Some(pipe), Some(pipes)) = (self.pipe.take(), &self.pipes) {
            pipes.give(pipe);
        }
        Ok(())
    }
}

/// A pipe still lent when the session ends goes back to the pool, or is
/// closed when a cut frame left bytes in it.
impl<W> Drop for ClientWriter<W> {
    fn drop(&mut self) {
        if let (Some(pipe), Some(pipes)) = (self.pipe.take(), &self.pipes) {
            match self.owed.is_empty() {
                true => pipes.give(pipe),
                false => pipes.lost(pipe),
            }
        }
    }
}
