//! Bulk data over an established wss session, for the tests that stream
//! across a certificate change (file reload, ACME renewal).

use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use super::{WssStream, WAIT};

/// Sends `data` in binary messages of 64 KiB.
pub async fn send_all(wss: &mut WssStream, data: &[u8]) {
    for chunk in data.chunks(1 << 16) {
        wss.feed(Message::binary(chunk.to_vec()))
            .await
            .expect("send");
    }
    wss.flush().await.expect("flush");
}

/// Reads binary messages until `len` bytes have come, skipping pings and pongs.
pub async fn receive(wss: &mut WssStream, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        match timeout(WAIT, wss.next()).await.expect("echo timed out") {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    got
}
