//! Tests of the server frame encoder: headers in all three length forms,
//! unmasked, and close payloads cut at a char boundary.

use super::MAX_CLOSE_REASON;
use super::*;

#[test]
fn header_length_forms() {
    let mut out = [0; 10];
    assert_eq!(header(Opcode::Binary, true, 125, &mut out), 2);
    assert_eq!(out[..2], [0x82, 125]);
    assert_eq!(header(Opcode::Text, false, 126, &mut out), 4);
    assert_eq!(out[..4], [0x01, 126, 0, 126]);
    assert_eq!(header(Opcode::Continuation, true, 0xFFFF, &mut out), 4);
    assert_eq!(out[..4], [0x80, 126, 0xFF, 0xFF]);
    assert_eq!(header(Opcode::Ping, true, 0x1_0000, &mut out), 10);
    assert_eq!(out, [0x89, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
}

#[test]
fn header_round_trips_through_opcode_bits() {
    let mut out = [0; 10];
    for opcode in [Opcode::Close, Opcode::Pong, Opcode::Text] {
        header(opcode, true, 0, &mut out);
        assert_eq!(Opcode::from_bits(out[0]), Some(opcode));
        assert_eq!(out[1] & 0x80, 0, "server frames are unmasked");
    }
}

#[test]
fn close_payload_with_code_and_reason() {
    let mut out = [0; 125];
    let n = close_payload(1011, "target closed", &mut out);
    assert_eq!(&out[..n], b"\x03\xf3target closed");
}

#[test]
fn close_reason_cut_at_a_char_boundary() {
    let mut out = [0; 125];
    let reason = "é".repeat(100);
    let n = close_payload(1000, &reason, &mut out);
    assert_eq!(n, 2 + 122);
    assert!(std::str::from_utf8(&out[2..n]).is_ok());
    let n = close_payload(1000, &"a".repeat(200), &mut out);
    assert_eq!(n, 2 + MAX_CLOSE_REASON);
}
