//! Who the user is, and which desktop they may reach, through the real
//! binary: instances from `websockifyctl add --user` let only their own user
//! in (page and WebSocket), one port serves several users each to their own
//! target (`[users.NAME]`), the user is in the session list and the log
//! lines, removing a user and reloading closes that user's sessions only
//! (1008), and loopback is no trusted proxy unless configured.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// `websockifyctl --conf-dir DIR/conf --no-systemd ARGS` with `stdin`,
/// which must succeed.
pub(crate) fn ctl(dir: &TempDir, args: &[&str], stdin: &str) -> Output {
    let out = common::ctl::run(&dir.path().join("conf"), args, stdin);
    assert!(out.status.success(), "websockifyctl {args:?} failed");
    out
}

fn basic(user: &str, password: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b}")
}

/// The status of `GET path` (the page) as `user`.
async fn page_status(addr: SocketAddr, path: &str, login: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {login}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = String::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_string(&mut got)).await;
    got.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

pub(crate) type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket session as `login`: the session, or the refusal's status.
async fn session(addr: SocketAddr, login: &str) -> Result<Ws, u16> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/websockify")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", login.parse().unwrap());
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

/// The next data message's bytes.
pub(crate) async fn next_data(ws: &mut Ws) -> Vec<u8> {
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => return b.to_vec(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected data, got {other:?}"),
        }
    }
}

/// The greeting of the session's target (which desk it reached), and an
/// echo that proves the session relays.
pub(crate) async fn greeting_and_echo(ws: &mut Ws) -> String {
    use futures_util::SinkExt;
    let greeting = String::from_utf8(next_data(ws).await).unwrap();
    ws.send(Message::binary(&b"ping"[..])).await.unwrap();
    assert_eq!(next_data(ws).await, b"ping");
    greeting.trim_end().to_owned()
}

/// The close frame's code and reason.
pub(crate) async fn closed_with(ws: &mut Ws) -> (u16, String) {
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return (u16::from(f.code), f.reason.to_string())
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Starts the instance of `conf` on a port of its own (plain, loopback).
fn instance(conf: &Path) -> Proxy {
    Proxy::start(&["-v", "--config", conf.to_str().unwrap(), "127.0.0.1:0"])
}

fn add(dir: &TempDir, name: &str, target: SocketAddr, user: &str, password: &str) -> PathBuf {
    let web = dir.path().join("web").display().to_string();
    let target = target.to_string();
    let args = [
        "add",
        name,
        "--target",
        &target,
        "--web",
        &web,
        "--behind-nginx",
        "--user",
        user,
        "--stdin",
        "--no-start",
    ];
    ctl(dir, &args, &format!("{password}\n"));
    dir.path().join(format!("conf/{name}.conf"))
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_from_add_let_only_their_own_user_in() {
    let dir = TempDir::new("users-add");
    dir.write("web/vnc.html", "<html>noVNC</html>");
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    let alice_conf = add(&dir, "alice", desk("alice-desk").await, "alice", "a-pass");
    let bob_conf = add(&dir, "bob", desk("bob-desk").await, "bob", "b-pass");
    let text = std::fs::read_to_string(&alice_conf).unwrap();
    assert!(text.contains("allowed-users = \"alice\""), "{text}");

    let (alice, bob) = (basic("alice", "a-pass"), basic("bob", "b-pass"));
    let mut a = instance(&alice_conf);
    let b = instance(&bob_conf);
    // Cross access: 403 for the page and for the WebSocket, both ways.
    assert_eq!(page_status(a.addr(), "/vnc.html", &bob).await, 403);
    assert_eq!(page_status(b.addr(), "/vnc.html", &alice).await, 403);
    assert_eq!(session(a.addr(), &bob).await.err(), Some(403));
    assert_eq!(session(b.addr(), &alice).await.err(), Some(403));
    a.wait_for_log("user \"bob\" is not in allowed-users");
    // Own access: the page, and the own desk, byte-exact.
    assert_eq!(page_status(a.addr(), "/vnc.html", &alice).await, 200);
    let mut ws = session(a.addr(), &alice).await.expect("alice on her desk");
    assert_eq!(greeting_and_echo(&mut ws).await, "alice-desk");
    let mut ws = session(b.addr(), &bob).await.expect("bob on his desk");
    assert_eq!(greeting_and_echo(&mut ws).await, "bob-desk");
    // A wrong password is logged with the user name tried.
    assert_eq!(
        session(a.addr(), &basic("alice", "nope")).await.err(),
        Some(401)
    );
    a.wait_for_log("(user \"alice\")");
}

/// A conf with `auth-file` (alice, bob, carol) and a user map.
fn mapped(dir: &TempDir, users: &str) -> PathBuf {
    for (user, pw) in [("alice", "a-pass"), ("bob", "b-pass"), ("carol", "c-pass")] {
        let file = dir.path().join("htpasswd").display().to_string();
        ctl(
            dir,
            &["passwd", "--file", &file, "--stdin", user],
            &format!("{pw}\n"),
        );
    }
    let file = dir.path().join("htpasswd");
    let conf = format!(
        "auth-file = \"{}\"\ncontrol-socket = \"{}\"\n{users}",
        file.display(),
        dir.path().join("control.sock").display()
    );
    dir.write("conf/desks.conf", conf)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_port_takes_each_user_to_their_own_desk() {
    let dir = TempDir::new("users-map");
    let (a, b) = (desk("alice-desk").await, desk("bob-desk").await);
    let conf = mapped(
        &dir,
        &format!("[users.alice]\ntarget = \"{a}\"\n\n[users.bob]\ntarget = \"{b}\"\n"),
    );
    let mut proxy = instance(&conf);
    let mut ws_a = session(proxy.addr(), &basic("alice", "a-pass"))
        .await
        .unwrap();
    assert_eq!(greeting_and_echo(&mut ws_a).await, "alice-desk");
    let mut ws_b = session(proxy.addr(), &basic("bob", "b-pass"))
        .await
        .unwrap();
    assert_eq!(greeting_and_echo(&mut ws_b).await, "bob-desk");
    // Carol logs in, but has no desk here: 403, never a default one.
    let carol = session(proxy.addr(), &basic("carol", "c-pass")).await;
    assert_eq!(carol.err(), Some(403));
    proxy.wait_for_log("user \"carol\" has no [users] entry");
    let opened = |user: &str| {
        let named = format!("user \"{user}\"");
        proxy
            .log()
            .iter()
            .any(|l| l.contains("session open to") && l.contains(&named))
    };
    assert!(
        opened("alice") && opened("bob"),
        "the open lines name the users"
    );

    // The session list names the users.
    let out = ctl(&dir, &["sessions", "desks", "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut users: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["user"].as_str())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "bob"]);

    // `kill --user` closes that user's sessions only.
    let out = ctl(&dir, &["kill", "desks", "--user", "alice"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("closed the sessions of alice"));
    assert_eq!(closed_with(&mut ws_a).await.0, 1008);
    assert_eq!(greeting_and_echo_again(&mut ws_b).await, "still here");
}

/// One more echo on a session that already greeted.
async fn greeting_and_echo_again(ws: &mut Ws) -> &'static str {
    use futures_util::SinkExt;
    ws.send(Message::binary(&b"still here"[..])).await.unwrap();
    assert_eq!(next_data(ws).await, b"still here");
    "still here"
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_user_and_reloading_closes_only_their_sessions() {
    let dir = TempDir::new("users-revoke");
    let shared = desk("shared-desk").await;
    let conf = mapped(&dir, &format!("target = \"{shared}\"\n"));
    let mut proxy = instance(&conf);
    let mut alice = session(proxy.addr(), &basic("alice", "a-pass"))
        .await
        .unwrap();
    let mut bob = session(proxy.addr(), &basic("bob", "b-pass"))
        .await
        .unwrap();
    assert_eq!(greeting_and_echo(&mut alice).await, "shared-desk");
    assert_eq!(greeting_and_echo(&mut bob).await, "shared-desk");

    let file = dir.path().join("htpasswd").display().to_string();
    ctl(&dir, &["passwd", "--file", &file, "--delete", "alice"], "");
    let hup = |proxy: &Proxy| {
        let pid = nix::unistd::Pid::from_raw(proxy.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    };
    hup(&proxy);
    let (code, reason) = closed_with(&mut alice).await;
    assert_eq!((code, reason.as_str()), (1008, "Access revoked"));
    proxy.wait_for_log("user \"alice\" was removed");
    assert_eq!(greeting_and_echo_again(&mut bob).await, "still here");
    assert_eq!(
        session(proxy.addr(), &basic("alice", "a-pass")).await.err(),
        Some(401)
    );

    // The last users deleted: the reload succeeds, and nobody gets in.
    for user in ["bob", "carol"] {
        ctl(&dir, &["passwd", "--file", &file, "--delete", user], "");
    }
    hup(&proxy);
    assert_eq!(closed_with(&mut bob).await.0, 1008);
    proxy.wait_for_log("closed 1 sessions whose access was taken away");
    assert_eq!(
        session(proxy.addr(), &basic("bob", "b-pass")).await.err(),
        Some(401)
    );
    assert!(
        !proxy.log().iter().any(|l| l.contains("reload failed")),
        "an empty password file failed the reload"
    );
}

/// Loopback is not a trusted proxy by default: a local client cannot write
/// its own client address with `X-Forwarded-For`, nor dodge the lockout by
/// changing it.
#[tokio::test(flavor = "multi_thread")]
async fn loopback_is_no_trusted_proxy_unless_configured() {
    let dir = TempDir::new("users-xff");
    let conf = mapped(&dir, &format!("target = \"{}\"\n", echo_target().await));
    let proxy = instance(&conf);
    // 20 wrong passwords, each "from" another address (the review's case).
    for i in 0..20 {
        let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut req = format!("ws://{}/websockify", proxy.addr())
            .into_client_request()
            .unwrap();
        let headers = req.headers_mut();
        headers.insert("Authorization", basic("alice", "wrong").parse().unwrap());
        let forged = format!("198.51.100.{i}");
        headers.insert("X-Forwarded-For", forged.parse().unwrap());
        let _ = tokio_tungstenite::client_async(req, tcp).await;
    }
    let locked = session(proxy.addr(), &basic("alice", "a-pass")).await;
    assert_eq!(
        locked.err(),
        Some(429),
        "the lockout applies to the real client"
    );
    assert!(
        !proxy.log().iter().any(|l| l.contains("198.51.100.")),
        "a forged client address reached the log"
    );
}

/// Instances of 0.2.0 shared one password file and let in all its users:
/// they keep working, but `--check`, the start and `status` say so.
#[tokio::test(flavor = "multi_thread")]
async fn an_old_shared_password_file_is_warned_about() {
    let dir = TempDir::new("users-shared");
    let target = echo_target().await;
    let conf = mapped(&dir, &format!("target = \"{target}\"\n"));
    let twin = dir.write("conf/twin.conf", std::fs::read_to_string(&conf).unwrap());
    let (ok, err) = run_to_exit(&["--check", "--config", twin.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("every one of the 3 users in"), "{err}");
    let proxy = instance(&conf);
    let warned = |l: &String| l.contains("name the ones who may in `allowed-users`");
    assert!(proxy.log().iter().any(warned), "the start says so");
    let out = ctl(&dir, &["status", "desks"], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: every user of") && text.contains("the users of twin too"),
        "{text}"
    );
    // Both still let alice in: nothing is dropped by the upgrade.
    let mut ws = session(proxy.addr(), &basic("alice", "a-pass"))
        .await
        .unwrap();
    greeting_and_echo_again(&mut ws).await;
}

/// Real x11vnc desktops, each with its own VNC password, injected by the
/// proxy: an instance from `add --user alice` keeps bob out before any
/// VNC byte, and one instance with `[users]` takes alice and bob each to
/// their own desktop (the name in ServerInit) with their own password.
#[tokio::test(flavor = "multi_thread")]
async fn each_user_reaches_their_own_real_desktop_with_their_own_vnc_password() {
    use common::rfb::desktop_name_as_browser;
    use common::x11vnc::{store_password, x11vnc};
    let dir = TempDir::new("users-x11vnc");
    dir.write("web/vnc.html", "<html>noVNC</html>");
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    let (a_dir, b_dir) = (TempDir::new("users-vnc-a"), TempDir::new("users-vnc-b"));
    let (a_pw, b_pw) = (
        store_password(&a_dir, "alicevnc"),
        store_password(&b_dir, "bobvnc"),
    );
    let (_ax, _av, a) = x11vnc(&a_dir, &a_pw, &["-desktop", "alice-desk"]).await;
    let (_bx, _bv, b) = x11vnc(&b_dir, &b_pw, &["-desktop", "bob-desk"]).await;

    // Two instances from `add --user`, sharing the password file.
    let alice_conf = add(&dir, "alice", a.parse().unwrap(), "alice", "a-pass");
    add(&dir, "bob", b.parse().unwrap(), "bob", "b-pass");
    let injected = format!("vnc-password-file = \"{}\"\n", a_pw.display());
    let text = std::fs::read_to_string(&alice_conf).unwrap() + &injected;
    std::fs::write(&alice_conf, text).unwrap();
    let own = instance(&alice_conf);
    let (alice, bob) = (basic("alice", "a-pass"), basic("bob", "b-pass"));
    assert_eq!(
        session(own.addr(), &bob).await.err(),
        Some(403),
        "bob: no VNC byte"
    );
    let auth = format!("Authorization: {alice}\r\n");
    let mut s = raw_upgrade_with(own.addr(), "/websockify", Some("binary"), &auth).await;
    assert_eq!(desktop_name_as_browser(&mut s).await, "alice-desk");

    // One port, each user to their own desktop and VNC password.
    let users = format!(
        "[users.alice]\ntarget = \"{a}\"\nvnc-password-file = \"{}\"\n\n\
         [users.bob]\ntarget = \"{b}\"\nvnc-password-file = \"{}\"\n",
        a_pw.display(),
        b_pw.display()
    );
    let shared = instance(&mapped(&dir, &users));
    for (login, desk) in [(&alice, "alice-desk"), (&bob, "bob-desk")] {
        let auth = format!("Authorization: {login}\r\n");
        let mut s = raw_upgrade_with(shared.addr(), "/websockify", Some("binary"), &auth).await;
        assert_eq!(desktop_name_as_browser(&mut s).await, desk);
    }
    let carol = session(shared.addr(), &basic("carol", "c-pass")).await;
    assert_eq!(carol.err(), Some(403), "carol has no desktop here");
}

/// `websockifyctl user add/list/remove` on an instance from `add --user`:
/// bob gets his own desk next to alice's (who keeps hers), then loses it.
#[tokio::test(flavor = "multi_thread")]
async fn user_commands_give_a_desk_and_take_it_away() {
    let dir = TempDir::new("users-ctl");
    dir.write("web/vnc.html", "<html>noVNC</html>");
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    let (a, b) = (desk("alice-desk").await, desk("bob-desk").await);
    let conf = add(&dir, "desk", a, "alice", "a-pass");
    let (bt, stdout) = (b.to_string(), |o: Output| {
        String::from_utf8(o.stdout).unwrap()
    });
    let out = stdout(ctl(
        &dir,
        &["user", "add", "desk", "bob", "--target", &bt, "--stdin"],
        "b-pass\n",
    ));
    assert!(
        out.contains(&format!("bob reaches {b} through instance desk")),
        "{out}"
    );
    assert!(
        out.contains(&format!("alice keeps reaching {a} (a [users] table each)")),
        "{out}"
    );
    let listed = stdout(ctl(&dir, &["user", "list", "desk"], ""));
    let lines: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (at, bt) = (a.to_string(), b.to_string());
    assert_eq!(
        lines,
        [
            vec!["alice", &at, "password", "set"],
            vec!["bob", &bt, "password", "set"]
        ]
    );
    let refused = ctl_fails(&dir, &["user", "add", "desk", "carol", "--stdin"]);
    assert!(refused.contains("give --target HOST:PORT"), "{refused}");

    let mut proxy = instance(&conf);
    let mut alice = session(proxy.addr(), &basic("alice", "a-pass"))
        .await
        .unwrap();
    assert_eq!(greeting_and_echo(&mut alice).await, "alice-desk");
    let mut bob = session(proxy.addr(), &basic("bob", "b-pass"))
        .await
        .unwrap();
    assert_eq!(greeting_and_echo(&mut bob).await, "bob-desk");

    let out = stdout(ctl(&dir, &["user", "remove", "desk", "bob"], ""));
    assert!(out.contains("bob may no longer use instance desk"), "{out}");
    assert!(
        out.contains("--no-systemd: websockify@desk not reloaded; the change takes effect at websockifyctl reload desk"),
        "{out}"
    );
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    assert_eq!(closed_with(&mut bob).await.0, 1008);
    proxy.wait_for_log("closed 1 sessions whose access was taken away");
    assert_eq!(greeting_and_echo_again(&mut alice).await, "still here");
    assert_eq!(
        session(proxy.addr(), &basic("bob", "b-pass")).await.err(),
        Some(403)
    );
}

/// `websockifyctl ... ARGS`, which must fail: its standard error.
fn ctl_fails(dir: &TempDir, args: &[&str]) -> String {
    let out = common::ctl::run(&dir.path().join("conf"), args, "");
    assert!(!out.status.success(), "websockifyctl {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}
