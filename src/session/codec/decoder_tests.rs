//! Tests of the frame decoder: a reference stream decodes the same whatever
//! its split into reads, each protocol rule fails with its close code, and a
//! huge frame streams through in fixed memory.

use super::super::test_frames::{frame, frame_ext};
use super::*;

/// An event with its bytes owned; data chunks are joined into messages, so
/// runs of the same stream with different splits compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Start(bool),
    Message(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Error(CloseReason),
}

/// Feeds reads to a decoder and records what it yields.
struct Run {
    dec: Decoder,
    events: Vec<Ev>,
    message: Vec<u8>,
    data_events: usize,
}

impl Run {
    fn new(max: Option<u64>) -> Self {
        Self {
            dec: Decoder::new(max),
            events: Vec::new(),
            message: Vec::new(),
            data_events: 0,
        }
    }

    /// Decodes one read; false once the decoder failed.
    fn push(&mut self, read: &[u8]) -> bool {
        let mut buf = read.to_vec();
        let mut pos = 0;
        loop {
            let event = match self.dec.decode(&mut buf[pos..]) {
                Err(reason) => {
                    self.events.push(Ev::Error(reason));
                    return false;
                }
                Ok((n, None)) => {
                    assert_eq!(pos + n, read.len(), "None before the read was used up");
                    return true;
                }
                Ok((n, Some(event))) => {
                    pos += n;
                    event
                }
            };
            let ev = match event {
                Event::MessageStart { text } => Ev::Start(text),
                Event::Data {
                    payload,
                    fin_of_message,
                } => {
                    assert!(!payload.is_empty() || fin_of_message, "empty data chunk");
                    self.data_events += 1;
                    self.message.extend_from_slice(payload);
                    if !fin_of_message {
                        continue;
                    }
                    Ev::Message(std::mem::take(&mut self.message))
                }
                Event::Ping(p) => Ev::Ping(p.to_vec()),
                Event::Pong(p) => Ev::Pong(p.to_vec()),
                Event::Close { code, reason } => Ev::Close(code, reason.to_string()),
            };
            self.events.push(ev);
        }
    }
}

/// The events of `stream` fed as the given reads.
fn decode_reads<'s>(max: Option<u64>, reads: impl IntoIterator<Item = &'s [u8]>) -> Vec<Ev> {
    let mut run = Run::new(max);
    for read in reads {
        if !run.push(read) {
            break;
        }
    }
    run.events
}

fn decode_all(stream: &[u8]) -> Vec<Ev> {
    decode_reads(None, [stream])
}

/// The error of `stream`, the same in one read and byte by byte.
fn error_of(stream: &[u8]) -> CloseReason {
    error_with_limit(stream, None)
}

fn error_with_limit(stream: &[u8], max: Option<u64>) -> CloseReason {
    let whole = decode_reads(max, [stream]);
    let bytes = decode_reads(max, stream.chunks(1));
    assert_eq!(whole, bytes);
    match whole.last() {
        Some(Ev::Error(reason)) => *reason,
        other => panic!("no error: {other:?}"),
    }
}

const M1: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
const M2: [u8; 4] = [0x00, 0xFF, 0x80, 0x01];

/// Binary and text messages, fragments with control frames between them,
/// empty frames, 7/16/64-bit lengths, a close, then bytes to ignore.
fn reference_stream() -> Vec<u8> {
    let big: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let frames = [
        frame(0x82, b"hello", M1),
        frame_ext(0x01, b"ab", M2, 2),
        frame(0x89, b"p1", M1),
        frame_ext(0x00, b"cd", M2, 8),
        frame(0x8A, b"", M1),
        frame(0x80, b"ef", M2),
        frame(0x82, &big, M1),
        frame(0x82, b"", M2),
        frame(0x02, b"xyz", M1),
        frame(0x80, b"", M2),
        frame_ext(0x82, &big[..200], M2, 8),
        frame(0x89, &[0xAB; 125], M1),
        frame(0x88, b"\x03\xE8bye", M2),
        b"ignored after close".to_vec(),
    ];
    frames.concat()
}

fn reference_events() -> Vec<Ev> {
    let big: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    vec![
        Ev::Start(false),
        Ev::Message(b"hello".to_vec()),
        Ev::Start(true),
        Ev::Ping(b"p1".to_vec()),
        Ev::Pong(vec![]),
        Ev::Message(b"abcdef".to_vec()),
        Ev::Start(false),
        Ev::Message(big.clone()),
        Ev::Start(false),
        Ev::Message(vec![]),
        Ev::Start(false),
        Ev::Message(b"xyz".to_vec()),
        Ev::Start(false),
        Ev::Message(big[..200].to_vec()),
        Ev::Ping(vec![0xAB; 125]),
        Ev::Close(Some(1000), "bye".to_string()),
    ]
}

#[test]
fn reference_stream_in_one_read() {
    assert_eq!(decode_all(&reference_stream()), reference_events());
}

#[test]
fn reference_stream_split_at_every_byte() {
    let stream = reference_stream();
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(
            decode_reads(None, [a, b]),
            reference_events(),
            "split at {at}"
        );
    }
}

#[test]
fn reference_stream_byte_by_byte() {
    let stream = reference_stream();
    assert_eq!(decode_reads(None, stream.chunks(1)), reference_events());
}

#[test]
fn reference_stream_random_splits() {
    let stream = reference_stream();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..300 {
        let mut reads = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (read, tail) = rest.split_at(((1 + seed % 40) as usize).min(rest.len()));
            reads.push(read);
            rest = tail;
        }
        assert_eq!(decode_reads(None, reads), reference_events());
    }
}

#[test]
fn data_is_handed_out_per_read_not_gathered() {
    let payload = vec![0x5A; 1000];
    let stream = frame(0x82, &payload, M1);
    let mut run = Run::new(None);
    for read in stream.chunks(100) {
        assert!(run.push(read));
    }
    // 8 header bytes and 1000 payload bytes: one data chunk per read.
    assert_eq!(run.data_events, 11);
    assert_eq!(run.events, [Ev::Start(false), Ev::Message(payload)]);
}

#[test]
fn control_frame_split_across_reads_comes_whole() {
    let payload: Vec<u8> = (0..100).collect();
    let stream = frame(0x8A, &payload, M2);
    assert_eq!(decode_reads(None, stream.chunks(3)), [Ev::Pong(payload)]);
}

#[test]
fn empty_close_has_no_code() {
    let events = decode_all(&frame(0x88, b"", M1));
    assert_eq!(events, [Ev::Close(None, String::new())]);
}

#[test]
fn input_after_close_is_ignored() {
    let mut stream = frame(0x88, b"\x0f\xa0", M1);
    stream.extend_from_slice(&[0xFF; 20]);
    let mut run = Run::new(None);
    assert!(run.push(&stream));
    assert_eq!(run.events, [Ev::Close(Some(4000), String::new())]);
}

#[test]
fn unmasked_frame_is_1002() {
    let mut stream = frame(0x82, b"abc", M1);
    stream[1] &= 0x7F;
    assert_eq!(error_of(&stream), CloseReason::UNMASKED);
    assert_eq!(error_of(&stream).code, 1002);
}

#[test]
fn reserved_bits_are_1002() {
    for rsv in [0x40, 0x20, 0x10] {
        let stream = frame(0x82 | rsv, b"abc", M1);
        assert_eq!(error_of(&stream), CloseReason::RESERVED_BITS);
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        let stream = frame(0x80 | opcode, b"", M1);
        assert_eq!(
            error_of(&stream),
            CloseReason::RESERVED_OPCODE,
            "{opcode:#x}"
        );
    }
}

#[test]
fn control_frame_over_125_bytes_is_1002() {
    for b0 in [0x88, 0x89, 0x8A] {
        let stream = frame(b0, &[0; 126], M1);
        assert_eq!(error_of(&stream), CloseReason::CONTROL_TOO_LONG);
    }
}

#[test]
fn control_frame_without_fin_is_1002() {
    for b0 in [0x08, 0x09, 0x0A] {
        let stream = frame(b0, b"", M1);
        assert_eq!(error_of(&stream), CloseReason::CONTROL_FRAGMENTED);
    }
}

#[test]
fn continuation_without_message_is_1002() {
    let reason = CloseReason::UNEXPECTED_CONTINUATION;
    assert_eq!(error_of(&frame(0x80, b"x", M1)), reason);
    let after_end = [frame(0x82, b"a", M1), frame(0x00, b"b", M1)].concat();
    assert_eq!(error_of(&after_end), reason);
}

#[test]
fn new_message_before_the_last_ended_is_1002() {
    for b0 in [0x81, 0x02] {
        let stream = [
            frame(0x01, b"a", M1),
            frame(0x89, b"", M2),
            frame(b0, b"b", M1),
        ];
        assert_eq!(error_of(&stream.concat()), CloseReason::UNFINISHED_MESSAGE);
    }
}

#[test]
fn close_with_one_byte_is_1002() {
    let stream = frame(0x88, b"\x03", M1);
    assert_eq!(error_of(&stream), CloseReason::CLOSE_PAYLOAD_TRUNCATED);
}

#[test]
fn invalid_close_codes_are_1002() {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let stream = frame(0x88, &code.to_be_bytes(), M1);
        assert_eq!(error_of(&stream), CloseReason::INVALID_CLOSE_CODE, "{code}");
    }
}

#[test]
fn valid_close_codes_are_accepted() {
    for code in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        let stream = frame(0x88, &code.to_be_bytes(), M2);
        assert_eq!(decode_all(&stream), [Ev::Close(Some(code), String::new())]);
    }
}

#[test]
fn close_reason_not_utf8_is_1007() {
    let stream = frame(0x88, b"\x03\xe8ok\xff", M1);
    assert_eq!(error_of(&stream), CloseReason::INVALID_CLOSE_REASON);
    assert_eq!(CloseReason::INVALID_CLOSE_REASON.code, 1007);
}

#[test]
fn length_with_top_bit_set_is_1002() {
    let mut stream = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    stream.extend_from_slice(&M1);
    assert_eq!(error_of(&stream), CloseReason::LENGTH_OVERFLOW);
}

#[test]
fn message_over_the_limit_is_1009() {
    let too_big = CloseReason::TOO_BIG;
    assert_eq!(
        error_with_limit(&frame(0x82, &[1; 11], M1), Some(10)),
        too_big
    );
    let fragments = [frame(0x02, &[1; 6], M1), frame(0x80, &[2; 5], M2)].concat();
    assert_eq!(error_with_limit(&fragments, Some(10)), too_big);
    assert_eq!(too_big.code, 1009);
}

#[test]
fn limit_counts_each_message_on_its_own() {
    let stream = [
        frame(0x02, &[1; 6], M1),
        frame(0x80, &[2; 4], M2),
        frame(0x82, &[3; 10], M1),
    ];
    let events = decode_reads(Some(10), [&stream.concat()[..]]);
    assert_eq!(events.len(), 4, "{events:?}");
}

#[test]
fn error_is_final() {
    let mut dec = Decoder::new(None);
    let mut bad = frame(0x83, b"", M1);
    assert_eq!(dec.decode(&mut bad), Err(CloseReason::RESERVED_OPCODE));
    let mut good = frame(0x82, b"", M1);
    assert_eq!(dec.decode(&mut good), Err(CloseReason::RESERVED_OPCODE));
}

#[test]
fn huge_declared_length_streams_in_fixed_memory() {
    assert!(std::mem::size_of::<Decoder>() <= 256);
    let gib = 1u64 << 30;
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&gib.to_be_bytes());
    header.extend_from_slice(&M1);
    let mut dec = Decoder::new(None);
    let (n, event) = dec.decode(&mut header).expect("header");
    assert_eq!((n, event), (14, Some(Event::MessageStart { text: false })));
    // Masked zeros: the mask repeated. 16 MiB in 4 KiB reads.
    let read: Vec<u8> = M1.iter().copied().cycle().take(4096).collect();
    let mut buf = read.clone();
    for _ in 0..4096 {
        buf.copy_from_slice(&read);
        let (n, event) = dec.decode(&mut buf).expect("data");
        assert_eq!(n, 4096);
        let Some(Event::Data {
            payload,
            fin_of_message: false,
        }) = event
        else {
            panic!("not a data chunk: {event:?}");
        };
        assert!(payload.len() == 4096 && payload.iter().all(|&b| b == 0));
    }
}

#[test]
fn huge_declared_length_over_the_limit_fails_at_the_header() {
    let mut header = vec![0x82, 0xFF];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&M1);
    assert_eq!(
        error_with_limit(&header, Some(1 << 20)),
        CloseReason::TOO_BIG
    );
}

/// The byte-at-a-time XOR that RFC 6455 5.3 describes, as the reference of
/// the word-at-a-time `unmask`.
fn unmask_bytewise(data: &mut [u8], mask: [u8; 4], offset: u64) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[((offset + i as u64) % 4) as usize];
    }
}

#[test]
fn unmask_matches_bytewise_at_every_alignment_length_and_mask_phase() {
    let mask = [0x12, 0x9A, 0xF0, 0x3C];
    let input: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
    for align in 0..16 {
        for len in 0..=40 {
            for offset in [0, 1, 2, 3, 4, 5, 7, 1 << 33] {
                let (mut fast, mut slow) = (input.clone(), input.clone());
                unmask(&mut fast[align..align + len], mask, offset);
                unmask_bytewise(&mut slow[align..align + len], mask, offset);
                assert_eq!(fast, slow, "align {align} len {len} offset {offset}");
            }
        }
    }
}
