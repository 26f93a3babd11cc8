//! The target check through the real binary: `/readyz` and `websockifyctl
//! status` read the target's RFB banner. A VNC server is ready and named by
//! its version; a target that answers but is not a VNC server is ready with
//! a note (plain TCP targets are legitimate) unless `require-rfb` is set,
//! when `/readyz` fails and `status` warns; a dead target fails `/readyz`.

use crate::common;

use std::net::SocketAddr;

use common::http::{get, metrics_addr};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

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

/// A proxy to `target` whose first target check is in: the proxy, its
/// `/readyz` answer, and the check's log line.
async fn checked(target: &str, extra: &[&str]) -> (Proxy, (u16, String), String) {
    let args = [
        &["--metrics-listen", "127.0.0.1:0", "--connect-timeout", "1"],
        extra,
        &["127.0.0.1:0", target],
    ]
    .concat();
    let mut proxy = Proxy::start(&args);
    let metrics = metrics_addr(&mut proxy);
    let logged = proxy.wait_for_log("target check");
    let readyz = get(metrics, "/readyz").await;
    (proxy, readyz, logged)
}

/// `/readyz` once the first target check is in, and the check's log line.
async fn readyz_after_check(target: &str, extra: &[&str]) -> (u16, String, String) {
    let (_, (status, body), logged) = checked(target, extra).await;
    (status, body, logged)
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_says_ready_and_the_log_names_the_vnc_version() {
    let vnc = banner_target().await.to_string();
    let (status, body, logged) = readyz_after_check(&vnc, &[]).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert!(
        logged.contains(&format!("({vnc}): target is a VNC server (RFB 003.008)")),
        "{logged}"
    );
    let (status, body, _) = readyz_after_check(&vnc, &["--require-rfb"]).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_a_plain_tcp_target_is_ready_unless_require_rfb() {
    let echo = echo_target().await.to_string();
    let (status, body, logged) = readyz_after_check(&echo, &[]).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert!(
        logged.contains("target answers, but is not a VNC server (it said nothing for 1s)"),
        "{logged}"
    );
    let (status, body, logged) = readyz_after_check(&echo, &["--require-rfb"]).await;
    assert_eq!((status, body.as_str()), (503, "not ready: not-vnc\n"));
    assert!(logged.contains("and require-rfb is set"), "{logged}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_a_dead_target_is_not_ready() {
    let dead = dead_target().await.to_string();
    let (status, body, logged) = readyz_after_check(&dead, &[]).await;
    assert_eq!((status, body.as_str()), (503, "not ready: target-down\n"));
    assert!(logged.contains("target not answering ("), "{logged}");
}

/// A VNC server (3.8) that refuses every login with a reason that changes
/// each time ("attempt N"); reports each connection's number.
async fn refusing_vnc() -> (SocketAddr, mpsc::UnboundedReceiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for n in 1.. {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let _ = tx.send(n);
            tokio::spawn(async move {
                let mut answer = [0u8; 12 + 1 + 16];
                s.write_all(b"RFB 003.008\n").await?;
                s.read_exact(&mut answer[..12]).await?;
                s.write_all(&[1, 2]).await?; // VNC Authentication only
                s.read_exact(&mut answer[12..13]).await?;
                s.write_all(&[7u8; 16]).await?; // the challenge
                s.read_exact(&mut answer[13..]).await?;
                let reason = format!("attempt {n}");
                let mut fail = 1u32.to_be_bytes().to_vec();
                fail.extend_from_slice(&(reason.len() as u32).to_be_bytes());
                fail.extend_from_slice(reason.as_bytes());
                s.write_all(&fail).await?;
                std::io::Result::Ok(())
            });
        }
    });
    (addr, rx)
}

/// A refused VNC password: `/readyz` says only the reason code (not the
/// target, not the server's words); the log has the detail, once for the
/// state however the details of later checks differ.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_a_refused_vnc_password_is_a_code_and_logged_once() {
    let (vnc, mut connections) = refusing_vnc().await;
    let dir = TempDir::new("readyz-refused");
    let pw = dir.write("vnc.pass", "wrong\n");
    let args = [
        "--vnc-password-file",
        pw.to_str().unwrap(),
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "u:p",
    ];
    let (proxy, (status, body), logged) = checked(&vnc.to_string(), &args).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "not ready: vnc-auth-failed\n")
    );
    assert!(
        logged.contains(&format!("({vnc}):")) && logged.contains("attempt 1"),
        "{logged}"
    );
    // The third check begins once the second has ended (and logged, if it
    // were to): checks are 5 s apart.
    for want in 1..=3 {
        let n = tokio::time::timeout(WAIT, connections.recv()).await;
        assert_eq!(n.expect("a check in time"), Some(want));
    }
    let log = proxy.log();
    let lines: Vec<&String> = log.iter().filter(|l| l.contains("target check")).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
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
