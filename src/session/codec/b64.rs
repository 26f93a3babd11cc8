//! The `base64` subprotocol: text messages carry base64 of the bytes. This
//! owns decoding a message's payload as it streams in (groups split anywhere,
//! across chunks and frames) with at most 3 characters kept between chunks,
//! and the length arithmetic of encoding one target read into one frame.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::CloseReason;

/// The standard alphabet, padding required; trailing bits are ignored, as
/// Python's `b64decode` does.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The most bytes [`Base64Decoder::decode`] writes for `input_len` bytes of
/// input (with up to 3 characters pending from before): the least `out`
/// length it accepts.
pub fn base64_decoded_len_max(input_len: usize) -> usize {
    input_len.saturating_add(3) / 4 * 3
}

/// The length of the padded base64 of `len` bytes.
pub fn base64_encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}
/// A streaming decoder of one base64 message after another. Each 4-character
/// group is decoded on its own, so a message may hold several padded groups
/// (`QQ==QQ==`); whitespace and other characters are refused.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Base64Decoder {
    pending: [u8; 4],
    pending_len: usize,
}

impl Base64Decoder {
    /// A decoder with nothing pending.
    pub const fn new() -> Self {
        Self {
            pending: [0; 4],
            pending_len: 0,
        }
    }

    /// Decodes the next `input` of the current message into `out` and
    /// returns how many bytes it wrote; an unfinished group waits for the
    /// next call. 1007 on a character outside the alphabet or misplaced
    /// padding.
    ///
    /// # Panics
    ///
    /// If `out` is shorter than [`base64_decoded_len_max`]`(input.len())`.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize, CloseReason> {
        assert!(
            out.len() >= base64_decoded_len_max(input.len()),
            "base64 output buffer too small"
        );
        let mut used = 0;
        let mut written = 0;
        if self.pending_len > 0 {
            used = (4 - self.pending_len).min(input.len());
            let end = self.pending_len + used;
            self.pending[self.pending_len..end].copy_from_slice(&input[..used]);
            self.pending_len = end;
            if end < 4 {
                return Ok(0);
            }
            self.pending_len = 0;
            written = decode_groups(&self.pending, out)?;
        }
        let rest = &input[used..];
        let whole = rest.len() / 4 * 4;
        written += decode_groups(&rest[..whole], &mut out[written..])?;
        let tail = &rest[whole..];
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
        Ok(written)
    }

    /// Ends the current message: 1007 if it stopped inside a group. The
    /// decoder is then ready for the next message.
    pub fn finish(&mut self) -> Result<(), CloseReason> {
        let left = std::mem::take(&mut self.pending_len);
        if left == 0 {
            Ok(())
        } else {
            Err(CloseReason::INVALID_BASE64)
        }
    }
}

/// Decodes whole 4-character groups into `out`; a padded group ends one
/// call of the engine, so padded groups may follow each other.
fn decode_groups(mut input: &[u8], out: &mut [u8]) -> Result<usize, CloseReason> {
    let mut written = 0;
    while !input.is_empty() {
        let end = match input.iter().position(|&b| b == b'=') {
            Some(pad) => (pad / 4 + 1) * 4,
            None => input.len(),
        };
        let (groups, rest) = input.split_at(end.min(input.len()));
        written += ENGINE
            .decode_slice(groups, &mut out[written..])
            .map_err(|_| CloseReason::INVALID_BASE64)?;
        input = rest;
    }
    Ok(written)
}

#[cfg(test)]
#[path = "b64_tests.rs"]
mod tests;
