//! One accepted connection: tell TLS from plain by the first byte (as Python
//! websockify does), finish the TLS handshake in bounded time, then HTTP.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::http;
use crate::listen::Peer;
use crate::shutdown::Shutdown;

/// What every connection shares with the server.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Settings in force when the connection was accepted.
    pub config: Arc<Config>,
    /// Tells the connection to stop; keeps the server's drain open.
    pub shutdown: Shutdown,
    /// Live WebSocket sessions, for status reports and the shutdown grace.
    pub sessions: Arc<watch::Sender<crate::server::SessionCount>>,
}

/// A stream whose first byte can be looked at without consuming it.
pub trait PeekFirst {
    /// The first byte, `None` at EOF; waits until one arrives.
    fn peek_first(&self) -> impl Future<Output = io::Result<Option<u8>>> + Send;
}

impl PeekFirst for TcpStream {
    async fn peek_first(&self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        Ok((self.peek(&mut b).await? == 1).then_some(b[0]))
    }
}

impl PeekFirst for UnixStream {
    async fn peek_first(&self) -> io::Result<Option<u8>> {
        use nix::sys::socket::{recv, MsgFlags};
        use std::os::fd::AsRawFd;
        // tokio has no peek for unix sockets: wait for data, then MSG_PEEK.
        loop {
            self.readable().await?;
            let mut b = [0u8; 1];
            match recv(
                self.as_raw_fd(),
                &mut b,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(0) => return Ok(None),
                Ok(_) => return Ok(Some(b[0])),
                Err(nix::errno::Errno::EAGAIN) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// First bytes of a TLS ClientHello record (0x16) or an SSLv2-style hello (0x80).
fn looks_like_tls(first: u8) -> bool {
    first == 0x16 || first == 0x80
}

/// Handles the connection until it is closed; errors are logged, never returned.
pub async fn handle<S>(stream: S, client: Peer, ctx: Ctx)
where
    S: PeekFirst + AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = ctx.config.clone();
    let limit = config.limits.handshake_timeout;
    let first = match timeout(limit, stream.peek_first()).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) => return log::debug!("{client}: closed before sending anything"),
        Ok(Err(e)) => return log::debug!("{client}: {e}"),
        Err(_) => return log::info!("{client}: sent nothing within {limit:?}; closed"),
    };
    match (&config.tls, looks_like_tls(first)) {
        (Some(tls), true) => {
            let acceptor = TlsAcceptor::from(tls.clone());
            match timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => http::serve(tls_stream, client, ctx).await,
                Ok(Err(e)) => log::info!("{client}: TLS handshake failed: {e}"),
                Err(_) => log::info!("{client}: TLS handshake not done within {limit:?}; closed"),
            }
        }
        (None, true) => log::info!("{client}: TLS connection refused: no --cert configured"),
        (_, false) if config.ssl_only => {
            log::info!("{client}: plain connection refused: --ssl-only is set")
        }
        (_, false) => http::serve(stream, client, ctx).await,
    }
}
