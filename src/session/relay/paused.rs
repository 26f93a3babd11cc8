//! What a paused session's client-to-target direction knows that its
//! sockets do not: where the client is inside a frame and a message. At a
//! hand-over (SIGUSR2) it moves to the new process with the two sockets
//! (`session::resume`). The other direction needs nothing: it pauses
//! between whole frames, and the target's bytes wait in the socket.

use std::os::fd::{BorrowedFd, IntoRawFd as _, RawFd};

use serde::{Deserialize, Serialize};

use crate::session::codec::{Base64Decoder, Decoder, MessageLimit};

/// The client-side decoding state at a clean point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Paused {
    /// The frame decoder: partial header, mask and offset, fragmentation,
    /// message size so far.
    pub(super) decoder: Decoder,
    /// `base64` mode: the partial 4-character group and the decoded message
    /// size so far.
    pub(super) b64: Option<(Base64Decoder, MessageLimit)>,
    /// The current message is text (base64).
    pub(super) text: bool,
}

/// Completes once a hand-over asks the session to pause (never if the
/// table that would ask is gone).
pub(super) async fn requested(pause: &mut tokio::sync::watch::Receiver<bool>) {
    let asked = pause.wait_for(|p| *p).await.is_ok();
    if !asked {
        std::future::pending::<()>().await;
    }
}

/// A paused session's sockets, duplicated before the relay lets its streams
/// go (dropping those closes their descriptors, not the connections), and
/// close-on-exec until the daemon clears it on the ones it hands over.
#[derive(Debug)]
pub struct Kept {
    /// The decoding state.
    pub paused: Paused,
    /// The client's and the target's socket.
    pub fds: [RawFd; 2],
}

/// Duplicates the session's `[client, target]` sockets.
pub(super) fn keep(fds: [RawFd; 2]) -> std::io::Result<[RawFd; 2]> {
    let client = dup(fds[0])?;
    match dup(fds[1]) {
        Ok(target) => Ok([client, target]),
        Err(e) => {
            let _ = nix::unistd::close(client);
            Err(e)
        }
    }
}

#[allow(unsafe_code)]
fn dup(fd: RawFd) -> std::io::Result<RawFd> {
    // SAFETY: `fd` is a socket of the session being paused, open until the
    // relay returns, which it has not yet.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(borrowed.try_clone_to_owned()?.into_raw_fd())
}

#[cfg(test)]
mod tests {
    use crate::session::codec::test_frames::frame;
    use crate::session::codec::{Base64Decoder, Decoder, Event};

    /// What a decoder made of `input`: the data bytes, and a mark for each
    /// message start, ping and end.
    fn decoded(dec: &mut Decoder, input: &[u8]) -> Vec<u8> {
        let mut buf = input.to_vec();
        let (mut pos, mut out) = (0, Vec::new());
        while let (used, Some(event)) = dec.decode(&mut buf[pos..]).expect("valid frames") {
            pos += used;
            match event {
                Event::MessageStart { text } => {
                    out.extend_from_slice(if text { b"<T" } else { b"<B" })
                }
                Event::Data {
                    payload,
                    fin_of_message,
                } => {
                    out.extend_from_slice(payload);
                    out.extend_from_slice(if fin_of_message { b">" } else { b"" });
                }
                Event::Ping(p) => out.extend([b"[".as_slice(), p, b"]"].concat()),
                Event::Pong(_) | Event::Close { .. } => {}
            }
        }
        out
    }

    /// Through JSON, as the hand-over carries it.
    fn moved<T: serde::Serialize + serde::de::DeserializeOwned>(t: &T) -> T {
        serde_json::from_str(&serde_json::to_string(t).expect("serialize")).expect("deserialize")
    }

    #[test]
    fn a_decoder_moved_at_any_byte_goes_on_as_if_it_had_not() {
        let mask = [0x0f, 0xa1, 0x5c, 0x33];
        let data: Vec<u8> = (0..300u16).map(|i| (i % 251) as u8).collect();
        // A fragmented binary message with a ping between its fragments,
        // one frame with a 2-byte extended length, then a text frame.
        let stream = [
            frame(0x02, &data[..100], mask),
            frame(0x89, b"ping!", mask),
            frame(0x80, &data[100..], mask),
            frame(0x81, b"AAEC", mask),
        ]
        .concat();
        let whole = decoded(&mut Decoder::new(Some(1000)), &stream);
        for cut in 0..=stream.len() {
            let mut dec = Decoder::new(Some(1000));
            let mut got = decoded(&mut dec, &stream[..cut]);
            let mut dec = moved(&dec);
            got.extend(decoded(&mut dec, &stream[cut..]));
            assert_eq!(got, whole, "moved after byte {cut}");
        }
    }

    #[test]
    fn a_base64_decoder_moved_inside_a_group_goes_on() {
        let text = b"AAECAwQFBgcICQ==";
        let decode = |dec: &mut Base64Decoder, input: &[u8]| {
            let mut out = vec![0u8; crate::session::codec::base64_decoded_len_max(input.len())];
            let n = dec.decode(input, &mut out).expect("valid base64");
            out.truncate(n);
            out
        };
        let whole = decode(&mut Base64Decoder::new(), text);
        for cut in 0..=text.len() {
            let mut dec = Base64Decoder::new();
            let mut got = decode(&mut dec, &text[..cut]);
            let mut dec = moved(&dec);
            got.extend(decode(&mut dec, &text[cut..]));
            dec.finish().expect("complete");
            assert_eq!(got, whole, "moved after character {cut}");
        }
    }
}
