//! TLS: wss:// and ws:// on one port, --ssl-only, cert and key files, startup errors.

use crate::common;

use common::http::status;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread")]
async fn tls_and_plain_share_one_port_with_combined_pem() {
    // cert and key in one file, as `openssl req -keyout x.pem -out x.pem` writes.
    let (proxy, der) = tls_proxy(&TempDir::new("tls-combined"), &[]).await;
    let mut wss = wss_connect(proxy.addr(), &der).await;
    echo_once(&mut wss, b"over tls").await;
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"in the clear").await;
    // 8 MiB each way over TLS, byte-exact.
    let data = pattern(8 << 20, 21);
    for chunk in data.chunks(1 << 16) {
        wss.feed(Message::binary(chunk.to_vec())).await.unwrap();
    }
    wss.flush().await.unwrap();
    let mut got = Vec::new();
    while got.len() < data.len() {
        match timeout(WAIT, wss.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sha256(&got), sha256(&data));
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_only_refuses_plain_clients_but_serves_tls() {
    let (cert, key, der) = self_signed();
    let dir = TempDir::new("tls-only");
    let cert_path = dir.write("c.pem", cert);
    let key_path = dir.write("k.pem", key);
    let target = echo_target_on("[::1]:0").await;
    let mut proxy = Proxy::start(&[
        "--cert",
        cert_path.to_str().unwrap(),
        "--key",
        key_path.to_str().unwrap(),
        "--ssl-only",
        "[::1]:0",
        &format!("[::1]:{}", target.port()),
    ]);
    let tcp = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/websockify", proxy.addr()),
    )
    .unwrap();
    let plain = timeout(WAIT, tokio_tungstenite::client_async(req, tcp)).await;
    assert!(matches!(plain, Ok(Err(_))), "plain client must be refused");
    proxy.wait_for_log("--ssl-only");
    let mut wss = wss_connect(proxy.addr(), &der).await;
    echo_once(&mut wss, b"tls over IPv6 loopback").await;
}

#[test]
fn missing_or_bad_cert_is_a_startup_error_naming_the_file() {
    let dir = TempDir::new("tls-bad");
    let missing = dir.path().join("nope.pem");
    let (ok, err) = run_to_exit(&["--cert", missing.to_str().unwrap(), "0", "localhost:5901"]);
    assert!(!ok);
    assert!(err.contains("nope.pem"), "{err}");
    let junk = dir.write("junk.pem", "not a certificate\n");
    let (ok, err) = run_to_exit(&["--cert", junk.to_str().unwrap(), "0", "localhost:5901"]);
    assert!(!ok);
    assert!(err.contains("junk.pem"), "{err}");
    let (cert, _, _) = self_signed();
    let cert_only = dir.write("certonly.pem", cert);
    let (ok, err) = run_to_exit(&["--cert", cert_only.to_str().unwrap(), "0", "localhost:5901"]);
    assert!(!ok);
    assert!(err.contains("certonly.pem") && err.contains("key"), "{err}");
    let (ok, err) = run_to_exit(&["--ssl-only", "0", "localhost:5901"]);
    assert!(!ok);
    assert!(
        err.contains("ssl-only") && err.contains("needs `cert` or `acme-domain`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_client_without_configured_cert_is_dropped_and_logged() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let (_, _, der) = self_signed();
    assert!(tls_connect(proxy.addr(), &der).await.is_err());
    proxy.wait_for_log("no --cert");
}

/// A test CA that signs client certificates.
struct ClientCa(rcgen::CertifiedIssuer<'static, rcgen::KeyPair>);

impl ClientCa {
    fn new() -> ClientCa {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        ClientCa(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    /// A client certificate for `cn`: (cert DER, PKCS#8 key DER).
    fn client(&self, cn: &str) -> (Vec<u8>, Vec<u8>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.0).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// A [`tls_proxy`] that asks for a client certificate signed by `ca`
/// (`--verify-client --cafile`), with `extra` options; and its server
/// certificate (DER) for the client to trust.
async fn mtls_proxy(dir: &TempDir, ca: &ClientCa, extra: &[&str]) -> (Proxy, Vec<u8>) {
    let ca_file = dir.write("ca.pem", ca.0.pem());
    let verify = ["--verify-client", "--cafile", ca_file.to_str().unwrap()];
    tls_proxy(dir, &[&verify[..], extra].concat()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_client_requires_a_certificate_from_cafile() {
    let ca = ClientCa::new();
    let dir = TempDir::new("mtls");
    let (proxy, server_der) = mtls_proxy(&dir, &ca, &[]).await;
    // Without a client certificate the handshake (or the first read) fails.
    let refused = match tls_connect(proxy.addr(), &server_der).await {
        Err(_) => true,
        Ok(mut s) => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await;
            let mut b = [0u8; 16];
            !matches!(s.read(&mut b).await, Ok(n) if n > 0)
        }
    };
    assert!(refused, "a client without a certificate was served");
    // With one signed by the CA the session works.
    let (client_der, client_key) = ca.client("alice");
    let tls = mtls_connect(proxy.addr(), &server_der, client_der, client_key).await;
    let req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        "wss://localhost/websockify",
    )
    .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    echo_once(&mut ws, b"mutual TLS").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ssl_target_verifies_the_target_against_the_trusted_cas() {
    // A TLS echo target with a self-signed certificate for localhost.
    let (cert, key, _) = self_signed();
    let dir = TempDir::new("ssl-target");
    let cert_path = dir.write("target.pem", &cert);
    let key_path = dir.write("target.key", &key);
    let server =
        websockify::tls::server_config(&cert_path, Some(&key_path), &Default::default()).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server.config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let (mut r, mut w) = tokio::io::split(tls);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
    let target = format!("localhost:{port}");
    // Trusted through SSL_CERT_FILE: relayed over TLS.
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["--ssl-target", "127.0.0.1:0", &target])
        .env("SSL_CERT_FILE", &cert_path)
        .stdin(std::process::Stdio::null());
    let trusted = Proxy::spawn(&mut cmd, 1);
    let (mut ws, _) = ws_connect(trusted.addr(), None).await;
    echo_once(&mut ws, b"through TLS to the target").await;
    // Not trusted (the system's CAs only): the session is refused with 1011.
    let mut untrusted = Proxy::start(&["--ssl-target", "127.0.0.1:0", &target]);
    let (mut ws, _) = ws_connect(untrusted.addr(), None).await;
    let msg = timeout(WAIT, ws.next()).await.unwrap();
    assert!(
        matches!(msg, Some(Ok(Message::Close(Some(ref f)))) if u16::from(f.code) == 1011),
        "{msg:?}"
    );
    let line = untrusted.wait_for_log("session refused");
    assert!(
        line.contains("TLS") || line.contains("certificate"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_cert_cn_auth_admits_listed_names_only() {
    let ca = ClientCa::new();
    let dir = TempDir::new("cn-auth");
    let cn_auth = [
        "--auth-plugin",
        "ClientCertCNAuth",
        "--auth-source",
        "alice carol",
    ];
    let (proxy, server_der) = mtls_proxy(&dir, &ca, &cn_auth).await;
    for (cn, want) in [("alice", 101), ("bob", 403)] {
        let (der, key) = ca.client(cn);
        let mut tls = mtls_connect(proxy.addr(), &server_der, der, key).await;
        let head = upgrade_on(&mut tls, "localhost", "/", "").await;
        assert_eq!(status(&head), want, "CN {cn}: {head}");
    }
}

/// A TLS connection to the proxy presenting a client certificate (DER cert
/// and PKCS#8 key), trusting only the server certificate `server_der`.
async fn mtls_connect(
    addr: std::net::SocketAddr,
    server_der: &[u8],
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(server_der.to_vec()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![CertificateDer::from(cert_der)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
    )
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// A browser closing a wss:// tab drops the connection without TLS's
/// close_notify: an ordinary end, logged in plain words at INFO, not as
/// rustls's message with its documentation URL.
#[tokio::test(flavor = "multi_thread")]
async fn a_tls_connection_dropped_without_goodbye_is_logged_plainly() {
    let (mut proxy, der) = tls_proxy(&TempDir::new("tls-drop"), &[]).await;
    let mut wss = wss_connect(proxy.addr(), &der).await;
    echo_once(&mut wss, b"then gone").await;
    drop(wss);
    let line = proxy.wait_for_log("session closed");
    assert!(
        line.contains("INFO")
            && line.contains("close 1006 (connection closed without a TLS goodbye)"),
        "{line}"
    );
    assert!(!line.contains("docs.rs"), "{line}");
}
