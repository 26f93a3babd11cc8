//! TLS for the tests: a self-signed certificate for the proxy, and
//! TLS and wss:// clients that trust only the certificates they are given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::WebSocketStream;

use super::{echo_target, Proxy, TempDir, WAIT};

/// A self-signed certificate for localhost/127.0.0.1/::1: (cert PEM, key PEM, DER).
pub fn self_signed() -> (String, String, Vec<u8>) {
    let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
    )
}

/// A fresh self-signed certificate and its key in one file, `server.pem`
/// in `dir`, key first as `openssl req -keyout x.pem -out x.pem` writes
/// it: (its path, the certificate's DER for a client to trust).
pub fn combined_pem(dir: &TempDir) -> (PathBuf, Vec<u8>) {
    let (cert, key, der) = self_signed();
    (dir.write("server.pem", format!("{key}{cert}")), der)
}

/// A proxy to an echo target serving wss:// (and ws://) on one loopback
/// port with a [`combined_pem`] in `dir` as `--cert`, and `extra` options;
/// and the certificate's DER for a client to trust.
pub async fn tls_proxy(dir: &TempDir, extra: &[&str]) -> (Proxy, Vec<u8>) {
    let (pem, der) = combined_pem(dir);
    let target = echo_target().await.to_string();
    let cert = ["--cert", pem.to_str().expect("utf-8 path")];
    let listen = ["127.0.0.1:0", &target];
    (Proxy::start(&[&cert[..], extra, &listen[..]].concat()), der)
}

/// Client WebSocket type over TLS.
pub type WssStream = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Opens a TLS connection to the proxy trusting only `cert_der`.
pub async fn tls_connect(
    addr: SocketAddr,
    cert_der: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    tls_connect_as(addr, "localhost", &[cert_der]).await
}

/// The certificate (DER) `addr` presents for `name`, verified against the
/// `roots` (DER) only.
pub async fn served_cert(
    addr: SocketAddr,
    name: &str,
    roots: &[&[u8]],
) -> std::io::Result<Vec<u8>> {
    let tls = tls_connect_as(addr, name, roots).await?;
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
    Ok(leaf.expect("a verified server sent a certificate").to_vec())
}

/// A TLS connection to `addr` for the server name `name`, trusting only `roots`.
pub async fn tls_connect_as(
    addr: SocketAddr,
    name: &str,
    roots_der: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for der in roots_der {
        roots
            .add(CertificateDer::from(der.to_vec()))
            .expect("add root");
    }
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    timeout_io(connector.connect(name, tcp)).await
}

async fn timeout_io<T>(
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// A wss:// WebSocket client trusting only `cert_der`.
pub async fn wss_connect(addr: SocketAddr, cert_der: &[u8]) -> WssStream {
    wss_connect_as(addr, "localhost", &[cert_der]).await
}

/// A wss:// WebSocket client for the server name `name`, trusting only `roots`.
pub async fn wss_connect_as(addr: SocketAddr, name: &str, roots: &[&[u8]]) -> WssStream {
    let tls = tls_connect_as(addr, name, roots)
        .await
        .expect("TLS handshake");
    let req = format!("wss://{name}:{}/websockify", addr.port())
        .into_client_request()
        .unwrap();
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, tls))
        .await
        .expect("handshake timed out")
        .expect("handshake");
    ws
}

/// The first certificate of a PEM file, as DER.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM certificate")
}
