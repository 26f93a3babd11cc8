//! The live hand-over (SIGUSR2) through the real binary: it re-executes
//! itself in place, same PID, and every live plain ws:// session goes on
//! byte-exact with no close frame (binary and base64, a client stopped in
//! the middle of a frame, a unix target), the control socket lists the same
//! sessions, a client connecting meanwhile is served, and SIGTERM afterwards
//! still closes with 1001. What cannot move (a wss:// client) gets 1012.

use crate::common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use futures_util::StreamExt as _;
use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// bob:hunter2, for an htpasswd file.
const BOB: &str = "Authorization: Basic Ym9iOmh1bnRlcjI=\r\n";

/// `len` bytes of the counting pattern, from byte `from` of the stream.
fn pattern(from: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| ((from + i) % 251) as u8).collect()
}

/// One session's client on a raw socket: what it sent and got back, and
/// the longest wait between two echoed frames.
struct Client {
    s: TcpStream,
    base64: bool,
    sent: u64,
    got: u64,
    last: Instant,
    longest_gap: Duration,
}

impl Client {
    async fn open(addr: std::net::SocketAddr, base64: bool) -> Client {
        let protocol = base64.then_some("base64");
        let s = raw_upgrade_with(addr, "/", protocol, BOB).await;
        Client {
            s,
            base64,
            sent: 0,
            got: 0,
            last: Instant::now(),
            longest_gap: Duration::ZERO,
        }
    }

    /// The next `len` pattern bytes as one masked client frame.
    fn frame(&mut self, len: usize) -> Vec<u8> {
        let data = pattern(self.sent, len);
        self.sent += len as u64;
        match self.base64 {
            true => client_frame(0x81, BASE64.encode(&data).as_bytes()),
            false => client_frame(0x82, &data),
        }
    }

    /// Sends `len` bytes and reads until they are all echoed, in order.
    async fn round(&mut self, len: usize) {
        let frame = self.frame(len);
        self.s.write_all(&frame).await.expect("write");
        self.echoed().await;
    }

    /// Reads data frames until everything sent came back; a close frame fails.
    async fn echoed(&mut self) {
        while self.got < self.sent {
            let (opcode, payload) = read_frame(&mut self.s).await;
            let now = Instant::now();
            self.longest_gap = self.longest_gap.max(now - self.last);
            self.last = now;
            let data = match opcode {
                1 => BASE64.decode(&payload).expect("base64"),
                2 => payload,
                8 => panic!("close frame {payload:?} after {} bytes", self.got),
                _ => continue,
            };
            assert_eq!(
                data,
                pattern(self.got, data.len()),
                "byte-exact at {}",
                self.got
            );
            self.got += data.len() as u64;
        }
    }
}

/// Round trips until `after` says the hand-over is over, then `more` more;
/// tells `warm` once it has done some.
async fn stream(mut c: Client, warm: mpsc::Sender<()>, after: watch::Receiver<bool>) -> Client {
    for i in 0.. {
        c.round(100 + (i % 7) * 300).await;
        if i == 10 {
            let _ = warm.send(()).await;
        }
        if i > 10 && *after.borrow() {
            break;
        }
    }
    for i in 0..20 {
        c.round(50 + i * 13).await;
    }
    c
}

/// The control socket's `sessions` answer.
async fn sessions(path: &Path) -> serde_json::Value {
    let s = UnixStream::connect(path).await.expect("control socket");
    let (r, mut w) = s.into_split();
    w.write_all(b"sessions\n").await.expect("write");
    let mut answer = String::new();
    let mut r = BufReader::new(r);
    timeout(WAIT, r.read_line(&mut answer))
        .await
        .expect("answer")
        .expect("read");
    serde_json::from_str(&answer).expect("JSON")
}

/// The control socket's list once it has `n` sessions (they register just
/// after their 101).
async fn listed(path: &Path, n: usize) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = sessions(path).await;
        if listed.as_array().map(Vec::len) == Some(n) {
            return listed;
        }
        assert!(Instant::now() < deadline, "never {n} sessions: {listed}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// (id, user, client, target) of each listed session, by id.
fn who(listed: &serde_json::Value) -> Vec<(u64, String, String, String)> {
    let mut all: Vec<_> = (listed.as_array().expect("list").iter())
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or("-").to_owned();
            (
                s["id"].as_u64().expect("id"),
                text("user"),
                text("client"),
                text("target"),
            )
        })
        .collect();
    all.sort();
    all
}

fn htpasswd(dir: &TempDir) -> String {
    let file = dir.path().join("users");
    let made = std::process::Command::new("htpasswd")
        .args(["-cbB", file.to_str().expect("utf-8"), "bob", "hunter2"])
        .output()
        .expect("htpasswd (apache2-utils) is needed for this test");
    assert!(made.status.success());
    file.to_str().expect("utf-8").to_owned()
}

/// What the daemon tells systemd, read as it comes (an unread notify
/// socket fills and blocks the sender, as systemd never would).
struct Notified(std::sync::mpsc::Receiver<String>);

impl Notified {
    fn new(dir: &TempDir) -> (Notified, String) {
        let notify = notify::Notify::new(dir);
        let path = notify.path();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = notify.sock.recv(&mut buf) {
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        (Notified(rx), path)
    }

    /// Waits for a message with `needle`.
    fn until(&self, needle: &str) -> String {
        loop {
            let msg = self.0.recv_timeout(WAIT).expect("notify message");
            if msg.contains(needle) {
                return msg;
            }
        }
    }
}

/// A proxy to `target` (none: `extra` names it) with a control socket and
/// bob's password, ready.
fn proxy(dir: &TempDir, target: &str, extra: &[&str]) -> (Proxy, std::path::PathBuf, Notified) {
    let sock = dir.path().join("control.sock");
    let users = htpasswd(dir);
    let mut cmd = std::process::Command::new(bin());
    cmd.args([
        "--control-socket",
        sock.to_str().expect("utf-8"),
        "--auth-file",
        &users,
    ]);
    cmd.args(extra).arg("127.0.0.1:0");
    cmd.args(Some(target).filter(|t| !t.is_empty()));
    let (notified, path) = Notified::new(dir);
    cmd.env("NOTIFY_SOCKET", path)
        .stdin(std::process::Stdio::null());
    let proxy = Proxy::spawn(&mut cmd, 1);
    notified.until("READY=1");
    (proxy, sock, notified)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigusr2_hands_every_live_session_to_the_new_program() {
    let target = echo_target().await.to_string();
    let dir = TempDir::new("handover");
    let (mut proxy, sock, notified) = proxy(&dir, &target, &[]);
    let (addr, pid) = (proxy.addr(), proxy.pid());
    let (after_tx, after) = watch::channel(false);
    let tasks = streaming(addr, 10, 3, after).await;
    // Stopped inside frames: in a header, and in a base64 text frame's
    // payload, inside a 4-character group.
    let split_header = Cut::start(addr, false, 1000, 3).await;
    let mid_group = Cut::start(addr, true, 700, 473).await;
    let before = listed(&sock, 12).await;

    proxy.signal(Signal::SIGUSR2);
    // A client arriving during the hand-over waits in the backlog.
    let late = tokio::spawn(async move {
        let mut c = Client::open(addr, false).await;
        c.round(5000).await;
        c
    });
    notified.until("RELOADING=1");
    notified.until("READY=1");
    // 13 when the late client was taken before the accept loops stopped.
    let went_on = proxy.wait_for_log("sessions go on");
    let counted = [" 12 sessions", " 13 sessions"];
    assert!(counted.iter().any(|n| went_on.contains(n)), "{went_on}");
    let log = proxy.log();
    assert!(log.iter().any(|l| l.contains("hand-over: executing")));
    assert_eq!(proxy.pid(), pid, "same PID");
    let _cut = [split_header.finish().await, mid_group.finish().await];
    let _late = timeout(WAIT, late).await.expect("late client served");
    after_tx.send_replace(true);
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(
            timeout(WAIT, task)
                .await
                .expect("streams on")
                .expect("stream"),
        );
    }
    let gaps: Vec<Duration> = clients.iter().map(|c| c.longest_gap).collect();
    let longest = gaps.iter().max().copied().unwrap_or_default();
    eprintln!("hand-over: longest gap per session {gaps:?}; longest {longest:?}");
    let after_list = sessions(&sock).await;
    let (was, is) = (who(&before), who(&after_list));
    let kept = is.iter().filter(|s| was.contains(s)).count();
    assert_eq!(kept, 12, "{before} vs {after_list}");
    assert!(is.iter().all(|s| s.1 == "bob"), "{after_list}");
    assert!(!proxy.log().iter().any(|l| l.contains("session closed")));
}

/// `n` sessions streaming (the last `base64` of them in base64 mode), each
/// warmed up when this returns; they stop once `after` turns true.
async fn streaming(
    addr: std::net::SocketAddr,
    n: usize,
    base64: usize,
    after: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Client>> {
    let (warm_tx, mut warm) = mpsc::channel(n);
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = Client::open(addr, i >= n - base64).await;
        tasks.push(tokio::spawn(stream(c, warm_tx.clone(), after.clone())));
    }
    for _ in 0..n {
        warm.recv().await.expect("a session warmed up");
    }
    tasks
}

/// A client that wrote a frame only up to byte `at` before the hand-over.
struct Cut {
    c: Client,
    frame: Vec<u8>,
    at: usize,
}

impl Cut {
    async fn start(addr: std::net::SocketAddr, base64: bool, len: usize, at: usize) -> Cut {
        let mut c = Client::open(addr, base64).await;
        let frame = c.frame(len);
        c.s.write_all(&frame[..at]).await.expect("write");
        Cut { c, frame, at }
    }

    /// Writes the rest; the whole payload comes back.
    async fn finish(mut self) -> Client {
        self.c
            .s
            .write_all(&self.frame[self.at..])
            .await
            .expect("write");
        self.c.echoed().await;
        self.c
    }
}

/// The next message on a tungstenite client, within [`WAIT`].
async fn next_message<S>(ws: &mut S) -> Message
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match timeout(WAIT, ws.next()).await.expect("a message in time") {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(m)) => return m,
            other => panic!("no message: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wss_session_closes_with_1012_and_a_plain_one_moves() {
    let dir = TempDir::new("handover-tls");
    let (mut proxy, der) = tls_proxy(&dir, &[]).await;
    let mut wss = wss_connect(proxy.addr(), &der).await;
    wss::send_all(&mut wss, b"before").await;
    assert_eq!(wss::receive(&mut wss, 6).await, b"before");
    let mut plain = Client::open(proxy.addr(), false).await;
    plain.round(300).await;
    proxy.signal(Signal::SIGUSR2);
    match next_message(&mut wss).await {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1012);
            assert_eq!(frame.reason.as_str(), "Service restart");
        }
        other => panic!("no 1012: {other:?}"),
    }
    // The client answers, as browsers do; the proxy reads until then.
    // (tungstenite sends its reply as the stream is read on to its end).
    let _ = timeout(WAIT, wss.next()).await;
    let line = proxy.wait_for_log("close 1012");
    assert!(
        line.contains("wss:// client's TLS state cannot move"),
        "{line}"
    );
    let counted = proxy.wait_for_log("sessions paused to move");
    assert!(
        counted.contains("1 sessions paused to move; 1 closed"),
        "{counted}"
    );
    proxy.wait_for_log("hand-over: 1 sessions go on");
    plain.round(4000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_after_a_hand_over_still_closes_with_1001() {
    let target = echo_target().await.to_string();
    let dir = TempDir::new("handover-term");
    let (mut proxy, _sock, notified) = proxy(&dir, &target, &[]);
    let mut c = Client::open(proxy.addr(), false).await;
    c.round(1000).await;
    proxy.signal(Signal::SIGUSR2);
    notified.until("READY=1");
    proxy.wait_for_log("hand-over: 1 sessions go on");
    c.round(1000).await;
    proxy.signal(Signal::SIGTERM);
    let (opcode, payload) = read_frame(&mut c.s).await;
    assert_eq!(opcode, 8, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
    let answer = client_frame(0x88, &payload[..2]);
    c.s.write_all(&answer).await.expect("close reply");
    assert!(proxy.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_to_a_unix_target_moves() {
    let dir = TempDir::new("handover-unix");
    let target_path = dir.path().join("vnc.sock");
    let target = tokio::net::UnixListener::bind(&target_path).expect("bind");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = target.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let unix = ["--unix-target", target_path.to_str().expect("utf-8")];
    let (mut proxy, _sock, notified) = proxy(&dir, "", &unix);
    let mut c = Client::open(proxy.addr(), true).await;
    c.round(999).await;
    proxy.signal(Signal::SIGUSR2);
    notified.until("READY=1");
    proxy.wait_for_log("hand-over: 1 sessions go on");
    c.round(5000).await;
    assert!(!proxy.log().iter().any(|l| l.contains("session closed")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_activated_listener_is_kept_across_a_hand_over() {
    let target = echo_target().await;
    let dir = TempDir::new("handover-activation");
    let conf = dir.write(
        "act.conf",
        format!("target = \"{target}\"\nheartbeat = 0\n"),
    );
    // systemd's part, as tests/it/systemd.rs plays it: the socket bound
    // here is fd 3 of systemd-socket-activate, which execs the daemon.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(r#"export LISTEN_PID=$$ LISTEN_FDS=1; exec 3<&0 </dev/null; exec "$0" "$@""#)
        .arg("/usr/bin/systemd-socket-activate")
        .arg("--fdname=web")
        .args([bin(), "--config", conf.to_str().expect("utf-8")])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            listener,
        )));
    let mut proxy = Proxy::spawn(&mut cmd, 0);
    let mut c = Client::open(addr, false).await;
    c.round(700).await;
    let pid = proxy.pid();
    proxy.signal(Signal::SIGUSR2);
    let line = proxy.wait_for_log("handed over)");
    assert!(
        line.contains("passed in by systemd") && line.contains(&addr.to_string()),
        "{line}"
    );
    proxy.wait_for_log("hand-over: 1 sessions go on");
    assert_eq!(proxy.pid(), pid);
    c.round(3000).await;
    let mut fresh = Client::open(addr, true).await;
    fresh.round(100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_session_closes_with_1012_and_says_why() {
    let target = echo_target().await.to_string();
    let dir = TempDir::new("handover-record");
    let base = dir.path().join("rec");
    let record = ["--record", base.to_str().expect("utf-8")];
    let (mut proxy, _sock, _notified) = proxy(&dir, &target, &record);
    let mut c = Client::open(proxy.addr(), false).await;
    c.round(200).await;
    proxy.signal(Signal::SIGUSR2);
    let (opcode, payload) = read_frame(&mut c.s).await;
    assert_eq!(opcode, 8, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1012);
    assert_eq!(&payload[2..], b"Service restart");
    // The client answers, as browsers do; the proxy reads until then.
    let answer = client_frame(0x88, &payload[..2]);
    c.s.write_all(&answer).await.expect("close reply");
    let line = proxy.wait_for_log("close 1012");
    assert!(
        line.contains("recording and --traffic do not move"),
        "{line}"
    );
    proxy.wait_for_log("hand-over: executing");
}
