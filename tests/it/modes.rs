//! Python websockify's modes through the real binary: unix sockets both
//! ways, inetd, daemon, server lifetimes, TLS versions and ciphers, the log
//! file, and options that are refused with status 2.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread")]
async fn unix_listen_with_mode_and_unix_target() {
    let dir = TempDir::new("unix");
    // A unix echo target.
    let target_path = dir.path().join("vnc.sock");
    let target = tokio::net::UnixListener::bind(&target_path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = target.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let listen_path = dir.path().join("ws.sock");
    // A stale socket (its process gone) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&listen_path).unwrap());
    let mut proxy = Proxy::spawn_ready(
        Command::new(bin()).args([
            "--unix-listen",
            listen_path.to_str().unwrap(),
            "--unix-listen-mode",
            "0660",
            "--unix-target",
            target_path.to_str().unwrap(),
        ]),
        0,
        &dir,
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&listen_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
    let stream = tokio::net::UnixStream::connect(&listen_path).await.unwrap();
    let req = "ws://localhost/websockify".into_client_request().unwrap();
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::client_async(req, stream))
        .await
        .unwrap()
        .unwrap();
    echo_once(&mut ws, b"unix to unix").await;
    let line = proxy.wait_for_log("session open to");
    assert!(
        line.contains("unix:") && line.contains("vnc.sock"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inetd_serves_the_listening_socket_on_stdin() {
    let target = echo_target().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stdin = std::os::fd::OwnedFd::from(listener);
    let mut cmd = Command::new(bin());
    cmd.args(["--inetd", &target.to_string()])
        .stdin(Stdio::from(stdin));
    // With --inetd the one positional argument is the target.
    let _proxy = Proxy::spawn(&mut cmd, 1);
    let (mut ws, _) = ws_connect(addr, None).await;
    echo_once(&mut ws, b"from inetd").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_exits_after_the_first_session() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&["--run-once", "127.0.0.1:0", &target.to_string()]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"once").await;
    ws.close(None).await.unwrap();
    assert!(proxy.wait_exit().success());
    proxy.wait_for_log("--run-once");
}

/// How long a test holds a session open past a lifetime limit, checking
/// the server keeps running: well past the limit, on a loaded machine too.
const HOLD: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread")]
async fn timeout_stops_accepting_but_lets_sessions_finish() {
    let target = echo_target().await;
    // The session must open within these 2 s of start-up; if it does not,
    // the connect or the log check below fails (the test cannot pass idle).
    let mut proxy = Proxy::start(&["--timeout", "2", "127.0.0.1:0", &target.to_string()]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    proxy.wait_for_log("session open to");
    // The timeout fires with the session live, as the log says...
    let line = proxy.wait_for_log("stopped accepting");
    assert!(line.contains("waiting for 1 sessions"), "{line}");
    // ...and the server keeps running while it lives: no new connections,
    // the live session still relays.
    assert_eq!(
        proxy.wait_exit_within(HOLD),
        None,
        "exited with a session live"
    );
    assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_err());
    echo_once(&mut ws, b"after the timeout").await;
    ws.close(None).await.unwrap();
    // Once it ends the server exits.
    assert!(proxy.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_timeout_exits_only_when_no_session_is_live() {
    let target = echo_target().await;
    // The session must open within these 2 s of start-up; if it does not,
    // the server exits and the connect fails (the test cannot pass idle).
    let mut proxy = Proxy::start(&["--idle-timeout", "2", "127.0.0.1:0", &target.to_string()]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    proxy.wait_for_log("session open to");
    // A live session, silent or not, keeps it running past the idle time...
    assert_eq!(
        proxy.wait_exit_within(HOLD),
        None,
        "exited with a session live"
    );
    echo_once(&mut ws, b"still here").await;
    // ...still accepting, as it is not idle...
    let (mut second, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut second, b"a second session").await;
    second.close(None).await.unwrap();
    ws.close(None).await.unwrap();
    // ...and once they are gone the server exits by itself.
    assert!(proxy.wait_exit().success());
    proxy.wait_for_log("--idle-timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_detaches_and_keeps_serving() {
    let target = echo_target().await;
    let dir = TempDir::new("daemon");
    let log = dir.path().join("websockify.log");
    let out = Command::new(bin())
        .args(["-D", "--log-file", log.to_str().unwrap()])
        .args(["127.0.0.1:0", &target.to_string()])
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The daemon logs where the kernel put it.
    let deadline = Instant::now() + WAIT;
    let (text, addr) = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let addr = text
            .lines()
            .find_map(|l| l.split("listening on ").nth(1))
            .map(|a| a.trim().parse::<std::net::SocketAddr>().unwrap());
        if let Some(addr) = addr {
            break (text, addr);
        }
        assert!(
            Instant::now() < deadline,
            "no listen address logged: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let port = addr.port();
    let (mut ws, _) = ws_connect(addr, None).await;
    echo_once(&mut ws, b"daemonized").await;
    let pid_line = text.lines().find(|l| l.contains("listening on")).unwrap();
    // Stop the daemon: find it by its listening port.
    let ss = Command::new("ss")
        .args(["-Hltnp", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout);
    let pid: i32 = ss
        .split("pid=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("daemon not found by port: {ss} ({pid_line})"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_1_3_only_and_cipher_list() {
    let dir = TempDir::new("tls13");
    let tls13 = [
        "--ssl-version",
        "tlsv1_3",
        "--ssl-ciphers",
        "TLS_AES_256_GCM_SHA384",
    ];
    let (proxy, der) = tls_proxy(&dir, &tls13).await;
    let tls = tls_connect(proxy.addr(), &der)
        .await
        .expect("TLS 1.3 handshake");
    let (_, session) = tls.get_ref();
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        session.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    // A certificate of its own: the proxy above keeps using the first one.
    let refused = TempDir::new("tls13-refused");
    let (pem, _) = combined_pem(&refused);
    let (ok, err) = run_to_exit(&[
        "--cert",
        pem.to_str().unwrap(),
        "--ssl-ciphers",
        "HIGH:!aNULL",
        "0",
        "x:1",
    ]);
    assert!(!ok && err.contains("HIGH"), "{err}");
    let (ok, err) = run_to_exit(&[
        "--cert",
        pem.to_str().unwrap(),
        "--ssl-version",
        "tlsv1_1",
        "0",
        "x:1",
    ]);
    assert!(!ok && err.contains("below 1.2"), "{err}");
}

#[test]
fn refused_options_exit_2_naming_the_option() {
    for args in [
        &["--key-password", "secret", "0", "x:1"][..],
        &["--wrap-mode", "respawn", "0", "x:1"],
        &["6080", "--", "vncserver", ":1"],
    ] {
        let out = Command::new(bin()).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let named = args
            .iter()
            .find(|a| a.starts_with("--") && a.len() > 2)
            .unwrap_or(&"wrap");
        assert!(
            err.contains(named.trim_start_matches('-')) || err.contains("wrap"),
            "{args:?}: {err}"
        );
    }
    let out = Command::new(bin())
        .args(["--no-such-option", "0", "x:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-option"));
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_prints_frame_symbols() {
    let target = echo_target().await;
    let mut child = Command::new(bin())
        .args([
            "--traffic",
            "--heartbeat",
            "0",
            "127.0.0.1:0",
            &target.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let addr = loop {
        let line = lines.next().expect("log").unwrap();
        if let Some(a) = line.split("listening on ").nth(1) {
            break a.trim().parse().unwrap();
        }
    };
    let (mut ws, _) = ws_connect(addr, None).await;
    echo_once(&mut ws, b"x").await;
    ws.close(None).await.unwrap();
    // Every symbol of the session is printed before its closing log line.
    while let Some(Ok(line)) = lines.next() {
        if line.contains("session closed") {
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("Traffic Legend:"), "{stdout}");
    let symbols = stdout.lines().last().unwrap_or("");
    assert_eq!(
        symbols, "}>{<",
        "client frame, target write, target read, client frame"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn syslog_to_a_unix_socket_and_udp_in_both_formats() {
    let target = echo_target().await;
    let dir = TempDir::new("syslog");
    let path = dir.path().join("log.sock");
    let unix = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    unix.set_read_timeout(Some(WAIT)).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(WAIT)).unwrap();
    let _a = Proxy::start(&[
        "--syslog",
        path.to_str().unwrap(),
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let udp_addr = udp.local_addr().unwrap().to_string();
    let _b = Proxy::start(&[
        "--syslog",
        &udp_addr,
        "--legacy-syslog",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let mut buf = [0u8; 2048];
    let until = |recv: &dyn Fn(&mut [u8]) -> usize, buf: &mut [u8]| loop {
        let n = recv(buf);
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains("listening on") {
            return msg;
        }
    };
    let rfc5424 = until(&|b| unix.recv(b).expect("syslog datagram"), &mut buf);
    // <PRI>1 TIMESTAMP HOST websockify PID MSGID - MSG; user.info = 14.
    assert!(rfc5424.starts_with("<14>1 "), "{rfc5424}");
    assert!(rfc5424.contains(" websockify "), "{rfc5424}");
    let rfc3164 = until(&|b| udp.recv(b).expect("syslog datagram"), &mut buf);
    assert!(rfc3164.starts_with("<14>"), "{rfc3164}");
    assert!(rfc3164.contains("websockify["), "{rfc3164}");
    let (ok, err) = run_to_exit(&["--legacy-syslog", "0", "x:1"]);
    assert!(!ok && err.contains("needs `syslog`"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn debian_novnc_proxy_runs_our_binary_unchanged() {
    let script = std::path::Path::new("/usr/share/novnc/utils/novnc_proxy");
    assert!(
        script.exists(),
        "{} missing: install Debian's novnc (scripts/test does)",
        script.display()
    );
    let target = echo_target().await;
    let dir = TempDir::new("novnc-proxy");
    // novnc_proxy finds the proxy with `which websockify`.
    std::os::unix::fs::symlink(bin(), dir.path().join("websockify")).unwrap();
    let path = format!(
        "{}:{}",
        dir.arg(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (child, addr, mut ws) = novnc_proxy_session(script, &dir, &path, target).await;
    echo_once(&mut ws, b"via novnc_proxy").await;
    // It served noVNC from Debian's web root too.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /vnc.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    timeout(WAIT, s.read_to_string(&mut page))
        .await
        .unwrap()
        .unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("noVNC"),
        "{}",
        &page[..page.len().min(300)]
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Using installed websockify at {}",
            dir.path().join("websockify").display()
        )),
        "{stdout}"
    );
}

/// Runs `script` (novnc_proxy) on a free port until a WebSocket session
/// opens through it. The script refuses a port something answers on, and
/// a free port can be taken by a parallel test before it binds: a run that
/// exits before serving is tried again on another port (three times).
async fn novnc_proxy_session(
    script: &std::path::Path,
    dir: &TempDir,
    path: &str,
    target: std::net::SocketAddr,
) -> (
    std::process::Child,
    std::net::SocketAddr,
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) {
    let mut outputs = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new(script)
            .args(["--listen", &port.to_string(), "--vnc", &target.to_string()])
            .args(["--heartbeat", "20"])
            .current_dir(dir.path())
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(tcp) = tokio::net::TcpStream::connect(addr).await {
                let req = format!("ws://{addr}/websockify")
                    .into_client_request()
                    .unwrap();
                let opened = timeout(WAIT, tokio_tungstenite::client_async(req, tcp)).await;
                if let Ok(Ok((ws, _))) = opened {
                    return (child, addr, ws);
                }
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        outputs.push(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    panic!("novnc_proxy never served; its output each time: {outputs:#?}");
}
