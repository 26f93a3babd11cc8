//! Hostile and broken clients: slow handshakes, huge headers and messages,
//! clients that stop reading or answering, shutdown, and the fd limit.

use crate::common;

use std::time::Duration;

use common::notify::Notify;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// Reads until the server closes the connection; fails if it never does.
async fn wait_closed(s: &mut TcpStream) {
    let mut buf = vec![0u8; 65536];
    loop {
        match timeout(WAIT, s.read(&mut buf))
            .await
            .expect("server never closed")
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_slow_clients_are_cut_off_at_the_handshake_timeout() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&[
        "--handshake-timeout",
        "1",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let mut silent = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut slow = TcpStream::connect(proxy.addr()).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    wait_closed(&mut silent).await;
    wait_closed(&mut slow).await;
    proxy.wait_for_log("sent nothing within");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_request_head_is_refused() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let s = TcpStream::connect(proxy.addr()).await.unwrap();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    // Written from another task while this one reads, so that the answer is
    // read as it comes, whatever becomes of the rest of the write. The proxy
    // must answer 431: an empty reply (a bare close) is a failure.
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = w.write_all(big.as_bytes()).await;
        w
    });
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(WAIT, r.read(&mut buf)).await.expect("no answer") {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(e) if resp.is_empty() => panic!("no answer, only {e}"),
            Err(_) => break,
        }
    }
    drop(writer.await);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claimed_1_gib_message_is_closed_with_1009_without_memory_growth() {
    let target = echo_target().await;
    let limit = (16 << 20).to_string();
    let proxy = Proxy::start(&[
        "--max-message-size",
        &limit,
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let before = rss_kib(proxy.pid());
    let mut s = raw_upgrade(proxy.addr(), "/websockify", None).await;
    // FIN + binary, masked, 64-bit length of 1 GiB, mask key, then 1 MiB of it.
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(1u64 << 30).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend(std::iter::repeat_n(0u8, 1 << 20));
    let _ = s.write_all(&frame).await;
    let mut reply = [0u8; 4];
    timeout(WAIT, s.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), 1009);
    let after = rss_kib(proxy.pid());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}

/// How long the target's writes may make no progress before it counts as
/// stalled (see below: the verdict does not hang on it).
const STALL: Duration = Duration::from_secs(5);

/// The largest TCP buffer the kernel grants one socket (tcp_rmem, tcp_wmem).
fn tcp_buffer_max() -> usize {
    ["/proc/sys/net/ipv4/tcp_rmem", "/proc/sys/net/ipv4/tcp_wmem"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|t| t.split_whitespace().last()?.parse().ok())
        .max()
        .unwrap_or(32 << 20)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_does_not_grow_the_proxy() {
    // The target offers 512 MiB; the client reads none of it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let (stalled_tx, stalled_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let chunk = vec![7u8; 1 << 20];
        let mut written = 0usize;
        // Write until a write makes no progress for STALL, or all 512 MiB
        // went. What decides is the amount below, not this wait: a proxy
        // without backpressure takes far more than the socket buffers hold
        // before any pause, however slow the machine.
        while written < 512 << 20 {
            match timeout(STALL, s.write_all(&chunk)).await {
                Ok(Ok(())) => written += chunk.len(),
                _ => break,
            }
        }
        let _ = stalled_tx.send(written);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    });
    let proxy = Proxy::start(&["--heartbeat", "0", "127.0.0.1:0", &target.to_string()]);
    let before = rss_kib(proxy.pid());
    let _client = raw_upgrade(proxy.addr(), "/websockify", None).await;
    let written = timeout(WAIT, stalled_rx)
        .await
        .expect("target stalled")
        .unwrap();
    // The socket buffers on the way (target send, proxy receive and send,
    // client receive: a few MiB each, the proxy's receive buffer autotuned to
    // tcp_rmem's maximum at most) plus the proxy's 32 KiB read budget.
    let buffers = 4 * tcp_buffer_max();
    assert!(
        written <= buffers + (1 << 20),
        "backpressure never reached the target: {written} bytes taken, buffers {buffers}"
    );
    let after = rss_kib(proxy.pid());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeat_keeps_live_clients_and_drops_dead_ones() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&["--heartbeat", "1", "127.0.0.1:0", &target.to_string()]);
    // A dead peer: upgraded, then silent, never answering pings.
    let mut dead = raw_upgrade(proxy.addr(), "/websockify", None).await;
    // A live client: tungstenite answers each ping while we read.
    let (mut live, _) = ws_connect(proxy.addr(), None).await;
    let mut pings = 0;
    while pings < 3 {
        match timeout(WAIT, live.next()).await.unwrap() {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected pings, got {other:?}"),
        }
    }
    wait_closed(&mut dead).await;
    proxy.wait_for_log("heartbeat");
    live.send(Message::binary(b"still here".to_vec()))
        .await
        .unwrap();
    loop {
        match timeout(WAIT, live.next()).await.unwrap() {
            Some(Ok(Message::Ping(_))) => {}
            Some(Ok(m)) => break assert_eq!(m, Message::binary(b"still here".to_vec())),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_sessions_with_1001_and_exits_0() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"x").await;
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    let close = loop {
        match timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.expect("close frame"),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    let _ = ws.next().await; // lets tungstenite send our close reply
    assert!(proxy.wait_exit().success());
}

/// Signals sent the moment the proxy says it listens (as a test harness or
/// an impatient `systemctl stop` does) stop it cleanly; the handlers must
/// be in place before the first "listening on" line, or the default action
/// kills the process with no log and no close frames.
#[tokio::test(flavor = "multi_thread")]
async fn signals_right_after_listening_stop_cleanly() {
    let target = echo_target().await;
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        for _ in 0..5 {
            let dir = TempDir::new("signals");
            let mut notify = Notify::new(&dir);
            let mut cmd = std::process::Command::new(bin());
            cmd.args(["127.0.0.1:0", &target.to_string()])
                .env("NOTIFY_SOCKET", notify.path())
                .stdin(std::process::Stdio::null());
            let mut proxy = Proxy::spawn(&mut cmd, 1);
            proxy.signal(signal);
            if signal == nix::sys::signal::Signal::SIGHUP {
                // A reload, not a stop: the proxy must still be serving.
                notify.reloaded();
                let (mut ws, _) = ws_connect(proxy.addr(), None).await;
                echo_once(&mut ws, b"after SIGHUP").await;
                proxy.signal(nix::sys::signal::Signal::SIGTERM);
            }
            let status = proxy.wait_exit();
            assert!(
                status.success(),
                "{signal}: {status:?}; log: {:?}",
                proxy.log()
            );
        }
    }
}

/// A log output that stops taking lines (a `--log-file` FIFO whose reader
/// does not read; the same as an unread stderr pipe or a stuck journald)
/// must not stall sessions, and once it takes lines again, nothing queued
/// within the budget is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_log_output_does_not_stall_sessions() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = TempDir::new("stalled-log");
    let fifo = dir.0.join("log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    // The smallest pipe: a dozen sessions' lines fill it.
    nix::fcntl::fcntl(&reader, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let target = echo_target().await;
    let mut proxy = Proxy::start(&[
        "--log-file",
        fifo.to_str().unwrap(),
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    const SESSIONS: usize = 100;
    for _ in 0..SESSIONS {
        let (mut ws, _) = ws_connect(proxy.addr(), None).await;
        echo_once(&mut ws, b"while the log is stuck").await;
        ws.close(None).await.unwrap();
        while let Some(Ok(_)) = timeout(WAIT, ws.next()).await.expect("close reply") {}
    }
    // The output takes lines again: every session's closing line arrives.
    let text = blocking(|| {
        use std::io::Read;
        let deadline = std::time::Instant::now() + WAIT;
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while count(&text, "session closed") < SESSIONS && std::time::Instant::now() < deadline {
            match reader.read(&mut buf) {
                Ok(n) if n > 0 => text.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        text
    });
    assert_eq!(
        count(&text, "session closed"),
        SESSIONS,
        "{:?}",
        proxy.log()
    );
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit().success());
}

fn count(text: &[u8], needle: &str) -> usize {
    String::from_utf8_lossy(text).matches(needle).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_clients_do_not_stall_good_ones() {
    let target = echo_target().await;
    let proxy = Proxy::start(&["127.0.0.1:0", &target.to_string()]);
    let mut bad = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
        } else {
            s.write_all(b"\x16\x03\x01\x00").await.unwrap(); // a TLS record that never ends
        }
        bad.push(s);
    }
    bad.push(raw_upgrade(proxy.addr(), "/websockify", None).await); // a session that never reads
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    for i in 0..20u8 {
        echo_once(&mut ws, &[i; 100]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_fd_limit_is_raised_to_the_hard_limit() {
    let target = echo_target().await;
    // Start it with a soft limit below the hard one, as a login shell has.
    let proxy = Proxy::start_after("ulimit -Sn 256", &["127.0.0.1:0", &target.to_string()]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proxy.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_ne!(
        nums[1], "256",
        "the hard limit must be above the soft one for this test"
    );
    assert_eq!(nums[0], nums[1], "{line}");
}
