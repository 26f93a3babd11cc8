//! The incremental decoder of client frames. It owns the frame state between
//! reads in a fixed few hundred bytes (a partial header, the current frame,
//! a control payload), unmasks data in the caller's buffer and hands it back
//! chunk by chunk, so memory never grows with the size of a frame or message.

use super::{close_code_valid, CloseReason, MessageLimit, Opcode};

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;
/// The longest control frame payload.
const MAX_CONTROL: usize = 125;

/// What one call to [`Decoder::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A data message begins; its payload follows as `Data` events.
    MessageStart {
        /// A text message (opcode 0x1) rather than binary (0x2).
        text: bool,
    },
    /// Unmasked payload of the current data message, as much as the buffer
    /// held. Never empty, except once at the end of a message whose last
    /// frame is empty.
    Data {
        /// The bytes, unmasked in place in the caller's buffer.
        payload: &'a [u8],
        /// The last bytes of the message.
        fin_of_message: bool,
    },
    /// A ping with its payload (answer with a pong of the same payload).
    Ping(&'a [u8]),
    /// A pong with its payload.
    Pong(&'a [u8]),
    /// A close frame; the decoder ignores any input after it.
    Close {
        /// The close code, or `None` for an empty close frame.
        code: Option<u16>,
        /// The close reason (empty when none).
        reason: &'a str,
    },
}

/// Which part of the stream comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Phase {
    Header,
    Data,
    Control,
    Closed,
}

/// The frame being read, once its header is complete.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Frame {
    opcode: Opcode,
    fin: bool,
    mask: [u8; 4],
    /// Payload bytes still to come.
    remaining: u64,
    /// Payload bytes read so far (the mask position, the control fill).
    offset: u64,
}

/// An incremental decoder of the frames a client sends (RFC 6455, server
/// side), with a fixed size whatever the input. It serializes as plain
/// numbers and bytes, so a live session's position inside a frame (partial
/// header, mask and offset, fragmentation, message size so far) can move to
/// a new process at a hand-over (`session::resume`); a decoder that failed is
/// never handed over, so its failure is not kept.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Decoder {
    phase: Phase,
    head: [u8; MAX_HEADER],
    head_len: usize,
    frame: Frame,
    /// `Some(text)` while a data message is unfinished.
    message: Option<bool>,
    limit: MessageLimit,
    #[serde(with = "control_bytes")]
    control: [u8; MAX_CONTROL],
    #[serde(skip)]
    failed: Option<CloseReason>,
}

/// serde for the control payload buffer (arrays past 32 have no derive).
mod control_bytes {
    use super::MAX_CONTROL;

    pub(super) fn serialize<S: serde::Serializer>(
        b: &[u8; MAX_CONTROL],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(b.iter())
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; MAX_CONTROL], D::Error> {
        let v: Vec<u8> = serde::Deserialize::deserialize(d)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("control payload buffer of the wrong size"))
    }
}

impl Decoder {
    /// A decoder for a new connection; `max_message_size` caps each data
    /// message's payload (1009), counted on declared frame lengths. Give
    /// `None` to count elsewhere, e.g. decoded base64 with a [`MessageLimit`].
    pub fn new(max_message_size: Option<u64>) -> Self {
        Self {
            phase: Phase::Header,
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: Frame {
                opcode: Opcode::Binary,
                fin: true,
                mask: [0; 4],
                remaining: 0,
                offset: 0,
            },
            message: None,
            limit: MessageLimit::new(max_message_size),
            control: [0; MAX_CONTROL],
            failed: None,
        }
    }
    /// Decodes from the front of `buf`: returns how many bytes it consumed
    /// and at most one event. Data payload is unmasked in place. Call again
    /// with the rest of `buf` after each event; `None` means all of `buf` was
    /// consumed and more input is needed. A protocol error is final: every
    /// later call returns it again.
    pub fn decode<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), CloseReason> {
        if let Some(reason) = self.failed {
            return Err(reason);
        }
        let mut used = 0;
        loop {
            match self.phase {
                Phase::Closed => return Ok((buf.len(), None)),
                Phase::Header => {
                    used += self.read_header(&buf[used..])?;
                    if !self.header_complete() {
                        return Ok((used, None));
                    }
                    if let Some(event) = self.start_frame()? {
                        return Ok((used, Some(event)));
                    }
                }
                Phase::Control => {
                    used += self.fill_control(&buf[used..]);
                    if self.frame.remaining > 0 {
                        return Ok((used, None));
                    }
                    self.phase = Phase::Header;
                    return self.control_event().map(|event| (used, Some(event)));
                }
                Phase::Data if self.frame.remaining == 0 && !self.frame.fin => {
                    self.phase = Phase::Header;
                }
                Phase::Data => {
                    let (n, event) = self.data_event(&mut buf[used..]);
                    return Ok((used + n, event));
                }
            }
        }
    }

    /// The next chunk of the current data frame from `rest`, and how many
    /// bytes it took; `None` if `rest` is empty (and the frame is not).
    fn data_event<'a>(&mut self, rest: &'a mut [u8]) -> (usize, Option<Event<'a>>) {
        let n = usize::try_from(self.frame.remaining)
            .map_or(rest.len(), |remaining| remaining.min(rest.len()));
        if n == 0 && self.frame.remaining > 0 {
            return (0, None);
        }
        (n, Some(self.take_data(&mut rest[..n])))
    }

    /// Records a protocol error, which every later call returns.
    fn fail(&mut self, reason: CloseReason) -> CloseReason {
        self.failed = Some(reason);
        reason
    }

    /// The header length so far known: 2 until the length byte is read.
    fn header_len(&self) -> usize {
        if self.head_len < 2 {
            return 2;
        }
        let extended = match self.head[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + extended + 4
    }

    fn header_complete(&self) -> bool {
        self.head_len >= 2 && self.head_len == self.header_len()
    }

    /// Copies header bytes from `input` into the partial header, checking
    /// the first two as soon as they are in; returns how many it took.
    fn read_header(&mut self, input: &[u8]) -> Result<usize, CloseReason> {
        let mut used = 0;
        while self.head_len < self.header_len() {
            let Some(&byte) = input.get(used) else { break };
            self.head[self.head_len] = byte;
            self.head_len += 1;
            used += 1;
            if self.head_len == 2 {
                if let Some(reason) = self.check_start() {
                    return Err(self.fail(reason));
                }
            }
        }
        Ok(used)
    }

    /// The protocol errors the first two header bytes show, if any.
    fn check_start(&self) -> Option<CloseReason> {
        let [b0, b1] = [self.head[0], self.head[1]];
        if b0 & 0x70 != 0 {
            return Some(CloseReason::RESERVED_BITS);
        }
        let Some(opcode) = Opcode::from_bits(b0) else {
            return Some(CloseReason::RESERVED_OPCODE);
        };
        if b1 & 0x80 == 0 {
            return Some(CloseReason::UNMASKED);
        }
        let fin = b0 & 0x80 != 0;
        match opcode {
            _ if opcode.is_control() && !fin => Some(CloseReason::CONTROL_FRAGMENTED),
            _ if opcode.is_control() && b1 & 0x7F > 125 => Some(CloseReason::CONTROL_TOO_LONG),
            Opcode::Continuation if self.message.is_none() => {
                Some(CloseReason::UNEXPECTED_CONTINUATION)
            }
            Opcode::Text | Opcode::Binary if self.message.is_some() => {
                Some(CloseReason::UNFINISHED_MESSAGE)
            }
            _ => None,
        }
    }

    /// Sets up the frame of a complete header; a new message's first frame
    /// yields `MessageStart`.
    fn start_frame(&mut self) -> Result<Option<Event<'static>>, CloseReason> {
        self.head_len = 0;
        let [b0, b1] = [self.head[0], self.head[1]];
        let (remaining, mask_at) = match b1 & 0x7F {
            126 => (
                u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
                4,
            ),
            127 => (be_u64(&self.head[2..10]), 10),
            short => (u64::from(short), 2),
        };
        if remaining >> 63 != 0 {
            return Err(self.fail(CloseReason::LENGTH_OVERFLOW));
        }
        let mut mask = [0; 4];
        mask.copy_from_slice(&self.head[mask_at..mask_at + 4]);
        // check_start refused the reserved opcodes.
        let opcode = Opcode::from_bits(b0).unwrap_or(Opcode::Close);
        let fin = b0 & 0x80 != 0;
        self.frame = Frame {
            opcode,
            fin,
            mask,
            remaining,
            offset: 0,
        };
        if opcode.is_control() {
            self.phase = Phase::Control;
            return Ok(None);
        }
        self.phase = Phase::Data;
        let start = opcode != Opcode::Continuation;
        if start {
            self.limit.reset();
        }
        if let Err(reason) = self.limit.add(remaining) {
            return Err(self.fail(reason));
        }
        if !start {
            return Ok(None);
        }
        let text = opcode == Opcode::Text;
        self.message = Some(text);
        Ok(Some(Event::MessageStart { text }))
    }

    /// Unmasks `chunk`, the next payload bytes of the current data frame.
    fn take_data<'a>(&mut self, chunk: &'a mut [u8]) -> Event<'a> {
        unmask(chunk, self.frame.mask, self.frame.offset);
        let n = chunk.len() as u64;
        self.frame.offset += n;
        self.frame.remaining -= n;
        let fin_of_message = self.frame.remaining == 0 && self.frame.fin;
        if self.frame.remaining == 0 {
            self.phase = Phase::Header;
            if self.frame.fin {
                self.message = None;
            }
        }
        Event::Data {
            payload: chunk,
            fin_of_message,
        }
    }

    /// Copies and unmasks control payload from `input`; returns how many
    /// bytes it took.
    fn fill_control(&mut self, input: &[u8]) -> usize {
        // A control frame has at most 125 bytes: both fit in usize.
        let at = self.frame.offset as usize;
        let n = input.len().min(self.frame.remaining as usize);
        let dest = &mut self.control[at..at + n];
        dest.copy_from_slice(&input[..n]);
        unmask(dest, self.frame.mask, self.frame.offset);
        self.frame.offset += n as u64;
        self.frame.remaining -= n as u64;
        n
    }

    /// The event of a complete control frame.
    fn control_event(&mut self) -> Result<Event<'_>, CloseReason> {
        let len = self.frame.offset as usize;
        match self.frame.opcode {
            Opcode::Ping => Ok(Event::Ping(&self.control[..len])),
            Opcode::Pong => Ok(Event::Pong(&self.control[..len])),
            _ => self.close_event(len),
        }
    }

    /// The event of a complete close frame of `len` bytes, once checked.
    fn close_event(&mut self, len: usize) -> Result<Event<'_>, CloseReason> {
        if len == 1 {
            return Err(self.fail(CloseReason::CLOSE_PAYLOAD_TRUNCATED));
        }
        let code = (len >= 2).then(|| u16::from_be_bytes([self.control[0], self.control[1]]));
        if code.is_some_and(|code| !close_code_valid(code)) {
            return Err(self.fail(CloseReason::INVALID_CLOSE_CODE));
        }
        let reason_bytes = self.control.get(2..len).unwrap_or_default();
        if std::str::from_utf8(reason_bytes).is_err() {
            return Err(self.fail(CloseReason::INVALID_CLOSE_REASON));
        }
        self.phase = Phase::Closed;
        let reason_bytes = self.control.get(2..len).unwrap_or_default();
        let reason = std::str::from_utf8(reason_bytes).unwrap_or_default();
        Ok(Event::Close { code, reason })
    }
}

impl Default for Decoder {
    /// A decoder without a message size limit.
    fn default() -> Self {
        Self::new(None)
    }
}

/// A big-endian u64 from 8 bytes.
fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b))
}

/// XORs `data` with `mask`, `data` starting `offset` bytes into the payload.
/// Eight bytes at a time (a loop the compiler turns into vector XORs): the
/// client-to-target path unmasks every byte a client sends, and a byte-wise
/// loop cost more than the socket calls around it.
fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let shift = (offset % 4) as usize;
    let rotated: [u8; 4] = std::array::from_fn(|i| mask[(i + shift) % 4]);
    // Eight is a multiple of four: every word starts at the same mask phase.
    let word = u64::from_ne_bytes(std::array::from_fn(|i| rotated[i % 4]));
    let mut words = data.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (b, m) in words
        .into_remainder()
        .iter_mut()
        .zip(rotated.iter().cycle())
    {
        *b ^= m;
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
