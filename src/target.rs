//! Connecting to the target: a TCP address (every resolved address in turn,
//! each with a timeout) or a unix socket; and the two halves the relay uses.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWrite;
use tokio::net::{lookup_host, TcpStream, UnixStream};
use tokio::time::timeout;

use crate::addr::TargetAddr;

/// Where sessions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port`.
    Tcp(TargetAddr),
    /// A unix stream socket (`--unix-target`, or a token's `unix_socket:`).
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(a) => write!(f, "{a}"),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A connected target.
#[derive(Debug)]
pub enum TargetStream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix stream socket.
    Unix(UnixStream),
}

/// The write half: any byte sink.
pub type TargetWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// The read half. Reading is "wait until readable, then take what is there",
/// so the relay allocates a buffer only once data is waiting.
#[derive(Debug)]
pub enum TargetReader {
    /// TCP.
    Tcp(tokio::net::tcp::OwnedReadHalf),
    /// Unix stream socket.
    Unix(tokio::net::unix::OwnedReadHalf),
}

impl TargetStream {
    /// Splits into halves that can be used at the same time.
    pub fn into_split(self) -> (TargetReader, TargetWriter) {
        match self {
            TargetStream::Tcp(s) => {
                let (r, w) = s.into_split();
                (TargetReader::Tcp(r), Box::new(w))
            }
            TargetStream::Unix(s) => {
                let (r, w) = s.into_split();
                (TargetReader::Unix(r), Box::new(w))
            }
        }
    }
}

impl TargetReader {
    /// Waits until data (or EOF) is waiting.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            TargetReader::Tcp(r) => r.readable().await,
            TargetReader::Unix(r) => r.readable().await,
        }
    }

    /// Reads what is waiting without blocking (`WouldBlock` if nothing is).
    pub fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            TargetReader::Tcp(r) => r.try_read_buf(buf),
            TargetReader::Unix(r) => r.try_read_buf(buf),
        }
    }
}

/// Connects to `target`; the error says what failed and where.
pub async fn connect(target: &Target, per_address: Duration) -> io::Result<TargetStream> {
    match target {
        Target::Tcp(addr) => connect_tcp(addr, per_address).await.map(TargetStream::Tcp),
        Target::Unix(path) => match timeout(per_address, UnixStream::connect(path)).await {
            Ok(Ok(s)) => Ok(TargetStream::Unix(s)),
            Ok(Err(e)) => Err(io::Error::new(
                e.kind(),
                format!("connect to {}: {e}", path.display()),
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "connect to {}: no answer within {per_address:?}",
                    path.display()
                ),
            )),
        },
    }
}

/// Resolves `target` and connects to the first address that accepts within
/// `per_address`. The error names the target and the last failure.
async fn connect_tcp(target: &TargetAddr, per_address: Duration) -> io::Result<TcpStream> {
    let addrs = lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {target}: {e}")))?;
    connect_first(addrs, per_address)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("{target}: {e}")))
}

/// Tries `addrs` in order; a refused or silent address does not stop the next.
pub async fn connect_first(
    addrs: impl IntoIterator<Item = SocketAddr>,
    per_address: Duration,
) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "resolved to no address");
    for addr in addrs {
        match timeout(per_address, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Ok(Err(e)) => {
                log::debug!("connect to {addr} failed: {e}");
                last = io::Error::new(e.kind(), format!("connect to {addr}: {e}"));
            }
            Err(_) => {
                log::debug!("connect to {addr} timed out");
                last = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {addr}: no answer within {per_address:?}"),
                );
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback listener whose accept queue is full, so new SYNs go
    /// unanswered: the closest thing to an unreachable host that stays local.
    fn silent_listener() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        socket.listen(0).unwrap();
        let listener: std::net::TcpListener = socket.into();
        let addr = listener.local_addr().unwrap();
        // With a backlog of 0 the queue holds one connection; this is it.
        let fill = vec![std::net::TcpStream::connect(addr).unwrap()];
        (listener, fill, addr)
    }

    #[tokio::test]
    async fn refused_and_silent_addresses_are_skipped() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (_silent, _fill, silent) = silent_listener();
        let stream = connect_first([refused, silent, live_addr], Duration::from_millis(500))
            .await
            .expect("the live address");
        assert_eq!(stream.peer_addr().unwrap(), live_addr);
        let err = connect_first([refused, silent], Duration::from_millis(500))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    }
}
