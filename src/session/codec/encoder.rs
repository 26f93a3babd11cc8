//! Server frames on the wire: the header of a frame the server sends (never
//! masked, RFC 6455 section 5.1) and the payload of its close frame. The
//! payload itself is the caller's, written after the header as is.

use super::Opcode;

/// The longest close reason that fits a close frame: 125 bytes less the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Writes the header of an unmasked server frame into `out` and returns its
/// length: 2, 4 (16-bit length) or 10 bytes (64-bit length).
pub fn header(opcode: Opcode, fin: bool, payload_len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = (u8::from(fin) << 7) | opcode.bits();
    if let Ok(short) = u8::try_from(payload_len) {
        if short < 126 {
            out[1] = short;
            return 2;
        }
    }
    if let Ok(medium) = u16::try_from(payload_len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&medium.to_be_bytes());
        return 4;
    }
    out[1] = 127;
    out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
    10
}

/// Writes a close frame payload into `out`: `code` then `reason`, cut to
/// [`MAX_CLOSE_REASON`] bytes at a char boundary. Returns its length.
pub fn close_payload(code: u16, reason: &str, out: &mut [u8; 125]) -> usize {
    out[..2].copy_from_slice(&code.to_be_bytes());
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    2 + end
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
