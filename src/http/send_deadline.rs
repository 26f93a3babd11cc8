//! A send deadline for the HTTP side of a connection. hyper has a timeout for
//! reading a request head but none for writing a response, so a client that
//! asks for a big file and then reads nothing would hold the connection, the
//! open file and its buffers forever. Wrapped around the connection's stream,
//! this fails a write that has made no progress for the limit (the handshake
//! timeout), which ends the connection. It is switched off once the connection
//! is upgraded: WebSocket sessions have their own send timeout.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `io` with writes that fail after `limit` without progress.
pub struct SendDeadline<I> {
    io: I,
    limit: Duration,
    peer: String,
    armed: Arc<AtomicBool>,
    /// Running while a write waits for the client to take bytes.
    stall: Option<Pin<Box<Sleep>>>,
    cut: bool,
}

impl<I> SendDeadline<I> {
    /// Wraps `io`; storing `false` in the returned flag switches the deadline off.
    pub fn new(io: I, limit: Duration, peer: String) -> (Self, Arc<AtomicBool>) {
        let armed = Arc::new(AtomicBool::new(true));
        let wrapped = SendDeadline {
            io,
            limit,
            peer,
            armed: armed.clone(),
            stall: None,
            cut: false,
        };
        (wrapped, armed)
    }

    /// The stream, for a session that writes to its socket directly (splice);
    /// the deadline is off by then.
    pub fn into_inner(self) -> I {
        self.io
    }

    /// Passes a finished write through (progress: the deadline starts over);
    /// a pending one waits at most until the deadline.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() || !self.armed.load(Ordering::Relaxed) {
            self.stall = None;
            return poll;
        }
        let limit = self.limit;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if !self.cut && stall.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if !self.cut {
            self.cut = true;
            log::info!(
                "{}: read nothing of the response for {limit:?}; closed",
                self.peer
            );
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client stopped reading",
        )))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for SendDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for SendDeadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}
