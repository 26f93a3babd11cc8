//! The WebSocket frame decoder (`session::codec::Decoder`) and the streaming
//! base64 decoder (`Base64Decoder`): the same client byte stream, decoded at
//! once, one byte at a time, and in chunks of random sizes, must give the same
//! messages, control frames and close code. Base64 messages must decode as a
//! plain group-by-group decode of the whole message does.
//!
//! Input: one byte of options (bit 0: the `base64` subprotocol, bits 1-2: the
//! message size limit), 8 bytes seeding the chunk sizes, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use websockify::fuzzing::{base64_decoded_len_max, Base64Decoder, CloseReason, Decoder, Event};

/// What the relay would see, with data chunks joined into whole messages.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A data message; with base64 its decoded bytes.
    Message {
        text: bool,
        payload: Vec<u8>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    /// The stream stopped inside a message (its bytes so far, undecoded).
    Partial {
        text: bool,
        payload: Vec<u8>,
    },
    /// The connection is closed with this code (protocol error or bad base64).
    Failed(CloseReason),
}

struct Run {
    decoder: Decoder,
    base64: bool,
    b64: Base64Decoder,
    seen: Vec<Seen>,
    /// The current message: text or not, raw payload, decoded payload.
    message: Option<(bool, Vec<u8>, Vec<u8>)>,
    closed: bool,
    failed: bool,
}

impl Run {
    fn new(limit: Option<u64>, base64: bool) -> Self {
        Run {
            decoder: Decoder::new(limit),
            base64,
            b64: Base64Decoder::new(),
            seen: Vec::new(),
            message: None,
            closed: false,
            failed: false,
        }
    }

    fn fail(&mut self, reason: CloseReason) {
        self.seen.push(Seen::Failed(reason));
        self.failed = true;
    }

    /// Feeds one chunk, as one read from the socket.
    fn feed(&mut self, chunk: &[u8]) {
        let mut buf = chunk.to_vec();
        let mut at = 0;
        while !self.failed {
            let rest = buf.len() - at;
            let (used, event) = match self.decoder.decode(&mut buf[at..]) {
                Ok(got) => got,
                Err(reason) => return self.fail(reason),
            };
            assert!(used <= rest, "used {used} of {rest}");
            let Some(event) = event else {
                assert_eq!(used, rest, "no event, yet bytes left over");
                return;
            };
            at += used;
            let event = owned(event);
            self.event(event);
            if self.closed {
                // Anything after a close is ignored, in any chunking.
                let more = self
                    .decoder
                    .decode(&mut buf[at..])
                    .map(|(n, e)| (n, e.is_some()));
                assert_eq!(more, Ok((rest - used, false)), "bytes after the close");
                return;
            }
        }
    }

    fn event(&mut self, event: OwnedEvent) {
        match event {
            OwnedEvent::Start { text } => {
                assert!(self.message.is_none(), "message start inside a message");
                self.message = Some((text, Vec::new(), Vec::new()));
            }
            OwnedEvent::Data { payload, fin } => {
                assert!(
                    !payload.is_empty() || fin,
                    "empty data that does not end a message"
                );
                let Some((text, raw, decoded)) = self.message.as_mut() else {
                    panic!("data outside a message");
                };
                let text = *text;
                raw.extend_from_slice(&payload);
                if self.base64 && text {
                    let mut out = vec![0; base64_decoded_len_max(payload.len())];
                    match self.b64.decode(&payload, &mut out) {
                        Ok(n) => decoded.extend_from_slice(&out[..n]),
                        Err(reason) => {
                            // What was decoded before the error is dropped, in
                            // whatever chunks it came.
                            self.message = None;
                            return self.fail(reason);
                        }
                    }
                    if fin {
                        if let Err(reason) = self.b64.finish() {
                            self.message = None;
                            return self.fail(reason);
                        }
                    }
                }
                if fin {
                    let (text, raw, decoded) = self.message.take().expect("message");
                    let payload = if self.base64 && text {
                        assert_eq!(Ok(&decoded), reference_base64(&raw).as_ref(), "{raw:?}");
                        decoded
                    } else {
                        raw
                    };
                    self.seen.push(Seen::Message { text, payload });
                }
            }
            OwnedEvent::Ping(p) => self.seen.push(Seen::Ping(p)),
            OwnedEvent::Pong(p) => self.seen.push(Seen::Pong(p)),
            OwnedEvent::Close(code, reason) => {
                self.closed = true;
                self.seen.push(Seen::Close(code, reason));
            }
        }
    }

    fn finish(mut self) -> Vec<Seen> {
        if let Some((text, payload, _)) = self.message.take() {
            self.seen.push(Seen::Partial { text, payload });
        }
        self.seen
    }
}

/// An event copied out of the decoder's and the caller's buffers.
enum OwnedEvent {
    Start { text: bool },
    Data { payload: Vec<u8>, fin: bool },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn owned(event: Event<'_>) -> OwnedEvent {
    match event {
        Event::MessageStart { text } => OwnedEvent::Start { text },
        Event::Data {
            payload,
            fin_of_message,
        } => OwnedEvent::Data {
            payload: payload.to_vec(),
            fin: fin_of_message,
        },
        Event::Ping(p) => OwnedEvent::Ping(p.to_vec()),
        Event::Pong(p) => OwnedEvent::Pong(p.to_vec()),
        Event::Close { code, reason } => {
            assert!(
                reason.len() <= 123,
                "close reason of {} bytes",
                reason.len()
            );
            OwnedEvent::Close(code, reason.to_owned())
        }
    }
}

/// A whole base64 message decoded the plain way: groups of 4 characters,
/// each decoded on its own (padding only at a group's end, trailing bits
/// ignored); `Err` for a partial group or a bad one.
fn reference_base64(text: &[u8]) -> Result<Vec<u8>, ()> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if !text.len().is_multiple_of(4) {
        return Err(());
    }
    let mut out = Vec::new();
    for group in text.chunks(4) {
        let pad = group.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 {
            return Err(());
        }
        let mut bits = 0u32;
        for &c in &group[..4 - pad] {
            let v = ALPHABET.iter().position(|&a| a == c).ok_or(())?;
            bits = (bits << 6) | v as u32;
        }
        bits <<= 6 * pad;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Ok(out)
}

/// xorshift64: chunk sizes from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn decode(stream: &[u8], chunks: &[usize], limit: Option<u64>, base64: bool) -> Vec<Seen> {
    let mut run = Run::new(limit, base64);
    let mut rest = stream;
    for &n in chunks {
        let (chunk, after) = rest.split_at(n.min(rest.len()));
        run.feed(chunk);
        rest = after;
    }
    assert!(rest.is_empty(), "chunks do not cover the stream");
    run.finish()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (options, seed, stream) = (data[0], &data[1..9], &data[9..]);
    let base64 = options & 1 != 0;
    let limit = [None, Some(0), Some(125), Some(4096)][usize::from(options >> 1 & 3)];

    let once = decode(stream, &[stream.len()], limit, base64);
    let bytewise = decode(stream, &vec![1; stream.len()], limit, base64);
    assert_eq!(once, bytewise, "one byte at a time");

    let mut rng = Rng(u64::from_le_bytes(seed.try_into().expect("8 bytes")) | 1);
    let max = 1 + rng.next() % 64;
    let mut chunks = Vec::new();
    let mut total = 0;
    while total < stream.len() {
        // Now and then an empty read, as a spurious wake-up gives.
        let n = (rng.next() % (max + 1)) as usize;
        chunks.push(n);
        total += n;
    }
    let random = decode(stream, &chunks, limit, base64);
    assert_eq!(once, random, "chunks {chunks:?}");
});
