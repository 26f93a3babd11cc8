//! One accepted TCP connection: tell TLS from plain by the first byte (as
//! Python websockify does), finish the TLS handshake in bounded time, then HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::http;
use crate::shutdown::Shutdown;
use crate::web::Web;

/// First bytes of a TLS ClientHello record (0x16) or an SSLv2-style hello (0x80).
fn looks_like_tls(first: u8) -> bool {
    first == 0x16 || first == 0x80
}

/// Handles the connection until it is closed; errors are logged, never returned.
pub async fn handle(
    stream: TcpStream,
    client: SocketAddr,
    config: Arc<Config>,
    web: Option<Web>,
    shutdown: Shutdown,
) {
    let _ = stream.set_nodelay(true);
    let limit = config.limits.handshake_timeout;
    let mut first = [0u8; 1];
    let first = match timeout(limit, stream.peek(&mut first)).await {
        Ok(Ok(0)) => return log::debug!("{client}: closed before sending anything"),
        Ok(Ok(_)) => first[0],
        Ok(Err(e)) => return log::debug!("{client}: {e}"),
        Err(_) => return log::info!("{client}: sent nothing within {limit:?}; closed"),
    };
    match (&config.tls, looks_like_tls(first)) {
        (Some(tls), true) => {
            let acceptor = TlsAcceptor::from(tls.clone());
            match timeout(limit, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => http::serve(tls_stream, client, config, web, shutdown).await,
                Ok(Err(e)) => log::info!("{client}: TLS handshake failed: {e}"),
                Err(_) => log::info!("{client}: TLS handshake not done within {limit:?}; closed"),
            }
        }
        (None, true) => log::info!("{client}: TLS connection refused: no --cert configured"),
        (_, false) if config.ssl_only => {
            log::info!("{client}: plain connection refused: --ssl-only is set")
        }
        (_, false) => http::serve(stream, client, config, web, shutdown).await,
    }
}
