//! Connecting to the target: a TCP address (every resolved address in turn,
//! each with a timeout) or a unix socket; and the two halves the relay uses.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};
use tokio::net::{lookup_host, TcpStream, UnixStream};
use tokio::time::timeout;

use super::no_shutdown::NoShutdown;
use crate::addr::{Target, TargetAddr};
use crate::defaults::TARGET_READ_CHUNK;

/// A connected target.
#[derive(Debug)]
pub enum TargetStream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix stream socket.
    Unix(UnixStream),
    /// TLS over TCP.
    Tls(Box<TlsStream>),
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
    /// TLS to the target (`--ssl-target`).
    Tls(tokio::io::ReadHalf<TlsStream>),
}

/// A TLS connection to the target.
pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

impl TargetStream {
    /// Splits into halves that can be used at the same time.
    pub fn into_split(self) -> (TargetReader, TargetWriter) {
        match self {
            TargetStream::Tcp(s) => {
                let (r, w) = s.into_split();
                (TargetReader::Tcp(r), Box::new(NoShutdown::new(w)))
            }
            TargetStream::Unix(s) => {
                let (r, w) = s.into_split();
                (TargetReader::Unix(r), Box::new(NoShutdown::new(w)))
            }
            TargetStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (TargetReader::Tls(r), Box::new(w))
            }
        }
    }
}

/// One call on whichever stream this is.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            TargetStream::Tcp($s) => $e,
            TargetStream::Unix($s) => $e,
            TargetStream::Tls($s) => $e,
        }
    };
}

/// Whole-stream reads, for what a session says to the target before the
/// relay splits it (the RFB handshake).
impl AsyncRead for TargetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for TargetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

impl TargetReader {
    /// The next chunk from the target behind `room` zero bytes (where the
    /// relay puts the frame header); only the room at EOF. Cancel-safe:
    /// nothing is consumed unless it is returned. For sockets the buffer is
    /// allocated only once data is waiting, so an idle session holds none.
    pub async fn read(&mut self, room: usize) -> io::Result<BytesMut> {
        // Both socket halves have the same readiness API but no common trait.
        macro_rules! when_ready {
            ($r:expr) => {
                loop {
                    $r.readable().await?;
                    let mut buf = BytesMut::with_capacity(room + TARGET_READ_CHUNK);
                    buf.resize(room, 0);
                    match $r.try_read_buf(&mut buf) {
                        Ok(_) => return Ok(buf),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
        }
        match self {
            TargetReader::Tcp(r) => when_ready!(r),
            TargetReader::Unix(r) => when_ready!(r),
            TargetReader::Tls(r) => {
                let mut buf = BytesMut::with_capacity(room + TARGET_READ_CHUNK);
                buf.resize(room, 0);
                r.read_buf(&mut buf).await?;
                Ok(buf)
            }
        }
    }
}

/// Connects to `target`, over TLS when `tls` is given (`--ssl-target`,
/// verified against the system's CAs, `SSL_CERT_FILE` adds a private CA);
/// the error says what failed and where.
pub async fn connect(
    target: &Target,
    per_address: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> io::Result<TargetStream> {
    match target {
        Target::Tcp(addr) => {
            let tcp = connect_tcp(addr, per_address).await?;
            let Some(tls) = tls else {
                return Ok(TargetStream::Tcp(tcp));
            };
            let name = ServerName::try_from(addr.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            match timeout(per_address, connector.connect(name, tcp)).await {
                Ok(Ok(s)) => Ok(TargetStream::Tls(Box::new(s))),
                Ok(Err(e)) => Err(io::Error::new(e.kind(), format!("TLS to {addr}: {e}"))),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS to {addr}: no answer within {per_address:?}"),
                )),
            }
        }
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
    // The name lookup counts against the timeout too: a resolver that does
    // not answer must not hold the session (and its slot) for minutes.
    let lookup = lookup_host((target.host.as_str(), target.port));
    let addrs = match timeout(per_address, lookup).await {
        Ok(found) => {
            found.map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {target}: {e}")))?
        }
        Err(_) => {
            let why = format!("cannot resolve {target}: no answer within {per_address:?}");
            return Err(io::Error::new(io::ErrorKind::TimedOut, why));
        }
    };
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
