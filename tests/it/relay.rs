//! Bytes through the real binary: WebSocket client <-> proxy <-> TCP target.

use crate::common;

use common::http::exchange;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Reads binary payloads until the connection ends; returns (bytes, the
/// server's close frame). Reading on after the close frame sends our reply.
async fn read_until_close(ws: &mut Ws) -> (Vec<u8>, Option<CloseFrame>) {
    let mut got = Vec::new();
    let mut close = None;
    loop {
        match timeout(WAIT, ws.next()).await.expect("read timed out") {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            Some(Ok(Message::Close(frame))) => close = frame,
            Some(Ok(_)) => {}
            Some(Err(e)) if close.is_some() => {
                eprintln!("client read error after the close frame: {e}");
                return (got, close);
            }
            Some(Err(e)) => panic!("client read error after {} bytes: {e}", got.len()),
            None => return (got, close),
        }
    }
}

fn target_arg(addr: std::net::SocketAddr) -> String {
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_round_trips_in_order() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, protocol) = ws_connect(proxy.addr(), None).await;
    assert_eq!(protocol, None, "no offer, no subprotocol");
    for i in 0..200u32 {
        let msg = pattern(1 + (i as usize * 37) % 3000, i as u64);
        ws.send(Message::binary(msg.clone())).await.unwrap();
        let mut got = Vec::new();
        while got.len() < msg.len() {
            match timeout(WAIT, ws.next()).await.unwrap() {
                Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, msg, "message {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn target_to_client_64_mib_exact_then_1000() {
    let data = pattern(64 << 20, 7);
    let want = sha256(&data);
    let target = source_target(data).await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, _) = ws_connect(proxy.addr(), Some("binary")).await;
    let (got, close) = read_until_close(&mut ws).await;
    assert_eq!(got.len(), 64 << 20);
    assert_eq!(sha256(&got), want);
    let close = close.expect("close frame");
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(close.reason.as_str(), "Target closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_to_target_64_mib_exact_in_odd_sized_messages() {
    let data = pattern(64 << 20, 11);
    let want = sha256(&data);
    let (target, received) = sink_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    let mut sent = 0;
    let mut size = 1;
    while sent < data.len() {
        let end = (sent + size).min(data.len());
        ws.feed(Message::binary(data[sent..end].to_vec()))
            .await
            .unwrap();
        sent = end;
        size = (size * 7 + 13) % 200_000 + 1;
    }
    ws.flush().await.unwrap();
    ws.close(None).await.unwrap();
    let got = timeout(WAIT, received).await.expect("target EOF").unwrap();
    assert_eq!(got.len(), data.len());
    assert_eq!(sha256(&got), want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_16_mib_message_arrives_whole_and_a_bigger_one_gets_1009() {
    let (target, received) = sink_target().await;
    let limit = (16 << 20).to_string();
    let proxy = Proxy::start(&[
        "--max-message-size",
        &limit,
        "127.0.0.1:0",
        &target_arg(target),
    ]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    let big = pattern(16 << 20, 3);
    ws.send(Message::binary(big.clone())).await.unwrap();
    ws.send(Message::binary(vec![0u8; (16 << 20) + 1]))
        .await
        .unwrap();
    let (_, close) = read_until_close(&mut ws).await;
    assert_eq!(close.expect("close frame").code, CloseCode::Size);
    let got = timeout(WAIT, received).await.expect("target EOF").unwrap();
    assert_eq!(
        sha256(&got),
        sha256(&big),
        "16 MiB delivered, oversize one dropped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_close_delivers_everything_in_flight_then_eof() {
    let (target, received) = sink_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    let data = pattern(8 << 20, 5);
    for chunk in data.chunks(4096) {
        ws.feed(Message::binary(chunk.to_vec())).await.unwrap();
    }
    // The close frame goes out right behind the data, with no wait.
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    let got = timeout(WAIT, received).await.expect("target EOF").unwrap();
    assert_eq!(sha256(&got), sha256(&data));
    // The proxy echoes the client's close code.
    let (_, close) = read_until_close(&mut ws).await;
    let close = close.expect("the proxy's close frame (a bare EOF is a failure)");
    assert_eq!(close.code, CloseCode::Normal);
}

#[tokio::test(flavor = "multi_thread")]
async fn target_half_close_lets_the_client_finish_sending() {
    // The target sends a greeting, shuts its write side, then reads to EOF.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"hello").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        let _ = tx.send(got);
    });
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    let first = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first, Message::binary(b"hello".to_vec()));
    // The target has shut its write side; the proxy's close frame may already
    // be on its way. What the client sends now must still reach the target.
    ws.send(Message::binary(b"world".to_vec())).await.unwrap();
    let (rest, close) = read_until_close(&mut ws).await;
    assert!(rest.is_empty());
    assert_eq!(close.unwrap().reason.as_str(), "Target closed");
    let got = timeout(WAIT, rx).await.expect("target EOF").unwrap();
    assert_eq!(got, b"world");
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_target_gets_1011_and_a_log_line() {
    let target = dead_target().await;
    let mut proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    let (_, close) = read_until_close(&mut ws).await;
    let close = close.expect("close frame");
    assert_eq!(close.code, CloseCode::Error);
    assert_eq!(
        close.reason.as_str(),
        "Failed to connect to downstream server"
    );
    let line = proxy.wait_for_log("session refused");
    assert!(line.contains(&target.to_string()), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn text_frame_in_binary_mode_gets_1003() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, _) = ws_connect(proxy.addr(), Some("binary")).await;
    ws.send(Message::text("hello")).await.unwrap();
    let (_, close) = read_until_close(&mut ws).await;
    assert_eq!(close.expect("close").code, CloseCode::Unsupported);
}

#[tokio::test(flavor = "multi_thread")]
async fn subprotocol_binary_is_chosen_from_any_offer() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    for offer in ["binary", "binary, base64", "base64 ,binary"] {
        let (mut ws, chosen) = ws_connect(proxy.addr(), Some(offer)).await;
        assert_eq!(chosen.as_deref(), Some("binary"), "offer {offer:?}");
        echo_once(&mut ws, b"abc").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn subprotocol_base64_speaks_text_frames_both_ways() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    let (mut ws, chosen) = ws_connect(proxy.addr(), Some("base64")).await;
    assert_eq!(chosen.as_deref(), Some("base64"));
    let data = pattern(100_000, 9);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    ws.send(Message::text(b64.encode(&data))).await.unwrap();
    let mut got = Vec::new();
    while got.len() < data.len() {
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => got.extend(b64.decode(t.as_str()).unwrap()),
            other => panic!("expected text frames, got {other:?}"),
        }
    }
    assert_eq!(got, data);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_subprotocol_and_bad_handshakes_get_400() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target_arg(target)]);
    // A valid request but for one thing each: no key, a version from the
    // future, a subprotocol nobody speaks.
    let valid = upgrade_request("localhost", "/", "");
    let cases = [
        valid.replace(KEY_LINE, ""),
        valid.replace("Version: 13", "Version: 99"),
        upgrade_request("localhost", "/", "Sec-WebSocket-Protocol: chat\r\n"),
    ];
    for req in cases {
        let resp = exchange(proxy.addr(), req.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{req:?} -> {resp}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_loopback_both_ends() {
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    let proxy = Proxy::start(&["[::1]:0", &format!("[::1]:{}", target.port())]);
    assert!(proxy.addr().is_ipv6());
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"over v6").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bare_port_listens_on_ipv4_and_ipv6() {
    let target = echo_target().await;
    // Bare port 0: 0.0.0.0 and [::] each on a port the kernel picks (a
    // nonzero bare port takes the same code path with that port for both;
    // probing for one free on both would race).
    let proxy = Proxy::start_expecting(&["0", &target_arg(target)], 2);
    let v4 = proxy.addrs.iter().find(|a| a.is_ipv4());
    let v6 = proxy.addrs.iter().find(|a| a.is_ipv6());
    let (Some(v4), Some(v6)) = (v4, v6) else {
        panic!("not on both families: {:?}", proxy.addrs)
    };
    assert!(
        v4.ip().is_unspecified() && v6.ip().is_unspecified(),
        "{:?}",
        proxy.addrs
    );
    for host in ["127.0.0.1", "::1"] {
        let ip: std::net::IpAddr = host.parse().unwrap();
        let port = if ip.is_ipv4() { v4.port() } else { v6.port() };
        let (mut ws, _) = ws_connect((ip, port).into(), None).await;
        echo_once(&mut ws, host.as_bytes()).await;
    }
}
