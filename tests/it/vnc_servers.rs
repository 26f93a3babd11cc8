//! Real VNC servers behind the proxy with `vnc-password-file`: x11vnc on
//! Xvfb (`-rfbauth`, RFB 3.8 and 3.3) and TigerVNC's Xvnc with its default
//! security types (VeNCrypt and VNC Authentication) and a password file made
//! by TigerVNC's own `vncpasswd`. The browser side sees security type None
//! and gets the server's ServerInit. A TigerVNC offering only VeNCrypt's TLS
//! subtypes is refused with 1011 naming them. Each test fails loudly when its server
//! is not installed (scripts/test installs them): a skip would pass unnoticed.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::http::{get, metrics_addr};
use common::rfb::{close, connect_as_browser, upgrade_logged_in, LOGIN_ARGS};
use common::x11vnc::{spawn, wait_for_path, x11vnc, Child, VNCPASSWD_OF_PASSWORD};
use common::*;

/// A proxy with a login (its access control) in front of `target`
/// (`host:port` or `unix_socket:PATH`), answering with the password in `pw`.
fn proxy(_dir: &TempDir, target: &str, pw: &Path) -> Proxy {
    let pw = ["--vnc-password-file", pw.to_str().unwrap()];
    let target = match target.strip_prefix("unix_socket:") {
        Some(path) => vec!["--unix-target", path, "127.0.0.1:0"],
        None => vec!["127.0.0.1:0", target],
    };
    Proxy::start(&[&LOGIN_ARGS[..], &pw, &target].concat())
}

#[tokio::test(flavor = "multi_thread")]
async fn x11vnc_3_8_behind_the_proxy() {
    let dir = TempDir::new("x11vnc38");
    let pw = dir.write("passwd", VNCPASSWD_OF_PASSWORD);
    let (_x, _vnc, target) = x11vnc(&dir, &pw, &[]).await;
    let proxy = proxy(&dir, &target, &pw);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let got = connect_as_browser(&mut s).await;
    assert_eq!(got, ("RFB 003.008".into(), 640, 480));
}

#[tokio::test(flavor = "multi_thread")]
async fn x11vnc_3_3_behind_the_proxy() {
    let dir = TempDir::new("x11vnc33");
    let pw = dir.write("passwd", VNCPASSWD_OF_PASSWORD);
    let (_x, _vnc, target) = x11vnc(&dir, &pw, &["-rfbversion", "3.3"]).await;
    let proxy = proxy(&dir, &target, &pw);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let got = connect_as_browser(&mut s).await;
    assert_eq!(got, ("RFB 003.003".into(), 640, 480));
}

/// TigerVNC's `vncpasswd -f`: the password file of `password` as TigerVNC
/// writes it.
fn tigervnc_passwd(dir: &TempDir, password: &str) -> PathBuf {
    use std::io::Write as _;
    let mut child = Command::new("vncpasswd")
        .arg("-f")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("vncpasswd is needed (apt-get install tigervnc-tools)");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "vncpasswd -f: {out:?}");
    assert_eq!(out.stdout.len(), 8, "a vncpasswd file is 8 bytes");
    dir.write("tigervnc.passwd", out.stdout)
}

/// TigerVNC's Xvnc with its default security types, `-rfbauth FILE`, on a
/// display it picks (`-displayfd`) and a unix socket only (no TCP port to
/// pick). Returns the server and its socket.
async fn xvnc(dir: &TempDir, pw: &Path, extra: &str) -> (Child, PathBuf) {
    let socket = dir.path().join("xvnc.sock");
    let display = dir.path().join("display");
    let script = format!(
        "exec Xvnc -displayfd 3 -geometry 800x600 -rfbport -1 -rfbunixpath '{}' \
         -rfbauth '{}' {extra} 3>'{}' 2>'{}'",
        socket.display(),
        pw.display(),
        display.display(),
        dir.path().join("xvnc.log").display()
    );
    let child = spawn("sh", &["-c", &script], "dash");
    wait_for_path(&socket, "Xvnc (apt-get install tigervnc-standalone-server)").await;
    (child, socket)
}

#[tokio::test(flavor = "multi_thread")]
async fn tigervnc_with_its_default_security_types_behind_the_proxy() {
    let dir = TempDir::new("xvnc");
    let pw = tigervnc_passwd(&dir, "password");
    let (_xvnc, socket) = xvnc(&dir, &pw, "").await;
    let target = format!("unix_socket:{}", socket.display());
    let proxy = proxy(&dir, &target, &pw);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let got = connect_as_browser(&mut s).await;
    assert_eq!(got, ("RFB 003.008".into(), 800, 600));
}

#[tokio::test(flavor = "multi_thread")]
async fn tigervnc_refuses_a_wrong_password_with_1011() {
    let dir = TempDir::new("xvncwrong");
    let pw = tigervnc_passwd(&dir, "password");
    let (_xvnc, socket) = xvnc(&dir, &pw, "").await;
    let wrong = dir.write("wrong", "wrongpass\n");
    let target = format!("unix_socket:{}", socket.display());
    let mut proxy = proxy(&dir, &target, &wrong);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let (code, reason) = close(&mut s).await;
    assert_eq!(code, 1011, "{reason}");
    assert!(reason.contains("refused the password"), "{reason}");
    eprintln!("TigerVNC, wrong password: close {code} {reason:?}");
    proxy.wait_for_log("refused the password");
    for line in proxy.log() {
        assert!(!line.contains("wrongpa"), "password logged: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tigervnc_with_vencrypt_only_is_refused_naming_its_subtypes() {
    let dir = TempDir::new("xvnctls");
    let pw = tigervnc_passwd(&dir, "password");
    let (_xvnc, socket) = xvnc(&dir, &pw, "-SecurityTypes TLSVnc,X509Vnc").await;
    let target = format!("unix_socket:{}", socket.display());
    let proxy = proxy(&dir, &target, &pw);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let (code, reason) = close(&mut s).await;
    eprintln!("TigerVNC, VeNCrypt only: close {code} {reason:?}");
    assert_eq!(code, 1011, "{reason}");
    assert_eq!(
        reason,
        "the VNC server offers no VNC Authentication: security types 19 (VeNCrypt: TLSVnc, X509Vnc)"
    );
}

/// `count` connections that read TigerVNC's banner and close: each one
/// is a black mark on the address (unix sockets: all peers share one).
async fn banner_only(socket: &Path, count: usize) {
    for _ in 0..count {
        let mut c = tokio::net::UnixStream::connect(socket).await.unwrap();
        let mut banner = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut c, &mut banner)
            .await
            .unwrap();
    }
}

/// `/readyz` logs in to TigerVNC with the password, and so does `--check`;
/// a check that logs in clears TigerVNC's black marks (which every
/// connection that does not log in adds, 5 at most before the address is
/// refused), so a proxy checking its target does not lock its users out.
#[tokio::test(flavor = "multi_thread")]
async fn checks_log_in_to_tigervnc_so_its_blacklist_never_locks_users_out() {
    let dir = TempDir::new("xvncready");
    let pw = tigervnc_passwd(&dir, "password");
    let (_xvnc, socket) = xvnc(&dir, &pw, "").await;
    let common = [
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "u:p",
        "--vnc-password-file",
        pw.to_str().unwrap(),
        "--unix-target",
        socket.to_str().unwrap(),
    ];
    let metrics = ["--metrics-listen", "127.0.0.1:0", "127.0.0.1:0"];
    let mut proxy = Proxy::start(&[&common[..], &metrics].concat());
    let metrics = metrics_addr(&mut proxy);
    let logged = proxy.wait_for_log("target check");
    let took = "target is a VNC server (RFB 003.008) and took the VNC password";
    assert!(logged.contains(took), "{logged}");
    assert_eq!(get(metrics, "/readyz").await, (200, "ready\n".to_owned()));
    // From here on no background check: marks are counted exactly.
    drop(proxy);
    let proxy = Proxy::start(&[&common[..], &["127.0.0.1:0"]].concat());
    let session = || async {
        let auth = "Authorization: Basic dTpw\r\n"; // u:p
        raw_upgrade_with(proxy.addr(), "/websockify", Some("binary"), auth).await
    };
    // Four marks, a check that logs in (--check), four more: the session
    // after them is in. Without the login it would be the tenth.
    banner_only(&socket, 4).await;
    let check = [&common[..], &["--check", "127.0.0.1:0"]].concat();
    let (ok, err) = run_to_exit(&check);
    assert!(ok && !err.contains("warning"), "{err}");
    banner_only(&socket, 4).await;
    let got = connect_as_browser(&mut session().await).await;
    assert_eq!(got, ("RFB 003.008".into(), 800, 600));
    // The hazard itself: six connections that do not log in, and TigerVNC
    // refuses the next one, the proxy's session included.
    banner_only(&socket, 5).await;
    let (code, reason) = close(&mut session().await).await;
    assert_eq!(code, 1011);
    assert!(reason.contains("Too many security failures"), "{reason}");
}

/// `websockifyctl status` logs in with a conf's password file (a path) and
/// says so; a wrong one is named, as TigerVNC's reason.
#[tokio::test(flavor = "multi_thread")]
async fn ctl_status_logs_in_to_tigervnc_with_the_conf_password() {
    let dir = TempDir::new("xvncstatus");
    let pw = tigervnc_passwd(&dir, "password");
    let wrong = dir.write("wrong", "wrongpass\n");
    let (_xvnc, socket) = xvnc(&dir, &pw, "").await;
    for (name, file) in [("good", &pw), ("bad", &wrong)] {
        let conf = format!(
            "listen = \"127.0.0.1:6080\"\nunix-target = \"{}\"\nvnc-password-file = \"{}\"\n",
            socket.display(),
            file.display()
        );
        dir.write(&format!("conf/{name}.conf"), conf);
    }
    let conf_dir = dir.path().join("conf");
    let out = tokio::task::spawn_blocking(move || ctl_status::run(&conf_dir, true))
        .await
        .unwrap();
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let vnc = |n: &str| {
        ctl_status::entry(&all, n)["vnc"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(vnc("good"), "RFB 003.008, password accepted");
    assert_eq!(
        vnc("bad"),
        "RFB 003.008, but: the VNC server refused the password: Authentication failure"
    );
}
