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
    let out = tokio::task::block_in_place(|| ctl(&["kill", "d1", &id.to_string()]));
    assert!(out.status.success(), "{out:?}");
    assert!(proxy.wait_for_log("session closed").contains("close 1008"));
    let out = tokio::task::block_in_place(|| ctl(&["kill", "d1", &id.to_string()]));
    assert!(!out.status.success(), "a second kill must fail");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no session"),
        "{out:?}"
    );
}
