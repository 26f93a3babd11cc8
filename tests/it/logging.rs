//! What clients can make the log say, through the real binary: text a
//! client chooses (a close reason, a web path) cannot forge a line or send
//! terminal escapes, and refusals cannot flood the log.

use crate::common;

use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixDatagram;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// A line as a client would like it to appear: a newline, a whole forged
/// line, and escapes that clear and recolour an operator's terminal.
const FORGED: &str = "\n2026-01-01T00:00:00Z WARN  admin logged in\x1b[2K\x1b[32m";

/// The same text as the log must show it: every control character escaped.
const ESCAPED: &str = "\\n2026-01-01T00:00:00Z WARN  admin logged in\\x1b[2K\\x1b[32m";

/// A masked client close frame with `code` and `reason`.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    assert!(payload.len() <= 125, "a control frame's payload");
    let mut f = vec![0x88, 0x80 | payload.len() as u8];
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Lines that were forged (one starting with what the client sent after its
/// newline) or that carry a raw control character.
fn forged_or_raw(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.starts_with("2026-01-01") || l.chars().any(|c| c.is_control()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_close_reason_and_a_web_path_cannot_forge_log_lines() {
    let target = echo_target().await;
    let outside = TempDir::new("log-outside");
    let root = TempDir::new("log-webroot");
    root.write("vnc.html", "noVNC");
    std::os::unix::fs::symlink(outside.path(), root.path().join("out")).expect("symlink");
    let logs = TempDir::new("log-file");
    let log_file = logs.path().join("websockify.log");
    let syslog_path = logs.path().join("syslog");
    let syslog = UnixDatagram::bind(&syslog_path).expect("syslog socket");
    syslog.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut proxy = Proxy::start(&[
        "--log-file",
        log_file.to_str().expect("utf-8 path"),
        "--syslog",
        syslog_path.to_str().expect("utf-8 path"),
        "--web",
        root.arg(),
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let mut s = raw_upgrade(proxy.addr(), "/websockify", None).await;
    s.write_all(&close_frame(1000, FORGED))
        .await
        .expect("close");
    let closed = proxy.wait_for_log("session closed");
    // A 404 through a symlink that leaves the web root is logged with its path.
    let path = "/out/%0a2026-01-01T00:00:00Z%20WARN%20%20admin%20logged%20in%1b%5b2K%1b%5b32m";
    let mut web = TcpStream::connect(proxy.addr()).await.expect("connect");
    let get = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    web.write_all(get.as_bytes()).await.expect("write");
    let mut answer = String::new();
    timeout(WAIT, web.read_to_string(&mut answer))
        .await
        .expect("answer")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let refused = proxy.wait_for_log("leads outside the web root");
    stop(&mut proxy);
    let stderr = proxy.log();
    assert_eq!(forged_or_raw(&stderr), Vec::<&String>::new(), "stderr");
    assert!(closed.contains(ESCAPED), "{closed:?}");
    assert!(refused.contains(&format!("out/{ESCAPED}")), "{refused:?}");
    let file = std::fs::read_to_string(&log_file).expect("log file");
    let file: Vec<String> = file.lines().map(str::to_owned).collect();
    assert!(file.iter().any(|l| l.contains(ESCAPED)), "{file:?}");
    assert_eq!(forged_or_raw(&file), Vec::<&String>::new(), "--log-file");
    let mut buf = vec![0u8; 4096];
    let closed = loop {
        let n = blocking(|| syslog.recv(&mut buf)).expect("a syslog datagram");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains("session closed") {
            break msg;
        }
    };
    assert!(
        closed.contains(&format!("({ESCAPED}):")) && !closed.contains('\n'),
        "syslog: {closed:?}"
    );
}

/// SIGTERM, and the exit, so that every queued line is written.
fn stop(proxy: &mut Proxy) {
    let pid = nix::unistd::Pid::from_raw(proxy.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    assert!(proxy.wait_exit().success());
}

/// An upgrade request with a version the proxy does not speak (400).
const BAD_UPGRADE: &[u8] = b"GET /websockify HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 99\r\n\r\n";

/// A connection to `addr` from the local address `from`.
async fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    socket.connect(addr).await.expect("connect")
}

/// Sends `requests` bad upgrades on one keep-alive connection and reads
/// every 400 back.
async fn bad_upgrades(mut s: TcpStream, requests: usize) {
    let all: Vec<u8> = BAD_UPGRADE.repeat(requests);
    let (mut r, mut w) = s.split();
    let write = async { w.write_all(&all).await.expect("write") };
    let read = async {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut answers = 0;
        while answers < requests {
            let n = r.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed after {answers} answers");
            got.extend_from_slice(&buf[..n]);
            answers = count(&got, b"HTTP/1.1 400");
        }
    };
    timeout(WAIT, async { tokio::join!(write, read) })
        .await
        .expect("400s");
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

/// The number N of every "N more refusals from CLIENT suppressed" line.
fn suppressed(lines: &[String], client: &str) -> u64 {
    let tail = format!(" more refusals from {client} suppressed");
    lines
        .iter()
        .filter_map(|l| l.strip_suffix(&tail))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_from_one_client_are_rate_limited_with_a_summary() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let (flood, other): (IpAddr, IpAddr) =
        ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
    let (keep_alive, connections) = (2000, 200);
    bad_upgrades(connect_from(flood, proxy.addr()).await, keep_alive).await;
    for _ in 0..connections {
        bad_upgrades(connect_from(flood, proxy.addr()).await, 1).await;
    }
    // Another client is not silenced by the first one's flood.
    bad_upgrades(connect_from(other, proxy.addr()).await, 1).await;
    proxy.wait_for_log("127.0.0.2:");
    let total = (keep_alive + connections) as u64;
    let refusal =
        |l: &&String| l.contains("127.0.0.1:") && l.contains("refused WebSocket handshake");
    // Every refusal is either logged or counted in a summary line.
    let deadline = std::time::Instant::now() + WAIT;
    let (logged, summed) = loop {
        let log = proxy.log();
        let logged = log.iter().filter(refusal).count() as u64;
        let summed = suppressed(&log, "127.0.0.1");
        if logged + summed >= total || std::time::Instant::now() > deadline {
            break (logged, summed);
        }
        proxy.next_line();
    };
    assert_eq!(logged + summed, total, "{:?}", proxy.log());
    assert!(
        logged <= 50,
        "{logged} refusal lines from one client in a few seconds"
    );
    assert!(summed >= total - 50, "summaries count {summed}");
}

/// `n` upgrades with Basic credentials `user:password`, each on its own
/// connection; the status of each.
async fn logins(addr: SocketAddr, user_password: &str, n: usize) -> Vec<u16> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(user_password);
    let mut statuses = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET /websockify HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nAuthorization: Basic {basic}\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut head = [0u8; 12];
        timeout(WAIT, s.read_exact(&mut head))
            .await
            .expect("answer")
            .expect("read");
        let code = String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0);
        statuses.push(code);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_and_the_lockout_are_logged_even_during_a_flood() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&[
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "bob:hunter2",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    bad_upgrades(connect_from(localhost, proxy.addr()).await, 500).await;
    assert_eq!(logins(proxy.addr(), "bob:wrong", 5).await, [401; 5]);
    // Each failed login is logged, the lockout (logged before the fifth's
    // refusal) too: none is suppressed, however many refusals came before.
    for _ in 0..5 {
        proxy.wait_for_log("refused: 401 wrong user name or password");
    }
    let log = proxy.log();
    assert!(
        log.iter().any(|l| l.contains("too many failed logins")),
        "{log:?}"
    );
}
