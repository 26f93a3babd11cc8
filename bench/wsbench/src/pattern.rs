//! The bytes of the huge-message measure and their SHA-256: a cheap,
//! deterministic stream that both ends can produce at memory speed, in which
//! no two chunks are alike, so a lost, repeated or reordered chunk changes
//! the digest. Also the streaming base64 decoder the client needs for the
//! `base64` subprotocol.

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Size of one chunk of the stream.
pub const CHUNK: usize = 1 << 20;
/// Chunk `i` starts at a different offset of the block, within this span.
const SHIFT_SPAN: usize = 64 * 1024;

/// A block of pseudo-random bytes; the stream is slices of it.
pub struct Pattern {
    block: Vec<u8>,
}

impl Pattern {
    pub fn new() -> Self {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let block = (0..(CHUNK + SHIFT_SPAN) / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        Pattern { block }
    }

    /// Chunk `i` of a stream of `total` bytes (the last one may be shorter).
    pub fn chunk(&self, i: u64, total: u64) -> &[u8] {
        let start = i * CHUNK as u64;
        let len = total.saturating_sub(start).min(CHUNK as u64) as usize;
        let off = (i as usize).wrapping_mul(4099) % SHIFT_SPAN;
        &self.block[off..off + len]
    }

    /// How many chunks a stream of `total` bytes has.
    pub fn chunks(total: u64) -> u64 {
        total.div_ceil(CHUNK as u64)
    }
}

/// Decodes the text of one base64 message after another as it streams in:
/// each message is padded on its own, so a padded group may sit in the
/// middle of the text; groups may be split anywhere across reads.
#[derive(Default)]
pub struct B64Stream {
    carry: Vec<u8>,
    out: Vec<u8>,
}

impl B64Stream {
    /// Feed text; returns the bytes decoded from the complete groups so far.
    pub fn feed(&mut self, text: &[u8]) -> Result<&[u8]> {
        self.carry.extend_from_slice(text);
        let whole = self.carry.len() / 4 * 4;
        self.out.clear();
        let mut s = &self.carry[..whole];
        while !s.is_empty() {
            // A padded group ends a message: decode up to and including it.
            let end = s
                .iter()
                .position(|&b| b == b'=')
                .map_or(s.len(), |p| (p / 4 + 1) * 4);
            STANDARD
                .decode_vec(&s[..end], &mut self.out)
                .context("invalid base64 from the proxy")?;
            s = &s[end..];
        }
        self.carry.drain(..whole);
        Ok(&self.out)
    }
}
