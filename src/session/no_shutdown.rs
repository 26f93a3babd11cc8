//! A write half (the target's, or a plain client's) that does not shut the socket's writing down when it
//! is dropped, as tokio's `OwnedWriteHalf` does. A session paused for a
//! hand-over lets its streams go while a duplicate of the socket moves to the
//! new process: a FIN then would end the target's side of a connection that
//! goes on. Nothing else changes: the relay ends a session with an explicit
//! shutdown, and closing a socket's last descriptor sends FIN anyway.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// The write halves this wraps.
pub(super) trait Forget: AsyncWrite + Unpin {
    /// Lets the half go without shutting writing down.
    fn forget(self);
}

impl Forget for tokio::net::tcp::OwnedWriteHalf {
    fn forget(self) {
        tokio::net::tcp::OwnedWriteHalf::forget(self);
    }
}

impl Forget for tokio::net::unix::OwnedWriteHalf {
    fn forget(self) {
        tokio::net::unix::OwnedWriteHalf::forget(self);
    }
}

/// `W`, forgotten rather than shut down when dropped.
pub(super) struct NoShutdown<W: Forget>(Option<W>);

impl<W: Forget> NoShutdown<W> {
    pub(super) fn new(w: W) -> Self {
        Self(Some(w))
    }

    /// The half, until it is let go.
    pub(super) fn get_ref(&self) -> Option<&W> {
        self.0.as_ref()
    }

    fn inner(&mut self) -> io::Result<Pin<&mut W>> {
        match &mut self.0 {
            Some(w) => Ok(Pin::new(w)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl<W: Forget> Drop for NoShutdown<W> {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            w.forget();
        }
    }
}

impl<W: Forget> AsyncWrite for NoShutdown<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.inner() {
            Ok(w) => w.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(w) => w.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(w) => w.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
