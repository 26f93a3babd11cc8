//! A plain TCP client taken out of hyper's `Upgraded`, so that the relay can
//! splice to its socket (`relay::splice`). What hyper read past the upgrade
//! request (frames a client sent at once) is read first, as `Upgraded`
//! would have.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use hyper::upgrade::Upgraded;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::no_shutdown::NoShutdown;

/// Turns an upgraded connection into its TCP socket and the bytes already
/// read from it, or gives it back when it is not plain TCP (TLS, a unix
/// socket). The HTTP layer knows the stream types under `Upgraded`, so it
/// provides this (a session may not import it).
pub type Unwrap = fn(Upgraded) -> Result<(TcpStream, Bytes), Upgraded>;

/// The read half of a plain client, with `head` (already read) first.
pub struct Rewound {
    /// `None` once read (or empty from the start): the bytes are a slice of
    /// hyper's read buffer, and holding even an empty slice of it would keep
    /// that whole buffer (kilobytes) for the session's life.
    head: Option<Bytes>,
    r: OwnedReadHalf,
}

/// The two halves of a plain client for the relay. The write half is not
/// shut down when dropped: at a hand-over the socket goes on in the new
/// process (the relay shuts it down itself when a session ends).
pub(super) fn split(tcp: TcpStream, head: Bytes) -> (Rewound, NoShutdown<OwnedWriteHalf>) {
    let (r, w) = tcp.into_split();
    let head = (!head.is_empty()).then_some(head);
    (Rewound { head, r }, NoShutdown::new(w))
}

impl AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(head) = &mut self.head else {
            return Pin::new(&mut self.r).poll_read(cx, buf);
        };
        let n = head.len().min(buf.remaining());
        buf.put_slice(&head[..n]);
        head.advance(n);
        if head.is_empty() {
            self.head = None;
        }
        Poll::Ready(Ok(()))
    }
}
