//! WebSocket clients through a library (tokio-tungstenite) over plain
//! TCP, as a browser's side of a session.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use super::WAIT;

/// Client WebSocket type over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// Client settings that accept the big messages the tests send and receive.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Connects a WebSocket client over plain TCP, offering `protocols`.
/// Returns the socket and the subprotocol the server chose.
pub async fn ws_connect(addr: SocketAddr, protocols: Option<&str>) -> (Ws, Option<String>) {
    let tcp = TcpStream::connect(addr).await.expect("connect to proxy");
    let mut req = format!("ws://{addr}/websockify")
        .into_client_request()
        .unwrap();
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let (ws, resp) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async_with_config(req, tcp, Some(client_config())),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake");
    let chosen = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (ws, chosen)
}

/// Sends `payload` as one binary message and waits for it to come back
/// (skipping heartbeat pings).
pub async fn echo_once<S>(ws: &mut WebSocketStream<S>, payload: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::binary(payload.to_vec())).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => return assert_eq!(&b[..], payload),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}
