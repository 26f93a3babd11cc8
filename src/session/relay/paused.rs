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
