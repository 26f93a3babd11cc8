//! RFB bytes to and from the browser before the relay starts, in WebSocket
//! frames: each client frame is read exactly (header, then payload), so not
//! a byte of what follows is consumed and the relay starts on a frame
//! boundary. The codec's decoder checks and unmasks them; pings are answered.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};

use crate::session::codec::Mode;
use crate::session::codec::{CloseReason, Decoder, Event, Opcode};
use crate::session::relay::ClientWriter;

/// The largest frame taken during the handshake: its messages are 1 to 12 bytes.
const MAX_FRAME: u64 = 4096;

/// Why the browser side of the handshake stopped.
#[derive(Debug)]
pub enum FrameStop {
    /// The client broke the WebSocket or RFB protocol: close with this.
    Fault(u16, String),
    /// The client sent a close frame (its code is echoed).
    Closed(Option<u16>),
    /// The connection failed or ended.
    Gone(String),
}

impl From<CloseReason> for FrameStop {
    fn from(r: CloseReason) -> Self {
        FrameStop::Fault(r.code, r.reason.into())
    }
}

impl From<std::io::Error> for FrameStop {
    fn from(e: std::io::Error) -> Self {
        FrameStop::Gone(e.to_string())
    }
}

/// The browser's connection during the handshake.
pub struct Frames<'a, C> {
    io: &'a mut C,
    mode: Mode,
    decoder: Decoder,
    /// Payload received and not yet taken.
    inbox: Vec<u8>,
    /// A data message has begun and not ended.
    open: bool,
    /// The current message is base64 text, from this inbox offset on.
    text: Option<usize>,
}

impl<'a, C: AsyncRead + AsyncWrite + Unpin> Frames<'a, C> {
    pub fn new(io: &'a mut C, mode: Mode) -> Self {
        Self {
            io,
            mode,
            decoder: Decoder::new(Some(MAX_FRAME)),
            inbox: Vec::new(),
            open: false,
            text: None,
        }
    }

    /// Sends `data` as one message.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), FrameStop> {
        Ok(ClientWriter::new(&mut *self.io)
            .payload(self.mode, data)
            .await?)
    }

    /// The next `n` payload bytes from the client.
    pub async fn take(&mut self, n: usize) -> Result<Vec<u8>, FrameStop> {
        while self.inbox.len() < n {
            self.frame().await?;
        }
        Ok(self.inbox.drain(..n).collect())
    }

    /// Reads to the end of the current message; what the client sent
    /// beyond what was taken (the relay sends it to the target).
    pub async fn finish(mut self) -> Result<Vec<u8>, FrameStop> {
        while self.open {
            self.frame().await?;
        }
        Ok(self.inbox)
    }

    /// Reads one whole frame and handles it.
    async fn frame(&mut self) -> Result<(), FrameStop> {
        let mut buf = vec![0u8; 2];
        self.io.read_exact(&mut buf).await?;
        let extended = match buf[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if buf[1] & 0x80 != 0 { 4 } else { 0 };
        buf.resize(2 + extended + mask, 0);
        self.io.read_exact(&mut buf[2..]).await?;
        let len = match extended {
            0 => u64::from(buf[1] & 0x7F),
            _ => buf[2..2 + extended]
                .iter()
                .fold(0u64, |n, &b| n << 8 | u64::from(b)),
        };
        if len > MAX_FRAME {
            return Err(CloseReason::TOO_BIG.into());
        }
        let head = buf.len();
        buf.resize(head + len as usize, 0);
        self.io.read_exact(&mut buf[head..]).await?;
        self.decode(&mut buf).await
    }

    /// Feeds one frame to the decoder: payload to the inbox, a ping answered.
    async fn decode(&mut self, buf: &mut [u8]) -> Result<(), FrameStop> {
        let mut pos = 0;
        let mut pong = None;
        loop {
            let (used, event) = self.decoder.decode(&mut buf[pos..])?;
            pos += used;
            match event {
                None => break,
                Some(Event::MessageStart { text }) => {
                    if text && self.mode == Mode::Binary {
                        let why = "Unsupported: Text frames are not supported";
                        return Err(FrameStop::Fault(1003, why.into()));
                    }
                    self.open = true;
                    self.text = text.then_some(self.inbox.len());
                }
                Some(Event::Data {
                    payload,
                    fin_of_message,
                }) => {
                    self.inbox.extend_from_slice(payload);
                    self.open = !fin_of_message;
                }
                Some(Event::Ping(p)) => pong = Some(p.to_vec()),
                Some(Event::Pong(_)) => {}
                Some(Event::Close { code, .. }) => return Err(FrameStop::Closed(code)),
            }
        }
        if let Some(from) = self.text.filter(|_| !self.open) {
            self.unbase64(from)?;
        }
        if let Some(p) = pong {
            ClientWriter::new(&mut *self.io)
                .control(Opcode::Pong, &p)
                .await?;
        }
        Ok(())
    }

    /// A whole base64 message at `inbox[from..]` becomes its bytes.
    fn unbase64(&mut self, from: usize) -> Result<(), FrameStop> {
        self.text = None;
        let bytes = BASE64
            .decode(&self.inbox[from..])
            .map_err(|_| FrameStop::from(CloseReason::INVALID_BASE64))?;
        self.inbox.truncate(from);
        self.inbox.extend_from_slice(&bytes);
        Ok(())
    }
}
