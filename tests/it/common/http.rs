//! Plain HTTP/1.1 on raw sockets: the binary's side endpoints (metrics,
//! health) one request per connection, as a load balancer's probe sends
//! them; requests of any bytes and the status line of the answer.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use super::{Proxy, WAIT};

/// The metrics address the binary logged.
pub fn metrics_addr(proxy: &mut Proxy) -> SocketAddr {
    let line = proxy.wait_for_log("metrics: serving on ");
    let addr = line
        .split("metrics: serving on ")
        .nth(1)
        .unwrap_or_default();
    addr.trim().parse().expect("metrics address")
}

/// One GET: (status, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let got = exchange_all(addr, req.as_bytes()).await;
    let body = got.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status(&got), body)
}

/// The status code of an answer (0: none, e.g. the connection closed).
pub fn status(answer: &str) -> u16 {
    let line = answer.lines().next().unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Sends `request` (any bytes) on a new connection; returns what the first
/// read brings back (empty: closed without an answer).
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    send(&mut s, request).await
}

/// Sends `request` on a new connection; returns all of the answer, up to
/// the server's close (or a reset, e.g. after a refusal).
pub async fn exchange_all(addr: impl ToSocketAddrs, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("send the request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut answer))
        .await
        .expect("the whole answer in time");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `request` on `s`; returns what the first read brings back (at most
/// 64 KiB; empty: closed without an answer).
pub async fn send<S>(s: &mut S, request: &[u8]) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    s.write_all(request).await.expect("send the request");
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
