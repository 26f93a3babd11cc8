//! The client's write side, shared by both directions of a session: data
//! frames from the target, heartbeat pings, and the pongs and close frames
//! that client frames call for. Each frame leaves in one write, header and
//! payload together, so TLS makes one record of it and plain TCP one segment.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::session::codec::Mode;
use crate::session::codec::{self, Opcode};

/// Bytes kept free in front of a payload for its frame header (2 to 10).
pub(super) const HEADER_ROOM: usize = 10;

/// Frames to the client.
pub(crate) struct ClientWriter<W> {
    w: W,
    /// A close frame went out: nothing may follow it.
    closed: bool,
}

impl<W: AsyncWrite + Unpin> ClientWriter<W> {
    pub(crate) fn new(w: W) -> Self {
        Self { w, closed: false }
    }

    /// Sends `framed[HEADER_ROOM..]` as one frame, writing its header into
    /// the room in front of it: the payload is never copied.
    pub(super) async fn data(&mut self, opcode: Opcode, framed: &mut [u8]) -> io::Result<()> {
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
