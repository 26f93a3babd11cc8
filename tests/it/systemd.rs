//! systemd integration through real tools: `systemd-socket-activate` passing
//! TCP and unix sockets, a real NOTIFY_SOCKET receiving the daemon's states,
//! SIGHUP reload and SIGTERM grace with sessions open, and the shipped units
//! plus generator output checked by `systemd-analyze`.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::notify::Notify;
use common::*;
use futures_util::{SinkExt, StreamExt};
use nix::sys::signal::Signal::{SIGHUP, SIGTERM};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A systemd tool, or a loud failure: these tests must not pass by skipping.
fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/bin", "/usr/lib/systemd"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p.to_string_lossy().into_owned();
        }
    }
    panic!("{name} not found: install Debian's `systemd` package (scripts/test does)");
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_activation_serves_passed_tcp_and_unix_sockets() {
    let target = echo_target().await;
    let dir = TempDir::new("activation");
    let conf = dir.write(
        "act.conf",
        format!("target = \"{target}\"\nheartbeat = 0\n"),
    );
    let sock = dir.path().join("ws.sock");
    // The TCP socket is bound here, on a port the kernel picks, and handed to
    // systemd-socket-activate as systemd would (fd 3, LISTEN_FDS=1 for its
    // pid): it passes on the sockets it receives along with those of `-l`.
    // (Probing for a free port and letting the tool bind it would race.)
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"export LISTEN_PID=$$ LISTEN_FDS=1; exec 3<&0 </dev/null; exec "$0" "$@""#)
        .arg(tool("systemd-socket-activate"))
        .args(["-l", sock.to_str().unwrap()])
        .arg("--fdname=web:local")
        .args([bin(), "--config", conf.to_str().unwrap()])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            listener,
        )));
    let mut proxy = Proxy::spawn(&mut cmd, 0);
    // systemd-socket-activate starts the daemon on the first connection;
    // the socket exists already, so this connects at once.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/websockify"),
    )
    .unwrap();
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::client_async(req, tcp))
        .await
        .unwrap()
        .unwrap();
    echo_once(&mut ws, b"via systemd's TCP socket").await;
    let line = proxy.wait_for_log("passed in by systemd");
    assert!(line.contains("web") || line.contains("local"), "{line}");
    // The unix socket was passed too, and serves WebSocket sessions.
    let unix = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        "ws://localhost/websockify",
    )
    .unwrap();
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::client_async(req, unix))
        .await
        .unwrap()
        .unwrap();
    echo_once(&mut ws, b"via systemd's unix socket").await;
    let log = proxy.log().join("\n");
    assert!(log.matches("passed in by systemd").count() == 2, "{log}");
    assert!(!log.contains("listening on 127.0.0.1:0"), "{log}");
}

/// The watchdog interval the tests ask for, as systemd's `WatchdogSec=`.
const WATCHDOG: Duration = Duration::from_secs(1);

/// Times between successive pings.
fn gaps(pings: &[Instant]) -> Vec<Duration> {
    pings.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_ready_status_reload_stopping_and_watchdog() {
    let target = echo_target().await;
    let other = echo_target().await;
    let dir = TempDir::new("notify");
    let mut notify = Notify::new(&dir);
    let conf = dir.write(
        "n.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"{target}\"\n"),
    );
    let mut cmd = Command::new(bin());
    cmd.args(["--config", conf.to_str().unwrap()])
        .env("NOTIFY_SOCKET", notify.path())
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
    let mut proxy = Proxy::spawn(&mut cmd, 1);

    let ready = notify.next();
    assert!(ready.contains("READY=1"), "{ready:?}");
    assert!(
        ready.contains(&format!("STATUS=0 sessions; target {target}")),
        "{ready:?}"
    );

    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"x").await;
    notify.until("STATUS=1 session;");

    dir.write(
        "n.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"{other}\"\n"),
    );
    proxy.signal(SIGHUP);
    let reloading = notify.until("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    let ready = notify.next();
    assert!(ready.contains("READY=1"), "{ready:?}");
    assert!(ready.contains(&format!("target {other}")), "{ready:?}");

    // systemd restarts a service whose WATCHDOG=1 pings are further apart
    // than WATCHDOG_USEC; the daemon pings at half of it. Over PERIOD the
    // pings must keep coming: no gap (as this reader sees it) longer than
    // the interval itself, and more of them than pinging once per interval
    // would give. Bounds in whole intervals of a second, not milliseconds,
    // as a loaded machine delays the reader as well as the daemon.
    const PERIOD: Duration = Duration::from_secs(5);
    notify.watchdog.clear();
    let mut last = Instant::now();
    let end = last + PERIOD;
    notify.sock.set_read_timeout(Some(WATCHDOG)).unwrap();
    while Instant::now() < end {
        let mut buf = [0u8; 64];
        let n = blocking(|| notify.sock.recv(&mut buf)).unwrap_or_else(|e| {
            panic!(
                "no notify message for {:?} ({e}); pings {:?} apart",
                last.elapsed(),
                gaps(&notify.watchdog)
            )
        });
        if buf[..n].trim_ascii_end() == b"WATCHDOG=1" {
            last = Instant::now();
            notify.watchdog.push(last);
        }
    }
    notify.sock.set_read_timeout(Some(WAIT)).unwrap();
    let gaps = gaps(&notify.watchdog);
    assert!(
        gaps.iter().all(|gap| *gap <= WATCHDOG),
        "a watchdog gap beyond WATCHDOG_USEC ({WATCHDOG:?}): {gaps:?}"
    );
    // Half-interval pings give 10 in 5 s; once per interval would give 5 or 6.
    assert!(
        notify.watchdog.len() >= 7,
        "{} watchdog pings in {PERIOD:?} (interval {WATCHDOG:?}): {gaps:?}",
        notify.watchdog.len()
    );

    proxy.signal(SIGTERM);
    let stopping = notify.until("STOPPING=1");
    assert!(stopping.contains("EXTEND_TIMEOUT_USEC="), "{stopping:?}");
    drop(ws);
    assert!(proxy.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_keeps_live_bytes_and_new_sessions_use_the_new_conf() {
    let first = echo_target().await;
    let second = echo_target().await;
    let dir = TempDir::new("reload");
    let conf = dir.write(
        "r.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"{first}\"\nheartbeat = 0\n"),
    );
    let mut proxy = Proxy::start(&["--config", conf.to_str().unwrap()]);
    let (ws, _) = ws_connect(proxy.addr(), None).await;

    // Stream through the first session while the conf changes under it.
    let data = pattern(4 << 20, 77);
    let (mut tx, mut rx) = ws.split();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        for chunk in sent.chunks(16 * 1024) {
            tx.send(Message::binary(chunk.to_vec())).await.unwrap();
        }
        tx
    });
    dir.write(
        "r.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"{second}\"\nheartbeat = 0\n"),
    );
    proxy.signal(SIGHUP);
    proxy.wait_for_log(&format!("reload: relaying new sessions to {second}"));
    let mut echoed = Vec::new();
    while echoed.len() < data.len() {
        match timeout(WAIT, rx.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => echoed.extend_from_slice(&b),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        sha256(&echoed),
        sha256(&data),
        "the live session lost or changed bytes"
    );
    let _ = writer.await.unwrap();

    // A new session goes to the new target.
    let (mut ws2, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws2, b"to the second target").await;
    let opened = proxy.wait_for_log("session open to");
    assert!(opened.contains(&second.to_string()), "{opened}");

    // A broken conf is refused; the second target stays in force.
    dir.write("r.conf", "listen = \"127.0.0.1:0\"\ntarget = \n");
    proxy.signal(SIGHUP);
    let line = proxy.wait_for_log("reload failed");
    assert!(line.contains("r.conf:2"), "{line}");
    let (mut ws3, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws3, b"still served").await;
    let opened = proxy.wait_for_log("session open to");
    assert!(opened.contains(&second.to_string()), "{opened}");
}

/// One command on the control socket; its answer line.
fn control(path: &Path, command: &str) -> String {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path).expect("control socket");
    s.set_read_timeout(Some(WAIT)).unwrap();
    writeln!(s, "{command}").unwrap();
    let mut answer = String::new();
    blocking(|| std::io::BufReader::new(s).read_line(&mut answer)).expect("an answer");
    answer
}

/// A failed reload tells systemd only a status: a `RELOADING=1` or
/// `READY=1` would make `systemctl reload` report success.
fn assert_failed_reload_is_only_a_status(notify: &mut Notify) {
    let seen = notify.upto("reload failed");
    assert!(
        !seen
            .iter()
            .any(|m| m.contains("READY=1") || m.contains("RELOADING=1")),
        "a failed reload told systemd it reloaded: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reload_says_why_keeps_the_old_settings_and_sends_no_ready() {
    let first = echo_target().await;
    let second = echo_target().await;
    let dir = TempDir::new("reload-truth");
    let mut notify = Notify::new(&dir);
    let sock = dir.path().join("control.sock");
    let conf_with = |target: &str| {
        let sock = sock.display();
        format!("listen = \"127.0.0.1:0\"\ncontrol-socket = \"{sock}\"\n{target}\n")
    };
    let conf = dir.write("t.conf", conf_with(&format!("target = \"{first}\"")));
    let mut cmd = Command::new(bin());
    cmd.args(["--config", conf.to_str().unwrap()])
        .env("NOTIFY_SOCKET", notify.path());
    let mut proxy = Proxy::spawn(&mut cmd, 1);
    // READY=1 comes once the control socket accepts.
    assert!(notify.next().contains("READY=1"));

    // Broken at line 3: by SIGHUP, then through the control socket.
    dir.write("t.conf", conf_with("target = "));
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(proxy.wait_for_log("reload failed").contains("t.conf:3"));
    assert_failed_reload_is_only_a_status(&mut notify);
    let answer = control(&sock, "reload");
    assert!(
        answer.starts_with("error: ") && answer.contains("t.conf:3"),
        "{answer:?}"
    );
    assert_failed_reload_is_only_a_status(&mut notify);
    // The old settings stay.
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"old target").await;
    let opened = proxy.wait_for_log("session open to");
    assert!(opened.contains(&first.to_string()), "{opened}");
    // A new session count keeps the failure in the status line, which
    // `systemctl status` shows until a reload succeeds.
    let status = notify.until("1 session;");
    assert!(
        status.contains("reload failed") && status.contains("t.conf:3"),
        "{status}"
    );

    // Fixed: RELOADING=1, then READY=1 with the new target, then the answer.
    dir.write("t.conf", conf_with(&format!("target = \"{second}\"")));
    let answer = control(&sock, "reload");
    assert!(
        answer.starts_with("ok") && answer.contains(&second.to_string()),
        "{answer:?}"
    );
    let seen = notify.upto("READY=1");
    let (ready, before) = seen.split_last().unwrap();
    assert!(ready.contains(&format!("target {second}")), "{ready:?}");
    assert!(!ready.contains("reload failed"), "{ready:?}");
    assert!(
        before.iter().any(|m| m.contains("RELOADING=1")),
        "READY=1 without RELOADING=1 before it: {seen:?}"
    );
    let (mut ws2, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws2, b"new target").await;
    let opened = proxy.wait_for_log("session open to");
    assert!(opened.contains(&second.to_string()), "{opened}");
    echo_once(&mut ws, b"the old session goes on").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_waits_the_grace_period_then_sends_1001() {
    let target = echo_target().await;
    let dir = TempDir::new("grace");
    let conf = dir.write(
        "g.conf",
        format!(
            "listen = \"127.0.0.1:0\"\ntarget = \"{target}\"\nheartbeat = 0\nshutdown-grace = 2\n"
        ),
    );
    let mut proxy = Proxy::start(&["--config", conf.to_str().unwrap()]);
    let (mut staying, _) = ws_connect(proxy.addr(), None).await;
    let (mut leaving, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut staying, b"a").await;
    echo_once(&mut leaving, b"b").await;
    let start = Instant::now();
    proxy.signal(SIGTERM);
    proxy.wait_for_log("stopped accepting");
    // During the grace period live sessions still relay.
    echo_once(&mut staying, b"still relaying").await;
    leaving.close(None).await.unwrap();
    let close = loop {
        match timeout(WAIT, staying.next()).await.unwrap() {
            Some(Ok(Message::Close(f))) => break f.expect("close frame"),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "closed before the grace period"
    );
    let _ = staying.next().await;
    assert!(proxy.wait_exit().success());
}

/// The shipped units, named as the package installs them.
fn installed_units(into: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    for (from, to) in [
        ("websockify-rs@.service", "websockify@.service"),
        ("websockify-rs@.socket", "websockify@.socket"),
        ("websockify.target", "websockify.target"),
    ] {
        let text = std::fs::read_to_string(src.join(from)).unwrap();
        // The binary is not installed here: point ExecStart (websockify) and
        // ExecReload (websockifyctl) at the one under test.
        let ctl = into.join("websockifyctl");
        let text = text
            .replace("/usr/bin/websockify", bin())
            .replace("/usr/sbin/websockifyctl", ctl.to_str().unwrap());
        std::fs::write(into.join(to), text).unwrap();
    }
    std::os::unix::fs::symlink(bin(), into.join("websockifyctl")).unwrap();
}

#[test]
fn generator_output_and_units_pass_systemd_analyze_verify() {
    let confs = TempDir::new("gen-confs");
    confs.write(
        "display1.conf",
        "listen = \"6080\"\ntarget = \"localhost:5901\"\n",
    );
    confs.write(
        "display2.conf",
        "listen = [\"127.0.0.1:6081\", \"[::1]:6081\"]\ntarget = \"localhost:5902\"\n",
    );
    confs.write("nolisten.conf", "target = \"localhost:5903\"\n");
    confs.write("broken.conf", "listen = \"6084\"\ntraget = \"x\"\n");
    confs.write(
        "named.conf",
        "listen = \"vnc.example.com:6085\"\ntarget = \"localhost:5905\"\n",
    );
    confs.write("notes.txt", "not a conf\n");
    let out = TempDir::new("gen-out");
    let units = TempDir::new("gen-units");
    installed_units(units.path());
    let link = units.path().join("websockify-generator");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let run = Command::new(&link)
        .arg(out.path())
        .arg(out.path())
        .arg(out.path())
        .env("WEBSOCKIFY_CONF_DIR", confs.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "a generator must never fail: {stderr}"
    );
    assert!(
        stderr.contains("broken.conf: skipped") && stderr.contains("traget"),
        "{stderr}"
    );
    assert!(stderr.contains("named.conf: skipped"), "{stderr}");
    let d1 = std::fs::read_to_string(
        out.path()
            .join("websockify@display1.socket.d/50-listen.conf"),
    )
    .unwrap();
    assert!(d1.contains("\n[Socket]\nListenStream=6080\n"), "{d1}");
    assert!(
        d1.contains("SourcePath=") && d1.contains("websockify-generator"),
        "{d1}"
    );
    let d2 = std::fs::read_to_string(
        out.path()
            .join("websockify@display2.socket.d/50-listen.conf"),
    )
    .unwrap();
    assert!(
        d2.contains("ListenStream=127.0.0.1:6081\nListenStream=[::1]:6081\n"),
        "{d2}"
    );
    for skipped in ["nolisten", "broken", "named"] {
        assert!(
            !out.path()
                .join(format!("websockify@{skipped}.socket.d"))
                .exists(),
            "{skipped}"
        );
    }

    let unit_path = format!("{}:{}:", out.path().display(), units.path().display());
    for unit in [
        "websockify@display1.socket",
        "websockify@display2.socket",
        "websockify@display1.service",
        "websockify.target",
    ] {
        let verify = Command::new(tool("systemd-analyze"))
            .args(["verify", "--man=no", unit])
            .env("SYSTEMD_UNIT_PATH", &unit_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&verify.stderr).into_owned()
            + &String::from_utf8_lossy(&verify.stdout);
        assert!(
            verify.status.success() && text.trim().is_empty(),
            "{unit}: {text}"
        );
    }
    // Without the generator's drop-in the socket has no address and refuses.
    let bare = Command::new(tool("systemd-analyze"))
        .args(["verify", "--man=no", "websockify@nolisten.socket"])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.path().display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bare.stderr);
    assert!(text.contains("no Listen setting"), "{text}");
}

#[test]
fn service_hardening_scores_at_most_1_5() {
    let units = TempDir::new("security");
    installed_units(units.path());
    let instance = units.path().join("websockify@display1.service");
    std::fs::copy(units.path().join("websockify@.service"), &instance).unwrap();
    let out = Command::new(tool("systemd-analyze"))
        .args(["security", "--offline=yes", "--threshold=15", "--no-pager"])
        .arg(&instance)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for websockify@display1.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(level <= 1.5, "exposure {level} > 1.5:\n{text}");
}
