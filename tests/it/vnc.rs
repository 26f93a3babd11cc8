//! VNC awareness through the real binary: `require-rfb` closes sessions to
//! targets that are not VNC servers, and `vnc-password-file` answers a fake
//! RFB server's VNC Authentication (3.8 and 3.3) while the browser is offered
//! security type None; refusals close with 1011 and a reason, never logging
//! the password; `--check` warns about a target that is not a VNC server.
//! Real VNC servers: vnc_servers.rs.

use crate::common;

use common::fake_vnc::{fake_vnc, Fake, CHALLENGE, SERVER_INIT};
use common::rfb::{close, data, frame, through_injection, upgrade, upgrade_logged_in, LOGIN_ARGS};
use common::x11vnc::VNCPASSWD_OF_PASSWORD;
use common::*;
use tokio::io::AsyncWriteExt;

/// A proxy with a login (its access control) in front of `target`.
fn proxy(dir: &TempDir, target: std::net::SocketAddr, password: &[u8]) -> Proxy {
    let pw = dir.write("vnc.pass", password);
    let target = target.to_string();
    let args = [
        "--vnc-password-file",
        pw.to_str().unwrap(),
        "127.0.0.1:0",
        &target,
    ];
    Proxy::start(&[&LOGIN_ARGS[..], &args].concat())
}

#[tokio::test(flavor = "multi_thread")]
async fn rfb_3_8_the_proxy_authenticates_and_the_browser_sees_none() {
    let dir = TempDir::new("vnc38");
    let (target, right) = fake_vnc(Fake::V38).await;
    let proxy = proxy(&dir, target, &VNCPASSWD_OF_PASSWORD);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    through_injection(&mut s, right).await;
    assert_eq!(data(&mut s).await, SERVER_INIT);
    s.write_all(&frame(b"after")).await.unwrap();
    assert_eq!(data(&mut s).await, b"after");
}

#[tokio::test(flavor = "multi_thread")]
async fn rfb_3_3_the_server_chooses_and_the_browser_gets_none() {
    let dir = TempDir::new("vnc33");
    let (target, right) = fake_vnc(Fake::V33).await;
    let proxy = proxy(&dir, target, b"password\n");
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    assert_eq!(data(&mut s).await, b"RFB 003.003\n");
    s.write_all(&frame(b"RFB 003.003\n")).await.unwrap();
    assert_eq!(
        data(&mut s).await,
        [0, 0, 0, 1],
        "3.3: the server chose None"
    );
    assert!(
        right.await.unwrap(),
        "the server saw the right DES response"
    );
    s.write_all(&frame(&[1])).await.unwrap();
    assert_eq!(data(&mut s).await, SERVER_INIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_closes_1011_and_is_never_logged() {
    let dir = TempDir::new("vncwrong");
    let (target, right) = fake_vnc(Fake::V38).await;
    let mut proxy = proxy(&dir, target, b"wrongpass\n");
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let (code, reason) = close(&mut s).await;
    assert!(!right.await.unwrap());
    assert_eq!(code, 1011);
    assert!(
        reason.contains("refused the password: Authentication failed"),
        "{reason}"
    );
    proxy.wait_for_log("refused the password");
    for line in proxy.log() {
        assert!(!line.contains("wrongpa"), "password logged: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_vnc_authentication_is_named() {
    let dir = TempDir::new("vnctls");
    let (target, _) = fake_vnc(Fake::TlsOnly).await;
    let proxy = proxy(&dir, target, b"password\n");
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    let (code, reason) = close(&mut s).await;
    assert_eq!(code, 1011);
    assert!(reason.contains("18 (TLS), 19 (VeNCrypt)"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn require_rfb_closes_sessions_to_other_services() {
    let echo = echo_target().await;
    let mut proxy = Proxy::start(&[
        "--require-rfb",
        "--connect-timeout",
        "1",
        "127.0.0.1:0",
        &echo.to_string(),
    ]);
    let mut s = upgrade(proxy.addr(), "/websockify").await;
    assert_eq!(
        close(&mut s).await,
        (1011, "target is not a VNC server".into())
    );
    proxy.wait_for_log("not a VNC server");
}

#[tokio::test(flavor = "multi_thread")]
async fn require_rfb_passes_the_banner_on_and_without_it_anything_relays() {
    let (vnc, _) = fake_vnc(Fake::V38).await;
    let proxy = Proxy::start(&["--require-rfb", "127.0.0.1:0", &vnc.to_string()]);
    let mut s = upgrade(proxy.addr(), "/websockify").await;
    assert_eq!(
        data(&mut s).await,
        b"RFB 003.008\n",
        "the banner is not lost"
    );
    s.write_all(&frame(b"RFB 003.008\n")).await.unwrap();
    assert_eq!(
        data(&mut s).await,
        [1, 2],
        "the server's own security types"
    );
    let echo = echo_target().await;
    let plain = Proxy::start(&["127.0.0.1:0", &echo.to_string()]);
    let mut s = upgrade(plain.addr(), "/websockify").await;
    s.write_all(&frame(b"not vnc")).await.unwrap();
    assert_eq!(data(&mut s).await, b"not vnc");
}

#[test]
fn a_password_without_access_control_is_refused_at_start() {
    let dir = TempDir::new("vncopen");
    let pw = dir.write("vnc.pass", "password\n");
    let (ok, err) = run_to_exit(&[
        "--vnc-password-file",
        pw.to_str().unwrap(),
        "127.0.0.1:0",
        "127.0.0.1:5901",
    ]);
    assert!(!ok, "started without access control");
    assert!(err.contains("set up a login first"), "{err}");
    assert!(!err.contains("password\n"), "{err}");
}

/// `BasePlugin` lets everyone in and `ExpectOrigin` trusts a header any
/// client writes: neither stands in front of a VNC password.
#[test]
fn a_password_behind_a_check_that_names_no_user_is_refused_at_start() {
    let dir = TempDir::new("vncweak");
    let pw = dir.write("vnc.pass", "password\n");
    let pw = pw.to_str().unwrap();
    for plugin in [
        &["--auth-plugin", "BasePlugin"][..],
        &[
            "--auth-plugin",
            "ExpectOrigin",
            "--auth-source",
            "http://a.example",
        ],
    ] {
        let rest = ["--vnc-password-file", pw, "127.0.0.1:0", "127.0.0.1:5901"];
        let (ok, err) = run_to_exit(&[plugin, &rest].concat());
        assert!(!ok, "{plugin:?} let a VNC password start");
        assert!(err.contains("do not check who the client is"), "{err}");
    }
    let rest = [
        "--vnc-password-file",
        pw,
        "--check",
        "127.0.0.1:0",
        "127.0.0.1:5901",
    ];
    let (ok, err) = run_to_exit(&[&LOGIN_ARGS[..], &rest].concat());
    assert!(ok, "a Basic login is enough: {err}");
}

/// The instance's VNC password belongs to its `target`: with a token
/// plugin it is never answered to a token's server (a hostile one would
/// collect the DES response and crack the password offline).
#[tokio::test(flavor = "multi_thread")]
async fn the_instance_password_is_never_answered_to_a_token_target() {
    let dir = TempDir::new("vnctokenpw");
    let (target, answered) = fake_vnc(Fake::V38).await;
    let tokens = dir.write("tokens", format!("vnc: {target}\n"));
    let pw = dir.write("vnc.pass", VNCPASSWD_OF_PASSWORD);
    let proxy = Proxy::start(&[
        "--target-config",
        tokens.to_str().unwrap(),
        "--vnc-password-file",
        pw.to_str().unwrap(),
        "127.0.0.1:0",
    ]);
    let warned = |l: &String| l.contains("is not used with a token plugin");
    assert!(proxy.log().iter().any(warned), "the start-up log says so");
    let mut s = upgrade(proxy.addr(), "/websockify?token=vnc").await;
    assert_eq!(data(&mut s).await, b"RFB 003.008\n");
    s.write_all(&frame(b"RFB 003.008\n")).await.unwrap();
    assert_eq!(
        data(&mut s).await,
        [1, 2],
        "the browser gets the server's own security types: the proxy answers nothing"
    );
    s.write_all(&frame(&[2])).await.unwrap();
    assert_eq!(
        data(&mut s).await,
        CHALLENGE,
        "the challenge goes to the browser"
    );
    drop(s);
    assert!(answered.await.is_err(), "the server got no DES response");
}

/// `websockify --check ARGS` to its exit: whether it succeeded, its verdict
/// (standard output, which is that one line) and its warnings (standard error).
async fn checked(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin())
            .arg("--check")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .expect("run websockify --check");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// `--check` warns (exit status 0) about a target that is not a VNC server
/// or refuses the password, and its verdict, last, says so: "OK" only
/// without a warning.
#[tokio::test(flavor = "multi_thread")]
async fn check_warns_about_a_target_that_is_not_vnc() {
    let echo = echo_target().await.to_string();
    let (ok, verdict, err) = checked(&["--connect-timeout", "1", "127.0.0.1:0", &echo]).await;
    assert!(ok, "--check only warns: {err}");
    assert!(err.contains("answers, but is not a VNC server"), "{err}");
    assert_eq!(
        verdict,
        format!("options: settings valid, 1 warning above (target {echo})\n")
    );
    let (vnc, _) = fake_vnc(Fake::V38).await;
    let vnc = vnc.to_string();
    let (ok, verdict, err) = checked(&["127.0.0.1:0", &vnc]).await;
    assert!(ok && err.is_empty(), "{err}");
    assert_eq!(verdict, format!("options: OK (target {vnc})\n"));
    // With the password, --check logs in, and says so when that fails.
    let dir = TempDir::new("vnccheck");
    let pw = dir.write("vnc.pass", "wrongpass\n");
    let (vnc, right) = fake_vnc(Fake::V38).await;
    let vnc = vnc.to_string();
    let pw = pw.to_str().unwrap();
    let (ok, verdict, err) = checked(&[
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "u:p",
        "--vnc-password-file",
        pw,
        "127.0.0.1:0",
        &vnc,
    ])
    .await;
    assert!(!right.await.unwrap(), "the fake server saw a wrong answer");
    assert!(ok, "--check only warns: {err}");
    assert_eq!(
        err,
        format!(
            "websockify: warning: target {vnc} is a VNC server (RFB 003.008) but did not let \
             the proxy in: the VNC server refused the password: Authentication failed\n"
        )
    );
    assert_eq!(
        verdict,
        format!("options: settings valid, 1 warning above (target {vnc})\n"),
        "no OK above a refused password"
    );
    assert!(!err.contains("wrongpa"), "{err}");
}

/// `--check` binds nothing for good, but tries the `listen` ports: one in
/// use is a warning (it may be this very instance's), named with the fix.
#[tokio::test(flavor = "multi_thread")]
async fn check_warns_about_a_listen_port_in_use() {
    let (vnc, _) = fake_vnc(Fake::V38).await;
    let vnc = vnc.to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let (ok, verdict, err) = checked(&[&listen, &vnc]).await;
    assert!(ok, "a port in use is a warning: {err}");
    assert_eq!(
        err,
        format!(
            "websockify: warning: listen {listen}: cannot listen on {listen}: Address already \
             in use (os error 98): if this instance holds it (running, or through its socket \
             unit websockify@NAME.socket), that is expected; otherwise websockify will not start\n"
        )
    );
    assert_eq!(
        verdict,
        format!("options: settings valid, 1 warning above (target {vnc})\n")
    );
}

/// A target that looks like a VNC display number (`:1`, what a VNC viewer
/// takes) and does not answer as a VNC server: the warning says which port
/// that display is.
#[tokio::test(flavor = "multi_thread")]
async fn check_tells_a_display_number_from_a_port() {
    let (ok, verdict, err) = checked(&["--connect-timeout", "1", "127.0.0.1:0", ":1"]).await;
    assert!(ok, "{err}");
    let warning = err.lines().next().unwrap_or_default();
    assert!(
        warning.starts_with("websockify: warning: target localhost:1 does not answer: ")
            && warning.ends_with(
                "; port 1 looks like a VNC display number: display :1 is port 5901 \
                 (give localhost:5901)"
            ),
        "{err}"
    );
    assert_eq!(
        verdict,
        "options: settings valid, 1 warning above (target localhost:1)\n"
    );
}
