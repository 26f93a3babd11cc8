//! The target check through the real binary: `/readyz` and `websockifyctl
//! status` read the target's RFB banner. A VNC server is ready and named by
//! its version; a target that answers but is not a VNC server is ready with
//! a note (plain TCP targets are legitimate) unless `require-rfb` is set,
//! when `/readyz` fails and `status` warns; a dead target fails `/readyz`.

use crate::common;

use std::net::SocketAddr;

use common::http::{get, metrics_addr};
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};

/// A server that greets every connection like a VNC server and closes.
async fn banner_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"RFB 003.008\n").await;
        }
    });
    addr
}

/// `/readyz` once the first target check is in (before it, "not checked").
async fn readyz_after_check(target: &str, extra: &[&str]) -> (u16, String) {
    let args = [
        &["--metrics-listen", "127.0.0.1:0", "--connect-timeout", "1"],
        extra,
        &["127.0.0.1:0", target],
    ]
    .concat();
    let mut proxy = Proxy::start(&args);
    let metrics = metrics_addr(&mut proxy);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = get(metrics, "/readyz").await;
        if !body.contains("not checked yet") {
            return (status, body);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no target check: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_names_a_vnc_server_by_its_version() {
    let vnc = banner_target().await.to_string();
    let (status, body) = readyz_after_check(&vnc, &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ready: target is a VNC server (RFB 003.008)\n")
    );
    let (status, body) = readyz_after_check(&vnc, &["--require-rfb"]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_a_plain_tcp_target_is_ready_unless_require_rfb() {
    let echo = echo_target().await.to_string();
    let (status, body) = readyz_after_check(&echo, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "ready: target answers, but is not a VNC server (it said nothing for 1s)\n"
    );
    let (status, body) = readyz_after_check(&echo, &["--require-rfb"]).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("target is not a VNC server (")
            && body.ends_with("and require-rfb is set\n"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_a_dead_target_is_not_ready() {
    let dead = dead_target().await.to_string();
    let (status, body) = readyz_after_check(&dead, &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("target not answering ("), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_probes_unix_and_tcp_targets_and_warns_when_require_rfb_would_refuse() {
    let dir = TempDir::new("ctl-target-check");
    let socket = dir.path().join("vnc.sock");
    let unix = UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = unix.accept().await {
            let _ = s.write_all(b"RFB 003.003\n").await;
        }
    });
    let echo = echo_target().await;
    let dead = dead_target().await;
    let conf = |name: &str, body: String| dir.write(&format!("conf/{name}.conf"), body);
    conf(
        "unix",
        format!(
            "listen = \"127.0.0.1:6080\"\nunix-target = \"{}\"\n",
            socket.display()
        ),
    );
    conf(
        "plain",
        format!("listen = \"127.0.0.1:6081\"\ntarget = \"{echo}\"\n"),
    );
    conf(
        "strict",
        format!("listen = \"127.0.0.1:6082\"\ntarget = \"{echo}\"\nrequire-rfb = true\n"),
    );
    conf(
        "dead",
        format!("listen = \"127.0.0.1:6083\"\ntarget = \"{dead}\"\n"),
    );
    // The echo server runs on this runtime: probe from a blocking thread.
    let (json, text) = tokio::task::spawn_blocking(move || {
        let conf_dir = dir.path().join("conf");
        let json = ctl_status::run(&conf_dir, true);
        (
            serde_json::from_str(&json).unwrap(),
            ctl_status::run(&conf_dir, false),
        )
    })
    .await
    .unwrap();
    let by_name = |n: &str| ctl_status::entry(&json, n);
    let unix = by_name("unix");
    assert_eq!(
        (&unix["target_answers"], &unix["target_rfb"]),
        (&true.into(), &"RFB 003.003".into()),
        "{unix}"
    );
    let plain = by_name("plain");
    assert_eq!(
        (&plain["target_answers"], &plain["target_rfb"]),
        (&true.into(), &serde_json::Value::Null),
        "{plain}"
    );
    assert_eq!(plain["require_rfb"], false);
    assert_eq!(by_name("strict")["require_rfb"], true);
    let dead = by_name("dead");
    assert_eq!(dead["target_answers"], false, "{dead}");
    assert!(
        dead["vnc"].as_str().unwrap().starts_with("not answering ("),
        "{dead}"
    );
    // Text: each finding, and one warning, for the instance that would refuse.
    assert!(text.contains("[RFB 003.003]"), "{text}");
    assert!(
        text.contains("[not VNC (it said nothing for 2s)]"),
        "{text}"
    );
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("require-rfb is set and the target is not a VNC server"),
        "{text}"
    );
}
