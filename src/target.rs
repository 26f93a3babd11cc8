//! Connecting to the target: every resolved address in turn, each with a timeout.

use std::io;
use std::time::Duration;

use tokio::net::{lookup_host, TcpStream};
use tokio::time::timeout;

use crate::addr::TargetAddr;

/// Connects to the first address of `target` that accepts within `per_address`.
/// The error names the target and the last failure, for the session log line.
pub async fn connect(target: &TargetAddr, per_address: Duration) -> io::Result<TcpStream> {
    let addrs = lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {target}: {e}")))?;
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{target} resolved to no address"),
    );
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
                    format!("connect to {addr}: timed out after {per_address:?}"),
                );
            }
        }
    }
    Err(last)
}
