//! A login in front of the proxy, through the real binary: `auth-request`
//! against a test auth service speaking oauth2-proxy's contract (a page
//! without a session goes to sign in, an upgrade gets 401, a signed-in
//! user reaches their own desk and is named by the session list, the log
//! and revocation; one page load is one sub-request; the service down or
//! slow gives 503 within the bound), and `trusted-user-header` behind a
//! real nginx with `auth_request` (believed from nginx, ignored from
//! anyone else).

use crate::common;
use crate::users::{closed_with, ctl, greeting_and_echo, Ws};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::auth_service::{self, cookie};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Where the browser of the trusted-header test connects from: not
/// nginx's 127.0.0.1, the one trusted proxy.
const BROWSER: &str = "127.0.0.2";

/// A connection to `addr` from `from`.
async fn connect(addr: SocketAddr, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.expect("connect")
}

/// The whole answer to `GET path` with `extra` header lines.
async fn page(addr: SocketAddr, path: &str, extra: &str) -> String {
    let mut s = connect(addr, "127.0.0.1").await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// A WebSocket session from `from` with `headers`, or the refusal's status.
async fn session(addr: SocketAddr, from: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let tcp = connect(addr, from).await;
    let mut req = format!("ws://{addr}/websockify")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        let name = ::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        req.headers_mut().append(name, value.parse().unwrap());
    }
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

/// The cookie header line of `user`'s session.
fn cookie_line(user: &str) -> String {
    format!("Cookie: theme=dark; {}\r\n", cookie(user))
}

/// The instance `conf/NAME.conf` of `dir`, with a web root and a control
/// socket, on a port of its own.
fn instance(dir: &TempDir, name: &str, keys: &str) -> (Proxy, PathBuf) {
    dir.write("web/vnc.html", "<html>noVNC</html>");
    let conf = format!(
        "web = \"{}\"\ncontrol-socket = \"{}\"\n{keys}",
        dir.path().join("web").display(),
        dir.path().join("control.sock").display()
    );
    let path = dir.write(&format!("conf/{name}.conf"), conf);
    let proxy = Proxy::start(&["-v", "--config", path.to_str().unwrap(), "127.0.0.1:0"]);
    (proxy, path)
}

/// The users `websockifyctl sessions NAME --json` lists.
fn session_users(dir: &TempDir, name: &str) -> Vec<String> {
    let out = ctl(dir, &["sessions", name, "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut users: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["user"].as_str().map(str::to_owned))
        .collect();
    users.sort_unstable();
    users
}

/// `s` percent-encoded as the sign-in URL's `rd=` is: all but letters and digits.
fn encoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_auth_sends_strangers_to_sign_in_and_users_to_their_desk() {
    let dir = TempDir::new("fwd-auth");
    let (auth, seen) = auth_service::start(&["alice", "bob"], false).await;
    let alice_desk = desk("alice-desk").await;
    let keys = format!(
        "auth-request = \"http://{auth}/oauth2/auth\"\n\
         auth-request-signin = \"https://sso.example/oauth2/start\"\n\n\
         [users.alice]\ntarget = \"{alice_desk}\"\n"
    );
    let (mut proxy, conf) = instance(&dir, "fwd", &keys);
    let addr = proxy.addr();

    // Not signed in: the page goes to sign in, with the way back; the upgrade gets 401.
    let answer = page(addr, "/vnc.html?autoconnect=1", "").await;
    assert_eq!(http::status(&answer), 302, "{answer}");
    let back = encoded(&format!("http://{addr}/vnc.html?autoconnect=1"));
    let location = format!("location: https://sso.example/oauth2/start?rd={back}\r\n");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&location.to_ascii_lowercase()),
        "{answer}"
    );
    assert_eq!(session(addr, "127.0.0.1", &[]).await.err(), Some(401));

    // Signed in as alice: the page, and her own desk, byte-exact.
    let answer = page(addr, "/vnc.html?x=1", &cookie_line("alice")).await;
    assert_eq!(http::status(&answer), 200, "{answer}");
    // What the auth service was told about the request.
    let alice_cookie = format!("theme=dark; {}", cookie("alice"));
    assert_eq!(
        seen.last("x-original-uri").as_deref(),
        Some("/vnc.html?x=1")
    );
    assert_eq!(
        seen.last("x-forwarded-uri").as_deref(),
        Some("/vnc.html?x=1")
    );
    assert_eq!(seen.last("x-forwarded-host"), Some(addr.to_string()));
    assert_eq!(seen.last("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(seen.last("cookie"), Some(alice_cookie.clone()));
    let mut ws = session(addr, "127.0.0.1", &[("Cookie", &alice_cookie)])
        .await
        .expect("alice's session");
    assert_eq!(greeting_and_echo(&mut ws).await, "alice-desk");

    // The session list and the log name her.
    assert_eq!(session_users(&dir, "fwd"), ["alice"]);
    let opened = proxy.wait_for_log("session open to");
    assert!(opened.contains("user \"alice\""), "{opened}");

    // Bob signs in but has no desk here: 403, logged with his name.
    let bob_cookie = cookie("bob");
    let bob = session(addr, "127.0.0.1", &[("Cookie", &bob_cookie)]).await;
    assert_eq!(bob.err(), Some(403));
    proxy.wait_for_log("user \"bob\" has no [users] entry");

    // alice is no longer allowed: the reload closes her session (1008).
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("allowed-users = [\"bob\"]\n{text}")).unwrap();
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    let (code, reason) = closed_with(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1008, "Access revoked"));
    proxy.wait_for_log("user \"alice\" is not in allowed-users");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_page_load_is_one_sub_request() {
    let dir = TempDir::new("fwd-cache");
    let (auth, seen) = auth_service::start(&["alice", "bob"], false).await;
    let keys = format!(
        "auth-request = \"http://{auth}/oauth2/auth\"\ntarget = \"{}\"\n",
        echo_target().await
    );
    let (proxy, _) = instance(&dir, "cache", &keys);
    let addr = proxy.addr();
    let alice = cookie_line("alice");
    // A page load: many requests with the same cookie, most in parallel.
    let loads = (0..20).map(|_| page(addr, "/vnc.html", &alice));
    for answer in futures_util::future::join_all(loads).await {
        assert_eq!(http::status(&answer), 200, "{answer}");
    }
    let same = format!("theme=dark; {}", cookie("alice"));
    let mut ws = session(addr, "127.0.0.1", &[("Cookie", &same)])
        .await
        .expect("alice's session");
    echo_once(&mut ws, b"one").await;
    assert_eq!(seen.count(), 1, "one sub-request for the whole page load");
    // Strangers are answered from the cache too, and other users ask anew.
    for _ in 0..10 {
        assert_eq!(http::status(&page(addr, "/vnc.html", "").await), 401);
    }
    assert_eq!(seen.count(), 2);
    assert_eq!(
        http::status(&page(addr, "/", &cookie_line("bob")).await),
        200
    );
    assert_eq!(seen.count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_service_down_or_slow_fails_closed() {
    let dir = TempDir::new("fwd-down");
    let target = echo_target().await;
    // Nothing listens there.
    let down = format!("127.0.0.1:{}", free_port());
    let keys = format!(
        "auth-request = \"http://{down}/oauth2/auth\"\n\
         auth-request-signin = \"https://sso.example/oauth2/start\"\ntarget = \"{target}\"\n"
    );
    let (mut proxy, _) = instance(&dir, "down", &keys);
    let answer = page(proxy.addr(), "/vnc.html", &cookie_line("alice")).await;
    assert_eq!(http::status(&answer), 503, "{answer}");
    let upgrade = session(proxy.addr(), "127.0.0.1", &[("Cookie", &cookie("alice"))]).await;
    assert_eq!(upgrade.err(), Some(503));
    let line = proxy.wait_for_log("refused: 503: auth-request");
    assert!(line.contains(&format!("http://{down}")), "{line}");

    // A service that never answers: 503 once the 3 s bound has passed.
    let slow_dir = TempDir::new("fwd-slow");
    let (slow, seen) = auth_service::start(&["alice"], true).await;
    let keys = format!("auth-request = \"http://{slow}/oauth2/auth\"\ntarget = \"{target}\"\n");
    let (mut proxy, _) = instance(&slow_dir, "slow", &keys);
    let started = Instant::now();
    let answer = page(proxy.addr(), "/vnc.html", &cookie_line("alice")).await;
    let took = started.elapsed();
    assert_eq!(http::status(&answer), 503, "{answer}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(6),
        "answered after {took:?}"
    );
    assert_eq!(seen.count(), 1);
    proxy.wait_for_log("no answer within 3 s");

    // auth-request-timeout shortens the wait.
    let (slow, _) = auth_service::start(&["alice"], true).await;
    let keys = format!(
        "auth-request = \"http://{slow}/oauth2/auth\"\nauth-request-timeout = 1\ntarget = \"{target}\"\n"
    );
    let (mut proxy, _) = instance(&TempDir::new("fwd-slow-1"), "slow1", &keys);
    let started = Instant::now();
    let answer = page(proxy.addr(), "/vnc.html", &cookie_line("alice")).await;
    let took = started.elapsed();
    assert_eq!(http::status(&answer), 503, "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2800),
        "answered after {took:?}"
    );
    proxy.wait_for_log("no answer within 1 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_from_nginx_is_believed_and_from_anyone_else_ignored() {
    let dir = TempDir::new("fwd-nginx");
    let (auth, _seen) = auth_service::start(&["alice", "bob"], false).await;
    let (a, b) = (desk("alice-desk").await, desk("bob-desk").await);
    let keys = format!(
        "trusted-proxies = \"127.0.0.1/32\"\ntrusted-user-header = \"X-Remote-User\"\n\n\
         [users.alice]\ntarget = \"{a}\"\n\n[users.bob]\ntarget = \"{b}\"\n"
    );
    let (mut proxy, _) = instance(&dir, "behind", &keys);
    let front: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = format!(
        "server {{\n  listen {front};\n\
         location = /auth {{\n    internal;\n    proxy_pass http://{auth}/oauth2/auth;\n    \
         proxy_pass_request_body off;\n    proxy_set_header Content-Length \"\";\n    \
         proxy_set_header X-Original-URI $request_uri;\n  }}\n\
         location / {{\n    auth_request /auth;\n    \
         auth_request_set $user $upstream_http_x_auth_request_user;\n    \
         proxy_set_header X-Remote-User $user;\n    proxy_pass http://{};\n    \
         proxy_http_version 1.1;\n    proxy_set_header Upgrade $http_upgrade;\n    \
         proxy_set_header Connection \"upgrade\";\n    proxy_set_header Host $host;\n  }}\n}}\n",
        proxy.addr()
    );
    let nginx_dir = TempDir::new("fwd-nginx-front");
    let _nginx = common::nginx::start(&nginx_dir, &server, front);

    // Straight to the proxy, not from nginx: the header is ignored, and logged.
    let forged = session(proxy.addr(), BROWSER, &[("X-Remote-User", "alice")]).await;
    assert_eq!(forged.err(), Some(401));
    proxy.wait_for_log("x-remote-user from a peer not in trusted-proxies is ignored");

    // Through nginx: its user is believed, over whatever the browser wrote.
    let alice = cookie("alice");
    let headers = [("Cookie", alice.as_str()), ("X-Remote-User", "bob")];
    let mut ws = session(front, BROWSER, &headers)
        .await
        .expect("alice via nginx");
    assert_eq!(greeting_and_echo(&mut ws).await, "alice-desk");
    assert_eq!(session_users(&dir, "behind"), ["alice"]);
    let opened = proxy.wait_for_log("session open to");
    assert!(opened.contains("user \"alice\""), "{opened}");
    // Without a session nginx itself refuses.
    let none = session(front, BROWSER, &[("X-Remote-User", "bob")]).await;
    assert_eq!(none.err(), Some(401));
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_allowed_groups_come_in() {
    let dir = TempDir::new("fwd-groups");
    let (auth, _seen) = auth_service::start(&["alice", "bob"], false).await;
    let keys = format!(
        "auth-request = \"http://{auth}/oauth2/auth\"\n\
         auth-request-allowed-groups = [\"vnc\", \"admins\"]\ntarget = \"{}\"\n",
        echo_target().await
    );
    let (mut proxy, _) = instance(&dir, "groups", &keys);
    let mut ws = session(proxy.addr(), "127.0.0.1", &[("Cookie", &cookie("alice"))])
        .await
        .expect("alice is in vnc");
    echo_once(&mut ws, b"in").await;
    let bob = session(proxy.addr(), "127.0.0.1", &[("Cookie", &cookie("bob"))]).await;
    assert_eq!(bob.err(), Some(403));
    let page_status = http::status(&page(proxy.addr(), "/vnc.html", &cookie_line("bob")).await);
    assert_eq!(page_status, 403);
    let line = proxy.wait_for_log("is in none of auth-request-allowed-groups");
    assert!(
        line.contains("user \"bob\"") && line.contains("\"staff\""),
        "{line}"
    );
}

/// An https auth service is verified against the system's CAs (here a
/// private one, through `SSL_CERT_FILE`, set for the daemon alone).
#[tokio::test(flavor = "multi_thread")]
async fn an_https_auth_service_is_verified() {
    use std::process::{Command, Stdio};
    let dir = TempDir::new("fwd-https");
    let (acceptor, cert_pem) = common::token_servers::tls_acceptor();
    let (_, other_pem) = common::token_servers::tls_acceptor();
    let (auth, _seen) = auth_service::start_with(&["alice"], false, Some(acceptor)).await;
    let url = format!("https://{auth}/oauth2/auth");
    let target = echo_target().await.to_string();
    let trusting = |ca: PathBuf| {
        let mut cmd = Command::new(bin());
        cmd.args(["-v", "--auth-request", &url, "127.0.0.1:0", &target])
            .env("SSL_CERT_FILE", ca)
            .stdin(Stdio::null());
        Proxy::spawn(&mut cmd, 1)
    };
    let proxy = trusting(dir.write("ca.pem", cert_pem));
    let mut ws = session(proxy.addr(), "127.0.0.1", &[("Cookie", &cookie("alice"))])
        .await
        .expect("alice over https");
    echo_once(&mut ws, b"tls").await;
    let mut proxy = trusting(dir.write("other.pem", other_pem));
    let refused = session(proxy.addr(), "127.0.0.1", &[("Cookie", &cookie("alice"))]).await;
    assert_eq!(refused.err(), Some(503));
    let line = proxy.wait_for_log("refused: 503: auth-request");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}

/// Mistakes that would open a door are refused at start, naming the key.
#[tokio::test(flavor = "multi_thread")]
async fn front_logins_are_checked_at_start() {
    let dir = TempDir::new("fwd-check");
    let htpasswd = dir.write("htpasswd", "");
    let cases = [
        (
            "trusted-user-header = \"X-Remote-User\"\ntarget = \"localhost:5901\"\n".to_owned(),
            "trusted-user-header needs `trusted-proxies`",
        ),
        (
            format!(
                "auth-request = \"http://127.0.0.1:4180/\"\nauth-file = \"{}\"\n\
                 target = \"localhost:5901\"\n",
                htpasswd.display()
            ),
            "give one way in",
        ),
        (
            "auth-request = \"ftp://127.0.0.1/\"\ntarget = \"localhost:5901\"\n".to_owned(),
            "http:// or https://",
        ),
        (
            "auth-request-signin = \"/oauth2/start\"\ntarget = \"localhost:5901\"\n".to_owned(),
            "`auth-request-signin` needs `auth-request`",
        ),
    ];
    for (conf, expected) in cases {
        let path = dir.write("check.conf", &conf);
        let (ok, err) = run_to_exit(&["--check", "--config", path.to_str().unwrap()]);
        assert!(!ok && err.contains(expected), "{conf}: {err}");
    }
    // With a front login, [users] and a VNC password need no other login.
    let vnc = dir.write("vncpass", "secret\n");
    let conf = format!(
        "trusted-proxies = \"127.0.0.1/32\"\ntrusted-user-header = \"X-Remote-User\"\n\
         [users.alice]\ntarget = \"localhost:5901\"\nvnc-password-file = \"{}\"\n",
        vnc.display()
    );
    let path = dir.write("check.conf", conf);
    let (ok, err) = run_to_exit(&["--check", "--config", path.to_str().unwrap()]);
    assert!(ok, "{err}");
}
