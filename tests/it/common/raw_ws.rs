//! The WebSocket protocol on raw sockets, with no client library, so that
//! tests can write any bytes: the upgrade request and its answer (also
//! a refusal), and frames both ways.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{send, status};
use super::WAIT;

/// The key line of [`upgrade_request`] (RFC 6455's sample nonce), for tests
/// that take it out.
pub const KEY_LINE: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// A WebSocket upgrade request for `path` as a browser sends it to `host`,
/// with `extra` header lines (each ending in `\r\n`).
pub fn upgrade_request(host: &str, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\n{KEY_LINE}Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Sends an upgrade request for `path` with `extra` header lines on a new
/// connection; returns the answer's head as the first read brings it
/// (empty: closed) and the connection, still open (a session, or a
/// refused client that holds its place).
pub async fn try_upgrade(addr: SocketAddr, path: &str, extra: &str) -> (String, TcpStream) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = upgrade_on(&mut s, &addr.to_string(), path, extra).await;
    (head, s)
}

/// [`try_upgrade`]'s answer alone; the connection is closed.
pub async fn upgrade_head(addr: SocketAddr, path: &str, extra: &str) -> String {
    try_upgrade(addr, path, extra).await.0
}

/// [`try_upgrade`]'s status code alone (0: closed without an answer).
pub async fn upgrade_status(addr: SocketAddr, path: &str, extra: &str) -> u16 {
    status(&upgrade_head(addr, path, extra).await)
}

/// Sends an upgrade request to `host` on a connection already open (after
/// a PROXY header, over TLS, on a unix socket); returns the answer's head.
pub async fn upgrade_on<S>(s: &mut S, host: &str, path: &str, extra: &str) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send(s, upgrade_request(host, path, extra).as_bytes()).await
}

/// Completes a WebSocket upgrade at `path` on a raw socket (no client
/// library, so tests can write any bytes), offering `protocol` if any.
pub async fn raw_upgrade(addr: SocketAddr, path: &str, protocol: Option<&str>) -> TcpStream {
    raw_upgrade_with(addr, path, protocol, "").await
}

/// [`raw_upgrade`] with `extra` header lines (each ending in `\r\n`).
pub async fn raw_upgrade_with(
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
    extra: &str,
) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let offer = protocol.map_or(String::new(), |p| {
        format!("Sec-WebSocket-Protocol: {p}\r\n")
    });
    let head = upgrade_request("localhost", path, &format!("{offer}{extra}"));
    s.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tokio::time::timeout(WAIT, s.read_exact(&mut b))
            .await
            .expect("101")
            .expect("read");
        got.push(b[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s
}

/// Reads one server frame from a raw socket: (opcode, payload).
pub async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    tokio::time::timeout(WAIT, s.read_exact(&mut h))
        .await
        .expect("frame")
        .expect("read");
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.expect("len16");
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).await.expect("len64");
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tokio::time::timeout(WAIT, s.read_exact(&mut payload))
        .await
        .expect("payload")
        .expect("read");
    (h[0] & 0x0F, payload)
}

/// The mask key of the client frames the tests write.
const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// A masked client frame: `b0` is FIN and opcode, the length form follows
/// `payload`.
pub fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    client_frame_claiming(b0, payload, payload.len() as u64)
}

/// A masked client frame header announcing `len` bytes, followed by
/// `payload` (which may be shorter: the rest is the test's to send, or not).
pub fn client_frame_claiming(b0: u8, payload: &[u8], len: u64) -> Vec<u8> {
    let mut f = vec![b0];
    match len {
        0..=125 => f.push(0x80 | len as u8),
        126..=0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            f.push(0x80 | 127);
            f.extend_from_slice(&len.to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}
