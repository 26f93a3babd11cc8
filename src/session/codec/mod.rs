//! A sans-IO WebSocket codec for the streaming relay (server side of RFC
//! 6455): it owns the wire format so the pump can keep a fixed memory budget
//! per session instead of gathering whole messages.
//!
//! - `decoder`: client frames, in place and chunk by chunk, into [`Event`]s.
//! - `b64`: the `base64` subprotocol, decoded chunk by chunk, and the length
//!   arithmetic of encoding.
//! - `encoder`: server frame headers and close frame payloads.
//!
//! Here live the pieces they share: the [`Mode`] (binary or base64 frames),
//! the [`Opcode`], the [`CloseReason`] a protocol error maps to, and the
//! [`MessageLimit`] policy.

mod b64;
mod decoder;
mod encoder;

#[cfg(test)]
pub(crate) mod test_frames;

use std::fmt;

pub use b64::{base64_decoded_len_max, base64_encoded_len, Base64Decoder};
pub use decoder::{Decoder, Event};
pub use encoder::{close_payload, header};

/// A frame opcode (RFC 6455 section 5.2); the reserved ones have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Opcode {
    /// 0x0: a later fragment of a data message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl Opcode {
    /// The opcode of the low 4 bits of a frame's first byte; `None` when
    /// reserved.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits & 0x0F {
            0x0 => Some(Self::Continuation),
            0x1 => Some(Self::Text),
            0x2 => Some(Self::Binary),
            0x8 => Some(Self::Close),
            0x9 => Some(Self::Ping),
            0xA => Some(Self::Pong),
            _ => None,
        }
    }

    /// The 4 bits of this opcode on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes of payload, never fragmented.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Why the server closes the connection: the close code and reason to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    /// The close code (1002 protocol error, 1007 invalid data, 1009 too big).
    pub code: u16,
    /// A short reason for the close frame and the log.
    pub reason: &'static str,
}

impl CloseReason {
    /// 1002: a client frame without a mask.
    pub const UNMASKED: Self = Self::protocol("Unmasked client frame");
    /// 1002: RSV1, RSV2 or RSV3 set (no extension is negotiated).
    pub const RESERVED_BITS: Self = Self::protocol("Reserved bits set");
    /// 1002: a reserved opcode.
    pub const RESERVED_OPCODE: Self = Self::protocol("Reserved opcode");
    /// 1002: a control frame with more than 125 bytes of payload.
    pub const CONTROL_TOO_LONG: Self = Self::protocol("Control frame too long");
    /// 1002: a control frame without FIN.
    pub const CONTROL_FRAGMENTED: Self = Self::protocol("Fragmented control frame");
    /// 1002: a continuation frame outside a message.
    pub const UNEXPECTED_CONTINUATION: Self = Self::protocol("Continuation without a message");
    /// 1002: a text or binary frame while a message is unfinished.
    pub const UNFINISHED_MESSAGE: Self = Self::protocol("New message before the last ended");
    /// 1002: a close frame with a 1-byte payload.
    pub const CLOSE_PAYLOAD_TRUNCATED: Self = Self::protocol("Close payload of 1 byte");
    /// 1002: a close code that may not be sent.
    pub const INVALID_CLOSE_CODE: Self = Self::protocol("Invalid close code");
    /// 1002: a 64-bit payload length with the top bit set.
    pub const LENGTH_OVERFLOW: Self = Self::protocol("Frame length top bit set");
    /// 1007: a close reason that is not UTF-8.
    pub const INVALID_CLOSE_REASON: Self = Self::invalid("Close reason not UTF-8");
    /// 1007: a text message that is not base64 (or ends inside a group).
    pub const INVALID_BASE64: Self = Self::invalid("Invalid base64 data");
    /// 1009: a message over the size limit.
    pub const TOO_BIG: Self = Self {
        code: 1009,
        reason: "Message too big",
    };

    const fn protocol(reason: &'static str) -> Self {
        Self { code: 1002, reason }
    }

    const fn invalid(reason: &'static str) -> Self {
        Self { code: 1007, reason }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for CloseReason {}

/// Whether a peer may send `code` in a close frame: 1000-1003, 1007-1014
/// and 3000-4999 (1004-1006 and 1015 are reserved, the rest unassigned).
pub fn close_code_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The optional cap on one message's payload bytes (1009 beyond it). The
/// decoder counts declared frame lengths; in base64 mode the caller gives the
/// decoder none and counts decoded bytes with its own `MessageLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageLimit {
    max: Option<u64>,
    seen: u64,
}

impl MessageLimit {
    /// A limit of `max` bytes per message; `None` for no limit.
    pub const fn new(max: Option<u64>) -> Self {
        Self { max, seen: 0 }
    }

    /// Counts `bytes` more of the current message: `TOO_BIG` past the limit.
    pub fn add(&mut self, bytes: u64) -> Result<(), CloseReason> {
        self.seen = self.seen.saturating_add(bytes);
        match self.max {
            Some(max) if self.seen > max => Err(CloseReason::TOO_BIG),
            _ => Ok(()),
        }
    }

    /// Starts counting a new message.
    pub fn reset(&mut self) {
        self.seen = 0;
    }
}

/// How session payloads travel in WebSocket frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Binary frames carry the raw bytes (subprotocol `binary` or none).
    Binary,
    /// Text frames carry base64 of the bytes (subprotocol `base64`, old clients).
    Base64,
}

impl Mode {
    /// The subprotocol name, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Binary => "binary",
            Mode::Base64 => "base64",
        }
    }
}
