//! Target to client without copies, for plain ws:// sessions whose bytes
//! nothing needs to see. Server-to-client frames are not masked, so after the
//! frame header the payload is exactly the target's bytes: `splice(2)` moves
//! them from the target socket into a pipe and from the pipe to the client
//! socket, and they never enter user space. The frame length is what the
//! first splice moved, so the header can be written before the payload.
//!
//! splice costs two system calls per chunk and a pipe (two descriptors), and
//! HAProxy found it slower than plain copies for small transfers: a session
//! starts on the copying path and takes this one only once a copied read was
//! large (`SPLICE_THRESHOLD`), going back when a splice moves little.
//!
//! Pipes are not per session but a pool (`Pipes`, like HAProxy's
//! `maxpipes`): a pipe is empty between frames, so a session takes one for
//! a frame and gives it back after. An idle session holds none (issue 25's
//! goal 7: idle sessions stay small), and the descriptors splice can cost
//! are bounded whatever the number of sessions: at most `MAX_PIPES` pipes,
//! `2 * MAX_PIPES` descriptors, out of the `RESERVED_FDS` kept aside from
//! the open-file limit when `max-connections` is derived from it. A frame
//! that finds every pipe busy (that many clients slow to take their frames)
//! is copied instead.

use std::io;
use std::os::fd::{AsFd, AsRawFd as _, OwnedFd};

use nix::fcntl::{splice, OFlag, SpliceFFlags};
use nix::sys::socket::{send, MsgFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::session::target::TargetReader;

/// A read at least this large puts the next read on the splice path; a
/// splice that moves less puts it back on the copying path. Below about
/// this size the two extra system calls and the pipe bookkeeping cost more
/// than copying the bytes twice (a frame of a few KiB is one memcpy of a
/// few microseconds).
pub(super) const SPLICE_THRESHOLD: usize = 16 * 1024;

/// At most this much per spliced frame, and the size each pipe asks for
/// (`F_SETPIPE_SZ`; the default is 64 KiB): fewer, larger frames take fewer
/// system calls per byte. The pool's pipes count against the user's
/// pipe-user-pages-soft (16,384 pages by default): `MAX_PIPES` of 1 MiB
/// are 2,048 pages. A pipe that cannot grow (above /proc/sys/fs/pipe-max-size
/// for an unprivileged user) keeps its size and moves less per frame.
const PIPE_CHUNK: usize = 1024 * 1024;

/// The most pipes the process holds for splice (each two descriptors).
pub const MAX_PIPES: usize = 8;

/// The process's pool of empty pipes (in `session::Shared`).
#[derive(Debug, Default)]
pub struct Pipes {
    /// Empty pipes, and how many exist in all (here or lent).
    pool: std::sync::Mutex<(Vec<Pipe>, usize)>,
}

impl Pipes {
    /// An empty pipe: an idle one, else a new one while fewer than
    /// `MAX_PIPES` exist; `None` when all are lent.
    pub(super) fn take(&self) -> Option<io::Result<Pipe>> {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pipe) = pool.0.pop() {
            return Some(Ok(pipe));
        }
        if pool.1 >= MAX_PIPES {
            return None;
        }
        let made = Pipe::new();
        pool.1 += usize::from(made.is_ok());
        Some(made)
    }

    /// Takes back a pipe that is empty again.
    pub(super) fn give(&self, pipe: Pipe) {
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.0.push(pipe);
    }

    /// A lent pipe was closed with bytes in it (its session ended mid-frame).
    pub(super) fn lost(&self, pipe: Pipe) {
        drop(pipe);
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.1 = pool.1.saturating_sub(1);
    }
}

/// The client's write side, when it is a plain TCP socket that splice can
/// write to: the relay's other client streams (TLS, unix sockets) answer
/// `None` and always take the copying path.
pub trait ClientSocket {
    /// The TCP socket under this write half, if any.
    fn tcp(&self) -> Option<&TcpStream>;
}

impl ClientSocket for tokio::net::tcp::OwnedWriteHalf {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl ClientSocket for crate::session::no_shutdown::NoShutdown<tokio::net::tcp::OwnedWriteHalf> {
    fn tcp(&self) -> Option<&TcpStream> {
        self.get_ref().map(|w| w.as_ref())
    }
}

impl<T> ClientSocket for tokio::io::WriteHalf<T> {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// A pipe between the two sockets; empty between frames.
#[derive(Debug)]
pub struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

impl Pipe {
    /// A non-blocking pipe; fails like any descriptor at the open-file limit.
    fn new() -> io::Result<Pipe> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let size = i32::try_from(PIPE_CHUNK).unwrap_or(i32::MAX);
        if let Err(e) = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size)) {
            log::debug!("splice: pipe kept at its default size: {e}");
        }
        Ok(Pipe { r, w })
    }

    /// Moves what the target has (up to `PIPE_CHUNK`) into the pipe, without
    /// waiting: `Ok(0)` at the target's EOF, WouldBlock when nothing is there.
    pub(super) fn fill(&self, tr: &TargetReader) -> io::Result<usize> {
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        let from = |fd: std::os::fd::BorrowedFd<'_>| {
            splice(fd, None, &self.w, None, PIPE_CHUNK, flags).map_err(io::Error::from)
        };
        match tr {
            TargetReader::Tcp(r) => {
                let s: &TcpStream = r.as_ref();
                s.try_io(Interest::READABLE, || from(s.as_fd()))
            }
            TargetReader::Unix(r) => {
                let s: &tokio::net::UnixStream = r.as_ref();
                s.try_io(Interest::READABLE, || from(s.as_fd()))
            }
            TargetReader::Tls(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Moves up to `len` bytes from the pipe to the client, waiting until
    /// the client takes some; how many moved.
    pub(super) async fn drain(&self, client: &TcpStream, len: usize) -> io::Result<usize> {
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        loop {
            client.writable().await?;
            let moved = client.try_io(Interest::WRITABLE, || {
                splice(&self.r, None, client, None, len, flags).map_err(io::Error::from)
            });
            match moved {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                other => return other,
            }
        }
    }
}

/// Sends `head` (a frame header) to the client with MSG_MORE, so that it
/// leaves in one segment with the payload spliced after it; how many bytes
/// went, waiting until the client takes some.
pub(super) async fn send_head(client: &TcpStream, head: &[u8]) -> io::Result<usize> {
    loop {
        client.writable().await?;
        let sent = client.try_io(Interest::WRITABLE, || {
            send(
                client.as_raw_fd(),
                head,
                MsgFlags::from_bits_retain(nix::libc::MSG_MORE),
            )
            .map_err(io::Error::from)
        });
        match sent {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// Waits until the target has something to read (or its EOF).
pub(super) async fn target_readable(tr: &TargetReader) -> io::Result<()> {
    match tr {
        TargetReader::Tcp(r) => r.readable().await,
        TargetReader::Unix(r) => r.readable().await,
        TargetReader::Tls(_) => std::future::pending().await,
    }
}
