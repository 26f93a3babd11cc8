//! Plain HTTP/1.1 against the binary's side endpoints (metrics, health):
//! one request per connection, as a load balancer's probe sends it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut got = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut got))
        .await
        .expect("answer")
        .expect("read");
    let status = got.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = got.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}
