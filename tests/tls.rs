//! TLS: wss:// and ws:// on one port, --ssl-only, cert and key files, startup errors.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

async fn echo_once<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, payload: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::binary(payload.to_vec())).await.unwrap();
    let got = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(got, Message::binary(payload.to_vec()));
}

#[tokio::test]
async fn tls_and_plain_share_one_port_with_combined_pem() {
    let (cert, key, der) = self_signed();
    let dir = TempDir::new("tls-combined");
    // cert and key in one file, as `openssl req -keyout x.pem -out x.pem` writes.
    let pem = dir.write("novnc.pem", format!("{key}{cert}"));
    let target = echo_target().await;
    let proxy = Proxy::start(&[
        "--cert",
        pem.to_str().unwrap(),
        "127.0.0.1:0",
        &target.to_string(),
    ]);
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

#[tokio::test]
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
        err.contains("ssl-only") && err.contains("needs `cert`"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_client_without_configured_cert_is_dropped_and_logged() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let (_, _, der) = self_signed();
    assert!(tls_connect(proxy.addr(), &der).await.is_err());
    proxy.wait_for_log("no --cert");
}
