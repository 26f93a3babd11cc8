//! Connecting to the target: every resolved address in turn, each with a timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{lookup_host, TcpStream};
use tokio::time::timeout;

use crate::addr::TargetAddr;

/// Resolves `target` and connects to the first address that accepts within
/// `per_address`. The error names the target and the last failure.
pub async fn connect(target: &TargetAddr, per_address: Duration) -> io::Result<TcpStream> {
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
