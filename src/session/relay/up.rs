//! Client to target: client bytes are decoded as they arrive, unmasked in
//! place, and the payload of everything one read brought is written to the
//! target in one write. Nothing waits for a message to end, so a session
//! holds one read buffer whatever the client sends.

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{watch, Mutex};

use super::paused::Paused;
use super::pongs::{Pong, Pongs};
use super::writer::ClientWriter;
use super::{End, Liveness, Observer};
use crate::defaults::{CLIENT_READ_BUFFER, CLIENT_READ_START};
use crate::session::codec::Mode;
use crate::session::codec::{Base64Decoder, CloseReason, Decoder, Event, MessageLimit, Opcode};
use crate::session::record::Direction;
use crate::session::table::Counts;
use crate::session::target::TargetWriter;

/// Text frames in binary mode: there is no text to relay to a TCP target.
const TEXT_UNSUPPORTED: CloseReason = CloseReason {
    code: 1003,
    reason: "Unsupported: Text frames are not supported",
};

/// The client-to-target direction.
pub(super) struct Up<'a, R, W> {
    pub(super) reader: R,
    pub(super) writer: &'a Mutex<ClientWriter<W>>,
    pub(super) tw: TargetWriter,
    decoder: Decoder,
    /// `base64` text messages: the decoder, the size policy on decoded bytes,
    /// and where decoded bytes wait for the target write.
    b64: Option<(Base64Decoder, MessageLimit, Vec<u8>)>,
    /// The current message is text (base64).
    text: bool,
    /// What the client sent, read but not yet decoded and written.
    buf: BytesMut,
    /// The read buffer's size: small until a read fills it, then the full
    /// budget, so idle and interactive sessions stay small.
    want: usize,
    /// Binary payload bytes at the front of `buf` after decoding a read.
    kept: usize,
    /// Payload decoded but not yet written to the target; kept here, so a
    /// cancelled `relay` loses nothing and can be started again.
    pending: BytesMut,
    /// The pings of the read, answered once the read is handled.
    pongs: Pongs,
    alive: &'a Liveness,
    /// How long the target may take nothing before it counts as stalled.
    stall: Duration,
    /// Payload bytes written to the target (shared with the session table).
    pub(super) counts: &'a Counts,
    observe: &'a Observer,
    /// True once a hand-over asks the session to pause.
    pause: watch::Receiver<bool>,
}

impl<'a, R, W> Up<'a, R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub(super) fn new(
        reader: R,
        writer: &'a Mutex<ClientWriter<W>>,
        tw: TargetWriter,
        limits: (Mode, Option<u64>, Duration),
        alive: &'a Liveness,
        observe: &'a Observer,
        counts: &'a Counts,
    ) -> Self {
        let (mode, max, stall) = limits;
        // In base64 mode the limit counts decoded bytes, not the text.
        let b64 = (mode == Mode::Base64)
            .then(|| (Base64Decoder::new(), MessageLimit::new(max), Vec::new()));
        let decoder = Decoder::new(if b64.is_some() { None } else { max });
        Self {
            reader,
            writer,
            tw,
            decoder,
            b64,
            text: false,
            buf: BytesMut::new(),
            want: CLIENT_READ_START,
            kept: 0,
            pending: BytesMut::new(),
            pongs: Pongs::default(),
            alive,
            stall,
            counts,
            observe,
            pause: watch::channel(false).1,
        }
    }

    /// Stops pausing: a session that cannot move reads its client until
    /// the client answers the close frame, like any other closing session.
    pub(super) fn unpause(&mut self) {
        self.pause = watch::channel(false).1;
    }

    /// Pauses when `pause` turns true; goes on from `paused`, the state
    /// another process handed over, if given.
    pub(super) fn resumed(mut self, pause: watch::Receiver<bool>, paused: Option<Paused>) -> Self {
        self.pause = pause;
        if let Some(p) = paused {
            self.decoder = p.decoder;
            self.text = p.text;
            if let (Some((dec, limit, _)), Some((d, l))) = (&mut self.b64, p.b64) {
                (*dec, *limit) = (d, l);
            }
        }
        self
    }

    /// The decoder's position, at a clean point (`relay` returned
    /// `End::HandOver`: nothing read is left undecoded or unwritten).
    pub(super) fn paused(&self) -> Paused {
        Paused {
            decoder: self.decoder.clone(),
            b64: self.b64.as_ref().map(|(d, l, _)| (d.clone(), *l)),
            text: self.text,
        }
    }

    /// Relays until the client closes, goes away or breaks the protocol, or
    /// the target fails.
    pub(super) async fn relay(&mut self) -> End {
        loop {
            if let Err(e) = self.write_pending().await {
                return End::TargetError(e);
            }
            // A clean point: nothing decoded is unwritten, no pong is owed.
            if *self.pause.borrow() {
                return End::HandOver;
            }
            // Reuses the buffer's memory once what was split off is written.
            self.buf.reserve(self.want);
            let read = tokio::select! {
                read = self.reader.read_buf(&mut self.buf) => read,
                () = super::paused::requested(&mut self.pause) => return End::HandOver,
            };
            match read {
                Ok(0) => return End::ClientGone("connection closed".into()),
                Ok(n) if n >= self.want => self.want = CLIENT_READ_BUFFER,
                Ok(_) => {}
                Err(e) => return End::client_gone(&e),
            }
            self.alive.heard();
            let end = self.decode_read();
            if let Err(e) = self.write_pending().await {
                return End::TargetError(e);
            }
            if let Some(end) = end {
                return end;
            }
            if let Err(e) = self.answer_pings().await {
                return End::client_gone(&e);
            }
        }
    }

    /// Sends the pongs the read's pings call for, in order.
    async fn answer_pings(&mut self) -> io::Result<()> {
        let Some(first) = self.pongs.next() else {
            return Ok(());
        };
        let mut w = self.writer.lock().await;
        w.control(Opcode::Pong, first.payload()).await?;
        while let Some(pong) = self.pongs.next() {
            w.control(Opcode::Pong, pong.payload()).await?;
        }
        Ok(())
    }

    /// Decodes all of `buf`: payload moves to `pending`, pings are noted, and
    /// a close frame or a protocol error ends the direction.
    fn decode_read(&mut self) -> Option<End> {
        let mut buf = std::mem::take(&mut self.buf);
        self.kept = 0;
        let end = self.decode_into(&mut buf);
        // Binary payload was moved to the front: it leaves without a copy.
        self.pending = buf.split_to(self.kept);
        if let Some((_, _, out)) = &mut self.b64 {
            self.pending.extend_from_slice(out);
            out.clear();
        }
        buf.clear();
        self.buf = buf;
        end
    }

    fn decode_into(&mut self, buf: &mut [u8]) -> Option<End> {
        let base = buf.as_ptr() as usize;
        let observe = self.observe;
        let (mut pos, mut kept) = (0, 0);
        loop {
            let step = match self.decoder.decode(&mut buf[pos..]) {
                Err(r) => return self.fault(r, kept),
                Ok((used, event)) => {
                    pos += used;
                    match event {
                        None => break,
                        Some(event) => Step::of(event, base, observe),
                    }
                }
            };
            let done = match step {
                Step::Start(text) => self.start(text),
                Step::Data { at, len, fin } => self.data(buf, at, len, fin, &mut kept),
                Step::Ping(pong) => {
                    self.pongs.push(pong);
                    Ok(())
                }
                Step::Nothing => Ok(()),
                Step::Close(code, reason) => {
                    self.kept = kept;
                    return Some(End::ClientClose(code, reason));
                }
            };
            if let Err(r) = done {
                return self.fault(r, kept);
            }
        }
        self.kept = kept;
        None
    }

    fn start(&mut self, text: bool) -> Result<(), CloseReason> {
        if text && self.b64.is_none() {
            return Err(TEXT_UNSUPPORTED);
        }
        self.text = text;
        Ok(())
    }

    /// One chunk of payload at `buf[at..at + len]`: binary bytes move down to
    /// `buf[kept..]`; base64 text is decoded onto the base64 buffer.
    fn data(
        &mut self,
        buf: &mut [u8],
        at: usize,
        len: usize,
        fin: bool,
        kept: &mut usize,
    ) -> Result<(), CloseReason> {
        match (&mut self.b64, self.text) {
            (Some((dec, limit, out)), true) => {
                let start = out.len();
                out.resize(
                    start + crate::session::codec::base64_decoded_len_max(len),
                    0,
                );
                let n = dec.decode(&buf[at..at + len], &mut out[start..])?;
                out.truncate(start + n);
                limit.add(n as u64)?;
                if fin {
                    dec.finish()?;
                    limit.reset();
                }
            }
            _ => {
                buf.copy_within(at..at + len, *kept);
                *kept += len;
            }
        }
        Ok(())
    }

    /// A protocol error: what was decoded before it still goes to the target.
    fn fault(&mut self, r: CloseReason, kept: usize) -> Option<End> {
        self.kept = kept;
        Some(End::ClientFault(r.code, r.reason))
    }

    /// Writes what is pending to the target, then lets its memory go.
    /// A target that takes nothing for `stall` is an error of the target's.
    pub(super) async fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.alive.waiting_on_target(true);
        let written = self.write_all_pending().await;
        self.alive.waiting_on_target(false);
        written?;
        self.observe.symbol(">");
        self.pending = BytesMut::new();
        Ok(())
    }

    async fn write_all_pending(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            // write_buf consumes what it wrote, so a cancelled write loses nothing.
            let n = match tokio::time::timeout(self.stall, self.tw.write_buf(&mut self.pending))
                .await
            {
                Ok(n) => n?,
                Err(_) => {
                    let why = format!("the target took nothing for {:?}", self.stall);
                    return Err(io::Error::new(io::ErrorKind::TimedOut, why));
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.counts.to_target.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// What one decoder event asks of the direction, owned, so the decoder's
/// borrow ends before the buffer is touched again.
enum Step {
    Start(bool),
    /// Payload at `buf[at..at + len]`.
    Data {
        at: usize,
        len: usize,
        fin: bool,
    },
    Ping(Pong),
    Nothing,
    Close(Option<u16>, String),
}

impl Step {
    fn of(event: Event<'_>, base: usize, observe: &Observer) -> Step {
        match event {
            Event::MessageStart { text } => Step::Start(text),
            Event::Data {
                payload,
                fin_of_message,
            } => {
                observe.chunk(Direction::FromClient, "}", payload);
                Step::Data {
                    at: payload.as_ptr() as usize - base,
                    len: payload.len(),
                    fin: fin_of_message,
                }
            }
            Event::Ping(p) => Step::Ping(Pong::to(p)),
            Event::Pong(_) => Step::Nothing,
            Event::Close { code, reason } => Step::Close(code, reason.to_owned()),
        }
    }
}
