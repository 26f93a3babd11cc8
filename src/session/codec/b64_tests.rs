//! Tests of the streaming base64 decoder: groups split at every position
//! across chunks decode like the whole, padding and bad input give 1007,
//! and the encoding length helpers agree with the `base64` crate.

use base64::engine::general_purpose::STANDARD;

use super::*;

/// Decodes one message fed as `chunks`; the error of the first bad chunk.
fn decode_chunks<'s>(chunks: impl IntoIterator<Item = &'s [u8]>) -> Result<Vec<u8>, CloseReason> {
    let mut dec = Base64Decoder::new();
    let mut decoded = Vec::new();
    for chunk in chunks {
        let mut out = vec![0; base64_decoded_len_max(chunk.len())];
        let n = dec.decode(chunk, &mut out)?;
        decoded.extend_from_slice(&out[..n]);
    }
    dec.finish()?;
    Ok(decoded)
}

fn sample() -> Vec<u8> {
    (0..=255u8).rev().chain(0..40).collect()
}

#[test]
fn whole_message_decodes() {
    let data = sample();
    let text = STANDARD.encode(&data);
    assert_eq!(decode_chunks([text.as_bytes()]), Ok(data));
}

#[test]
fn groups_split_at_every_position() {
    for len in [1, 2, 3, 10, 11, 12] {
        let data = &sample()[..len];
        let text = STANDARD.encode(data);
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let chunks = [
                    &text.as_bytes()[..a],
                    &text.as_bytes()[a..b],
                    &text.as_bytes()[b..],
                ];
                assert_eq!(decode_chunks(chunks), Ok(data.to_vec()), "{len} {a} {b}");
            }
        }
    }
}

#[test]
fn one_character_chunks() {
    let data = sample();
    let text = STANDARD.encode(&data);
    assert_eq!(decode_chunks(text.as_bytes().chunks(1)), Ok(data));
}

#[test]
fn padded_groups_back_to_back() {
    assert_eq!(decode_chunks([&b"QQ==QkM=RA=="[..]]), Ok(b"ABCD".to_vec()));
    assert_eq!(
        decode_chunks([&b"QQ"[..], b"==Q", b"kM=RA", b"=="]),
        Ok(b"ABCD".to_vec())
    );
}

#[test]
fn message_ending_inside_a_group_is_1007() {
    for text in [&b"QUJD"[..3], b"QQ", b"QQ=", b"QUJDR"] {
        assert_eq!(decode_chunks([text]), Err(CloseReason::INVALID_BASE64));
    }
}

#[test]
fn finish_makes_the_decoder_ready_for_the_next_message() {
    let mut dec = Base64Decoder::new();
    let mut out = [0; 3];
    assert_eq!(dec.decode(b"QQ", &mut out), Ok(0));
    assert_eq!(dec.finish(), Err(CloseReason::INVALID_BASE64));
    assert_eq!(dec.decode(b"QUJD", &mut out), Ok(3));
    assert_eq!(dec.finish(), Ok(()));
}

#[test]
fn invalid_characters_are_1007() {
    for text in [
        &b"QU JD"[..],
        b"QUJ\n",
        b"QU-D",
        b"QUJD\0AAA",
        b"\xc3\xa9AA",
    ] {
        assert_eq!(
            decode_chunks([text]),
            Err(CloseReason::INVALID_BASE64),
            "{text:?}"
        );
    }
    assert_eq!(CloseReason::INVALID_BASE64.code, 1007);
}

#[test]
fn misplaced_padding_is_1007() {
    for text in [&b"Q==="[..], b"=QQQ", b"QQ=A", b"Q=Q=", b"===="] {
        assert_eq!(
            decode_chunks([text]),
            Err(CloseReason::INVALID_BASE64),
            "{text:?}"
        );
    }
}

#[test]
fn trailing_bits_are_ignored_as_python_does() {
    assert_eq!(decode_chunks([&b"QR=="[..]]), Ok(b"A".to_vec()));
}

#[test]
fn encoding_lengths_match_the_crate() {
    for len in 0..50 {
        let encoded = STANDARD.encode(vec![7u8; len]);
        assert_eq!(base64_encoded_len(len), encoded.len());
    }
}
