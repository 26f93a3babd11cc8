//! No secret reaches a log: with `-v` every request is logged, but only its
//! path and the names of its query parameters; credentials in headers are
//! never logged; `--log-file` gets the same redacted lines.

use crate::common;

use common::{echo_target, Proxy, TempDir, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const SECRETS: &[&str] = &[
    "TOKSECRET",
    "VNCSECRET",
    "PWSECRET",
    "COOKIESECRET",
    "dXNlcjpQV1NFQ1JFVA",
];

/// Sends one request and reads the answer's status line.
async fn request(addr: std::net::SocketAddr, head: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let n = timeout(WAIT, s.read(&mut buf))
        .await
        .expect("answer")
        .expect("read");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_request_lines_show_parameter_names_not_values() {
    let target = echo_target().await.to_string();
    let dir = TempDir::new("secrets");
    let log_file = dir.path().join("ws.log");
    let mut proxy = Proxy::start(&[
        "-v",
        "--log-file",
        log_file.to_str().expect("utf-8 path"),
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "user:PWSECRET",
        "127.0.0.1:0",
        &target,
    ]);
    let head = "GET /websockify?token=TOKSECRET&password=VNCSECRET&x HTTP/1.1\r\n\
                Host: localhost\r\n\
                Authorization: Basic dXNlcjpQV1NFQ1JFVA==\r\n\
                Cookie: session=COOKIESECRET\r\n\r\n";
    let status = request(proxy.addr(), head).await;
    assert!(status.contains("405"), "plain GET without --web: {status}");
    let line = proxy.wait_for_log("GET /websockify?");
    assert!(
        line.contains("token=…") && line.contains("password=…"),
        "{line}"
    );
    let upgrade = "GET /websockify?token=TOKSECRET HTTP/1.1\r\nHost: localhost\r\n\
                   Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Authorization: Basic dXNlcjp3cm9uZw==\r\n\r\n";
    assert!(request(proxy.addr(), upgrade).await.contains("401"));
    proxy.wait_for_log("refused");
    let mut everything = proxy.log().join("\n");
    everything.push_str(&std::fs::read_to_string(&log_file).expect("log file"));
    for secret in SECRETS {
        assert!(
            !everything.contains(secret),
            "{secret} logged:\n{everything}"
        );
    }
}
