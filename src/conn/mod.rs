//! One accepted connection: a PROXY protocol header from a trusted proxy
//! (`proxy_header`), then TLS told from plain by the first byte (as Python
//! websockify does), the TLS handshake in bounded time, then HTTP.

pub mod proxy_header;

use std::future::Future;
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::access::caps::client_key;
use crate::access::{refusal_log, ConnInfo};
use crate::http;
use crate::listen::Peer;

use crate::session::ConnCtx;
use crate::tls::resolver::ACME_TLS_ALPN;

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
pub async fn handle<S>(mut stream: S, mut peer: Peer, ctx: ConnCtx)
where
    S: PeekFirst + AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = ctx.config.clone();
    if config.proxy_protocol && config.gate.trusts(&peer) {
        match proxy_header::read_header_within(&mut stream, proxy_header::HEADER_TIMEOUT).await {
            Ok(Some(source)) => peer = Peer::Tcp(source),
            Ok(None) => {}
            Err(e) => {
                return refused(
                    &peer,
                    format_args!("{peer}: bad PROXY protocol header: {e}; closed"),
                )
            }
        }
    }
    // The client is known now, unless a trusted proxy names it in each
    // request (http counts it then): count it at once, so that connections
    // that never send a request count too. Over its cap, it gets 503 (http).
    if !config.gate.trusts(&peer) {
        if let Some(permit) = &ctx.permit {
            let _refused_later = permit.count_client(peer.ip());
        }
    }
    let limit = config.limits.handshake_timeout;
    let first = match timeout(limit, stream.peek_first()).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) => return log::debug!("{peer}: closed before sending anything"),
        Ok(Err(e)) => return log::debug!("{peer}: {e}"),
        Err(_) => {
            return refused(
                &peer,
                format_args!("{peer}: sent nothing within {limit:?}; closed"),
            )
        }
    };
    match (&config.tls, looks_like_tls(first)) {
        (Some(tls), true) => {
            serve_tls(stream, peer, TlsAcceptor::from(tls.config.clone()), ctx).await
        }
        (None, true) => refused(
            &peer,
            format_args!("{peer}: TLS connection refused: no --cert configured"),
        ),
        (_, false) if config.ssl_only => refused(
            &peer,
            format_args!("{peer}: plain connection refused: --ssl-only is set"),
        ),
        (_, false) => {
            let info = ConnInfo {
                peer,
                tls: false,
                client_cn: None,
            };
            http::serve(stream, info, ctx).await
        }
    }
}

/// Finishes the TLS handshake within the handshake timeout, then serves HTTP.
async fn serve_tls<S>(stream: S, peer: Peer, acceptor: TlsAcceptor, mut ctx: ConnCtx)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    ctx.client_fd = None; // its TLS state cannot move at a hand-over
    let limit = ctx.config.limits.handshake_timeout;
    match timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => {
            if tls_stream.get_ref().1.alpn_protocol() == Some(ACME_TLS_ALPN) {
                // A CA validating TLS-ALPN-01: the handshake was the answer.
                return log::info!("{peer}: ACME TLS-ALPN-01 validation handshake");
            }
            let client_cn = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| common_name(c));
            let info = ConnInfo {
                peer,
                tls: true,
                client_cn,
            };
            http::serve(tls_stream, info, ctx).await
        }
        Ok(Err(e)) => {
            ctx.shared.metrics.refused("tls");
            refused(&peer, format_args!("{peer}: TLS handshake failed: {e}"))
        }
        Err(_) => {
            ctx.shared.metrics.refused("tls");
            refused(
                &peer,
                format_args!("{peer}: TLS handshake not done within {limit:?}; closed"),
            )
        }
    }
}

/// Logs why a connection was refused, within the peer's share of refusal lines.
fn refused(peer: &Peer, line: std::fmt::Arguments<'_>) {
    refusal_log::log(client_key(peer.ip()), log::Level::Info, line);
}

/// The subject CN of a (verified) client certificate, for ClientCertCNAuth.
fn common_name(der: &rustls::pki_types::CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}
