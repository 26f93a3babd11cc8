//! The control socket through the real binary: `sessions` lists a live
//! session with its bytes, `kill ID` closes it with 1008 and a log line,
//! and bad commands get an error, not a crash.

use crate::common;

use common::*;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Sends one command and returns the answer line.
async fn command(path: &std::path::Path, line: &str) -> String {
    let s = UnixStream::connect(path).await.expect("control socket");
    let (r, mut w) = s.into_split();
    w.write_all(format!("{line}\n").as_bytes())
        .await
        .expect("write");
    let mut answer = String::new();
    let mut r = BufReader::new(r);
    timeout(WAIT, r.read_line(&mut answer))
        .await
        .expect("answer")
        .expect("read");
    answer
}

/// The only listed session, once its byte counts both reach `bytes`: the relay
/// counts a write after it returns, which may be just after the client read
/// it, so the listing is polled (5 s deadline).
async fn listed_once_counted(sock: &std::path::Path, bytes: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed: serde_json::Value =
            serde_json::from_str(&command(sock, "sessions").await).expect("JSON");
        let sessions = listed.as_array().expect("a list");
        assert_eq!(sessions.len(), 1, "{listed}");
        let s = &sessions[0];
        let counts = (s["bytes_to_target"].as_u64(), s["bytes_to_client"].as_u64());
        if counts == (Some(bytes), Some(bytes)) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "counts stay {counts:?}: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_and_one_can_be_killed() {
    let target = echo_target().await;
    let dir = TempDir::new("control");
    let sock = dir.path().join("control.sock");
    let sock_arg = sock.to_str().expect("utf-8").to_owned();
    let mut proxy = Proxy::start_ready(
        &[
            "--control-socket",
            &sock_arg,
            "127.0.0.1:0",
            &target.to_string(),
        ],
        &dir,
    );
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, &[1u8; 300]).await;
    let s = listed_once_counted(&sock, 300).await;
    assert_eq!(s["target"], target.to_string());
    let id = s["id"].as_u64().expect("id");
    assert!(command(&sock, "kill 999999")
        .await
        .starts_with("error: no session"));
    assert!(command(&sock, "bogus").await.starts_with("error:"));
    assert_eq!(command(&sock, &format!("kill {id}")).await, "ok\n");
    let close = loop {
        match timeout(WAIT, ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => break frame.expect("close frame"),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    proxy.wait_for_log(&format!("closing session {id}"));
    assert!(proxy.wait_for_log("session closed").contains("close 1008"));
    assert_eq!(command(&sock, "sessions").await, "[]\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockifyctl_lists_and_kills_through_the_conf_s_control_socket() {
    let target = echo_target().await;
    let dir = TempDir::new("control-ctl");
    let sock = dir.path().join("d1.sock");
    let conf = dir.write(
        "conf/d1.conf",
        format!(
            "listen = \"127.0.0.1:0\"\ntarget = \"{target}\"\ncontrol-socket = \"{}\"\n",
            sock.display()
        ),
    );
    let conf = conf.to_str().expect("utf-8");
    let mut proxy = Proxy::start_ready(&["--config", conf], &dir);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"hello").await;
    std::os::unix::fs::symlink(bin(), dir.path().join("websockifyctl")).expect("link");
    let ctl = |args: &[&str]| {
        std::process::Command::new(dir.path().join("websockifyctl"))
            .arg("--conf-dir")
            .arg(dir.path().join("conf"))
            .arg("--no-systemd")
            .args(args)
            .output()
            .expect("run websockifyctl")
    };
    let out = tokio::task::block_in_place(|| ctl(&["sessions", "d1", "--json"]));
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = listed[0]["id"].as_u64().expect("one session");
    // The text form: a header and one line, each column lined up.
    let out = tokio::task::block_in_place(|| ctl(&["sessions", "d1"]));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let (header, row) = (lines[0], lines[1]);
    let words: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(
        words,
        [
            "ID",
            "CLIENT",
            "USER",
            "TARGET",
            "TO TARGET",
            "TO CLIENT",
            "AGE"
        ],
        "{text}"
    );
    let client = listed[0]["client"].as_str().expect("client");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..4],
        [id.to_string().as_str(), client, "-", &target.to_string()]
    );
    for (title, cell) in [("CLIENT", client), ("TARGET", &target.to_string())] {
        assert_eq!(
            header.find(title),
            row.find(cell),
            "{title} column:\n{text}"
        );
    }
    assert_eq!(header.len(), row.len(), "right-aligned AGE:\n{text}");
    // list counts it.
    let out = tokio::task::block_in_place(|| ctl(&["list"]));
    let list = String::from_utf8(out.stdout).expect("UTF-8");
    let line = list.lines().nth(1).expect("d1's line");
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["d1", "unknown", "127.0.0.1:0", "(anyone)", "1", "-"],
        "{list}"
    );
    let out = tokio::task::block_in_place(|| ctl(&["kill", "d1", &id.to_string()]));
    assert!(out.status.success(), "{out:?}");
    assert!(proxy.wait_for_log("session closed").contains("close 1008"));
    let out = tokio::task::block_in_place(|| ctl(&["sessions", "d1"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no live sessions on websockify@d1\n"
    );
    let out = tokio::task::block_in_place(|| ctl(&["kill", "d1", &id.to_string()]));
    assert!(!out.status.success(), "a second kill must fail");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no session"),
        "{out:?}"
    );
}

/// The arguments of websockifyctl in the shipped unit's `ExecReload=`, for
/// instance `name` whose control socket is `sock`.
fn exec_reload(name: &str, sock: &std::path::Path) -> Vec<String> {
    let unit =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/websockify-rs@.service");
    let text = std::fs::read_to_string(unit).expect("the unit");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecReload="))
        .expect("ExecReload=");
    let line = line.replace(
        "/run/websockify/%i/control.sock",
        sock.to_str().expect("utf-8"),
    );
    let mut words = line.split_whitespace().map(|w| w.replace("%i", name));
    assert_eq!(words.next().as_deref(), Some("/usr/sbin/websockifyctl"));
    words.collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockifyctl_reload_says_reloaded_or_why_not() {
    let first = echo_target().await;
    let second = echo_target().await;
    let dir = TempDir::new("control-reload");
    let sock = dir.path().join("d1.sock");
    let conf_with = |target: &str| {
        let sock = sock.display();
        format!("listen = \"127.0.0.1:0\"\ncontrol-socket = \"{sock}\"\n{target}\n")
    };
    let conf = dir.write("conf/d1.conf", conf_with(&format!("target = \"{first}\"")));
    // Ready (READY=1) once the control socket accepts.
    let mut proxy = Proxy::start_ready(&["--config", conf.to_str().expect("utf-8")], &dir);
    std::os::unix::fs::symlink(bin(), dir.path().join("websockifyctl")).expect("link");
    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(dir.path().join("websockifyctl"))
            .arg("--conf-dir")
            .arg(dir.path().join("conf"))
            .args(args)
            .output()
            .expect("run websockifyctl");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };

    // Broken at line 3: the instance's reason, through the socket it was
    // given, by the shipped unit's ExecReload= command line.
    dir.write("conf/d1.conf", conf_with("target = "));
    let exec_reload = exec_reload("d1", &sock);
    let args: Vec<&str> = exec_reload.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = tokio::task::block_in_place(|| ctl(&args));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("reloaded"), "{stdout}");
    assert!(
        stderr.contains("reload failed") && stderr.contains("d1.conf:3"),
        "{stderr}"
    );
    assert!(proxy.wait_for_log("reload failed").contains("d1.conf:3"));
    // Without it, the broken conf names no socket: that is said too.
    let (code, stdout, stderr) = tokio::task::block_in_place(|| ctl(&["reload", "d1"]));
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("d1.conf:3"), "{stderr}");

    dir.write("conf/d1.conf", conf_with(&format!("target = \"{second}\"")));
    let (code, stdout, stderr) = tokio::task::block_in_place(|| ctl(&["reload", "d1"]));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("reloaded d1"), "{stdout}");
    assert!(stdout.contains(&second.to_string()), "{stdout}");
    proxy.wait_for_log(&format!("reload: relaying new sessions to {second}"));

    drop(proxy);
    let (code, _, stderr) = tokio::task::block_in_place(|| ctl(&["reload", "d1"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is websockify@d1 running?"), "{stderr}");
}

/// Out of descriptors (`ulimit -n 40`): the flood's extra connections fail
/// at accept, and once they are gone the control socket answers again.
#[tokio::test(flavor = "multi_thread")]
async fn the_control_socket_answers_again_after_running_out_of_descriptors() {
    let target = echo_target().await;
    let dir = TempDir::new("control-emfile");
    let sock = dir.path().join("control.sock");
    let mut proxy = Proxy::start_after(
        "ulimit -n 40",
        &[
            "--control-socket",
            sock.to_str().expect("utf-8"),
            "127.0.0.1:0",
            &target.to_string(),
        ],
    );
    proxy.wait_for_log("control socket on");
    // A connect may fail once the proxy is out of descriptors.
    let mut flood = Vec::new();
    for _ in 0..60 {
        flood.extend(UnixStream::connect(&sock).await.ok());
    }
    proxy.wait_for_log("Too many open files");
    drop(flood);
    assert_eq!(command(&sock, "sessions").await, "[]\n");
}

/// A connection that sends no complete command line for 10 seconds is
/// closed; one that sends its command is answered at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_control_connection_is_closed_after_10_seconds() {
    use tokio::io::AsyncReadExt;
    let target = echo_target().await;
    let dir = TempDir::new("control-idle");
    let sock = dir.path().join("control.sock");
    let args = [
        "--control-socket",
        sock.to_str().expect("utf-8"),
        "127.0.0.1:0",
        &target.to_string(),
    ];
    let _proxy = Proxy::start_ready(&args, &dir);
    let mut s = UnixStream::connect(&sock).await.expect("connect");
    s.write_all(b"sessions\n").await.expect("write");
    let mut answer = [0u8; 3];
    s.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"[]\n");
    // Half a command, then nothing.
    s.write_all(b"sess").await.expect("write");
    let idle = Instant::now();
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(15), s.read(&mut buf))
        .await
        .expect("the idle connection was kept open");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let took = idle.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "closed after {took:?}"
    );
}

/// `--control-socket` on a path where something else is: refused, naming
/// the path, and the file is left as it was; a socket left by an old
/// process is replaced.
#[tokio::test(flavor = "multi_thread")]
async fn the_control_socket_replaces_only_a_socket() {
    let target = echo_target().await.to_string();
    let dir = TempDir::new("control-file");
    let file = dir.write("precious.txt", "keep me\n");
    let file_arg = file.to_str().expect("utf-8");
    let args = ["--control-socket", file_arg, "127.0.0.1:0", &target];
    let mut refused = Proxy::start_expecting(&args, 0);
    let error = refused.wait_for_log("cannot listen on");
    assert!(
        error.contains(&format!("cannot listen on {file_arg}")) && error.contains("not a socket"),
        "{error}"
    );
    assert!(!refused.wait_exit().success());
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), "keep me\n");
    // A socket whose process is gone.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    let stale_arg = stale.to_str().expect("utf-8");
    let args = ["--control-socket", stale_arg, "127.0.0.1:0", &target];
    let _proxy = Proxy::start_ready(&args, &dir);
    assert_eq!(command(&stale, "sessions").await, "[]\n");
}
