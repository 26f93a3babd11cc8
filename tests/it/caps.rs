//! Connection caps through the real binary: the defaults (total from the
//! open-file limit, 64 per client), 503 for a client over its cap (also behind
//! TLS), the real client counted behind a trusted proxy (X-Forwarded-For,
//! PROXY protocol), and which unix-socket peers may speak for a client.

use crate::common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::http::{send, status};
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

/// Sends `prefix` (a PROXY header, or nothing) and an upgrade request with
/// extra header lines on `s`, in one write; returns the status of the
/// answer (0: closed).
async fn upgrade_after<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    prefix: &[u8],
    extra: &str,
) -> u16 {
    let req = upgrade_request("localhost", "/", extra);
    status(&send(s, &[prefix, req.as_bytes()].concat()).await)
}

/// A new TCP connection with one upgrade on it: (status, the connection).
async fn session(addr: SocketAddr, prefix: &[u8], extra: &str) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let status = upgrade_after(&mut s, prefix, extra).await;
    (status, s)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_gets_64_connections_by_default_then_503() {
    let t = echo_target().await.to_string();
    let mut proxy = Proxy::start(&["127.0.0.1:0", &t]);
    let mut held = Vec::new();
    for i in 0..64 {
        let (status, s) = session(proxy.addr(), b"", "").await;
        assert_eq!(status, 101, "session {i}");
        held.push(s);
    }
    let (status, _) = session(proxy.addr(), b"", "").await;
    assert_eq!(status, 503);
    let line = proxy.wait_for_log("max-connections-per-client");
    assert!(line.contains("127.0.0.1:"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn total_cap_defaults_to_half_the_open_file_limit_less_a_reserve() {
    let t = echo_target().await.to_string();
    // 200 descriptors: (200 - 64 reserved) / 2 = 68 connections.
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=200:200", bin(), "127.0.0.1:0", &t])
        .stdin(Stdio::null());
    let mut proxy = Proxy::spawn(&mut cmd, 1);
    let mut held = Vec::new();
    for _ in 0..68 {
        held.push(TcpStream::connect(proxy.addr()).await.unwrap());
    }
    let mut over = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = [0u8; 1];
    let n = timeout(WAIT, over.read(&mut b)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the connection over the total cap was served");
    proxy.wait_for_log("connection cap reached");
    let start = proxy.log().into_iter().find(|l| l.contains("caps: "));
    assert!(
        start.is_some_and(|l| l.contains("caps: 68 connections, 64 connections per client")),
        "{:?}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cap_of_0_is_no_cap() {
    let t = echo_target().await.to_string();
    let proxy = Proxy::start(&["--max-connections-per-client", "0", "127.0.0.1:0", &t]);
    let mut held = Vec::new();
    for i in 0..70 {
        let (status, s) = session(proxy.addr(), b"", "").await;
        assert_eq!(status, 101, "session {i}");
        held.push(s);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_client_over_its_cap_gets_503_also_behind_tls() {
    let t = echo_target().await.to_string();
    let (cert, key, der) = self_signed();
    let dir = TempDir::new("caps-tls");
    let cert = dir.write("cert.pem", cert);
    let key = dir.write("key.pem", key);
    let mut proxy = Proxy::start(&[
        "--trusted-proxies",
        "10.9.8.7",
        "--max-connections-per-client",
        "1",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "127.0.0.1:0",
        &t,
    ]);
    let (first, _held) = session(proxy.addr(), b"", "").await;
    assert_eq!(first, 101);
    let (plain, _) = session(proxy.addr(), b"", "").await;
    assert_eq!(plain, 503);
    let mut tls = tls_connect(proxy.addr(), &der).await.unwrap();
    assert_eq!(upgrade_after(&mut tls, b"", "").await, 503);
    let line = proxy.wait_for_log("max-connections-per-client");
    assert!(line.contains("127.0.0.1:"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_client_cap_counts_each_forwarded_client() {
    let t = echo_target().await.to_string();
    let mut proxy = Proxy::start(&[
        "--trusted-proxies",
        "127.0.0.1/32",
        "--max-connections-per-client",
        "2",
        "127.0.0.1:0",
        &t,
    ]);
    let (a, b) = (
        "X-Forwarded-For: 203.0.113.1\r\n",
        "X-Forwarded-For: 203.0.113.2\r\n",
    );
    let mut held = Vec::new();
    for xff in [a, a, b, b] {
        let (status, s) = session(proxy.addr(), b"", xff).await;
        assert_eq!(status, 101, "{xff}");
        held.push(s);
    }
    let (status, _) = session(proxy.addr(), b"", a).await;
    assert_eq!(status, 503);
    let line = proxy.wait_for_log("max-connections-per-client");
    assert!(line.contains("203.0.113.1 (via 127.0.0.1:"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_client_cap_counts_each_proxy_protocol_source() {
    let t = echo_target().await.to_string();
    let mut proxy = Proxy::start(&[
        "--trusted-proxies",
        "127.0.0.1/32",
        "--proxy-protocol",
        "--max-connections-per-client",
        "2",
        "127.0.0.1:0",
        &t,
    ]);
    let a: &[u8] = b"PROXY TCP4 192.0.2.1 127.0.0.1 40001 6080\r\n";
    let b: &[u8] = b"PROXY TCP4 192.0.2.2 127.0.0.1 40002 6080\r\n";
    let mut held = Vec::new();
    for header in [a, a, b, b] {
        let (status, s) = session(proxy.addr(), header, "").await;
        assert_eq!(status, 101);
        held.push(s);
    }
    let (status, _) = session(proxy.addr(), a, "").await;
    assert_eq!(status, 503);
    let line = proxy.wait_for_log("max-connections-per-client");
    assert!(line.contains("192.0.2.1:40001"), "{line}");
}

/// A proxy on a unix socket; returns it and the socket path.
fn unix_proxy(dir: &TempDir, target: &str, extra: &[&str]) -> (Proxy, std::path::PathBuf) {
    let path = dir.path().join("ws.sock");
    let mut cmd = Command::new(bin());
    cmd.args(["--unix-listen", path.to_str().unwrap()])
        .args(extra)
        .args(["127.0.0.1:0", target])
        .stdin(Stdio::null());
    let proxy = Proxy::spawn_ready(&mut cmd, 0, dir);
    (proxy, path)
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_from_an_unnamed_unix_peer_is_not_believed() {
    let t = echo_target().await.to_string();
    let dir = TempDir::new("caps-unix-untrusted");
    let (mut proxy, path) = unix_proxy(&dir, &t, &[]);
    let mut s = UnixStream::connect(&path).await.unwrap();
    let forged = "X-Forwarded-For: 203.0.113.66\r\n";
    assert_eq!(upgrade_after(&mut s, b"", forged).await, 101);
    let line = proxy.wait_for_log("session open");
    assert!(line.contains("unix-client"), "{line}");
    assert!(
        !line.contains("203.0.113.66"),
        "forged address believed: {line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_from_a_trusted_unix_uid_is_believed() {
    let t = echo_target().await.to_string();
    let dir = TempDir::new("caps-unix-trusted");
    let uid = nix::unistd::getuid().to_string();
    let (mut proxy, path) = unix_proxy(&dir, &t, &["--trusted-unix-peers", &uid]);
    let mut s = UnixStream::connect(&path).await.unwrap();
    let forwarded = "X-Forwarded-For: 203.0.113.66\r\n";
    assert_eq!(upgrade_after(&mut s, b"", forwarded).await, 101);
    let line = proxy.wait_for_log("session open");
    assert!(
        line.contains(&format!("203.0.113.66 (via unix-client uid={uid})")),
        "{line}"
    );
}
