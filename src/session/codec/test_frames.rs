//! Test-only builder of masked client frames, so the tests can write a
//! stream as a list of frames with the length form of their choice.

/// A masked frame with first byte `b0` and the shortest length form.
pub fn frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let ext = match payload.len() {
        0..=125 => 0,
        126..=0xFFFF => 2,
        _ => 8,
    };
    frame_ext(b0, payload, mask, ext)
}

/// A masked frame whose length takes `ext` (0, 2 or 8) extended bytes.
pub fn frame_ext(b0: u8, payload: &[u8], mask: [u8; 4], ext: usize) -> Vec<u8> {
    let len = payload.len() as u64;
    let mut out = vec![b0];
    match ext {
        0 => out.push(0x80 | len as u8),
        2 => out.push(0x80 | 126),
        _ => out.push(0x80 | 127),
    }
    out.extend_from_slice(&len.to_be_bytes()[8 - ext..]);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}
