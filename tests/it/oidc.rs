//! OpenID Connect login through the real binary against a real, certified
//! provider (panva's oidc-provider, tests/oidc/provider.mjs, on loopback):
//! alice (group desk) logs in through the provider's own forms, driven by
//! hand here, gets the cookie and echoes bytes through the WebSocket; bob
//! (no group) gets 403; a forged cookie, a callback carried to another
//! browser, a replayed callback and a stopped provider are refused; logout
//! ends the cookie and closes the session; a provider back with a new
//! signing key is believed once its keys are fetched again; an instance
//! from `websockifyctl add --oidc-*` takes alice to her own [users] desk,
//! and `websockifyctl status` says whether the issuer answers.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) const SECRET: &str = "test-client-secret";

/// The provider's npm package, installed as locked (npm ci) once into
/// ~/.cache/websockify-rs/oidc-provider; node and npm must be there.
fn provider_dir() -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    let home = std::env::var("HOME").expect("HOME");
    let dir = PathBuf::from(home).join(".cache/websockify-rs/oidc-provider");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::read(src.join("package-lock.json")).unwrap();
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    for f in ["package.json", "package-lock.json", "provider.mjs"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    if installed.as_deref() != Some(&lock[..]) || !dir.join("node_modules").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Debian's nodejs and npm) is needed for the OIDC tests");
        assert!(ok.success(), "npm ci of oidc-provider failed");
    }
    dir
}

/// The provider process, stopped when dropped.
struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_idp(redirect: &str) -> Idp {
    start_idp_on(free_port(), redirect)
}

/// The provider on `port`, with a signing key of its own (made at start).
fn start_idp_on(port: u16, redirect: &str) -> Idp {
    use std::io::BufRead as _;
    let dir = provider_dir();
    let mut child = Command::new("node")
        .arg(dir.join("provider.mjs"))
        .args([&port.to_string(), redirect, SECRET])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is needed for the OIDC tests");
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(out).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("listening on"), "provider: {first:?}");
    // Whatever else it prints is read, so it never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Idp {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    }
}

/// One HTTP/1.1 exchange: status, headers (lower-case names), body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) async fn request(url: &str, cookies: &str, form: Option<&str>) -> Answer {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = TcpStream::connect(host).await.expect("connect");
    let method = if form.is_some() { "POST" } else { "GET" };
    let body = form.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookies}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = common::http::status(lines.next().unwrap_or_default());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A browser, by hand: a cookie jar, redirects followed, forms posted.
#[derive(Default)]
pub(crate) struct Browser {
    pub jar: BTreeMap<String, String>,
    /// Every Set-Cookie header the proxy sent, as sent.
    pub set_cookies: Vec<String>,
}

impl Browser {
    fn cookies(&self) -> String {
        let pairs: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("; ")
    }

    pub async fn go(&mut self, url: &str, form: Option<&str>) -> Answer {
        let a = request(url, &self.cookies(), form).await;
        for (_, v) in a.headers.iter().filter(|(n, _)| n == "set-cookie") {
            if v.starts_with("websockify_") {
                self.set_cookies.push(v.clone());
            }
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((n, v)) = pair.split_once('=') {
                self.jar.insert(n.to_owned(), v.to_owned());
            }
        }
        a
    }

    /// Follows redirects from `url` until a page that is not one.
    async fn follow(&mut self, url: &str, form: Option<&str>) -> (String, Answer) {
        let mut url = url.to_owned();
        let mut a = self.go(&url, form).await;
        for _ in 0..10 {
            let Some(loc) = a.header("location").map(str::to_owned) else {
                return (url, a);
            };
            url = absolute(&url, &loc);
            a = self.go(&url, None).await;
        }
        panic!("too many redirects, at {url}");
    }

    /// From the page, through the provider's login (as `user`) and consent
    /// forms, back to the proxy: the last answer and its URL.
    async fn login(&mut self, page: &str, user: &str) -> (String, Answer) {
        let (url, a) = self.follow(page, None).await;
        assert_eq!(
            a.status, 200,
            "the provider's login form at {url}: {}",
            a.body
        );
        let action = absolute(&url, &form_action(&a.body));
        let (url, a) = self
            .follow(
                &action,
                Some(&format!("prompt=login&login={user}&password=any")),
            )
            .await;
        if a.status == 200 && a.body.contains("name=\"prompt\" value=\"consent\"") {
            let action = absolute(&url, &form_action(&a.body));
            return self.follow(&action, Some("prompt=consent")).await;
        }
        (url, a)
    }
}

fn form_action(html: &str) -> String {
    let at = html.find("action=\"").expect("a form") + "action=\"".len();
    html[at..].split('"').next().unwrap().replace("&amp;", "&")
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") {
        return loc.to_owned();
    }
    let rest = base.strip_prefix("http://").unwrap();
    let host = rest.split('/').next().unwrap();
    format!("http://{host}{loc}")
}

/// An instance with OIDC on `port`, to an echo target, for the provider
/// at `issuer` (client `websockify`, secret `SECRET`).
pub(crate) async fn instance(dir: &TempDir, port: u16, issuer: &str, extra: &str) -> Proxy {
    let target = echo_target().await;
    let web = dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("vnc.html"), "the desktop page\n").unwrap();
    let secret = dir.write("secret", format!("{SECRET}\n"));
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let conf = dir.write(
        "oidc.conf",
        format!(
            "listen = \"127.0.0.1:{port}\"\ntarget = \"{target}\"\nweb = \"{}\"\n\
             oidc-issuer = \"{}\"\noidc-client-id = \"websockify\"\n\
             oidc-client-secret-file = \"{}\"\n{extra}",
            web.display(),
            issuer,
            secret.display()
        ),
    );
    let mut cmd = Command::new(bin());
    cmd.args(["-v", "--config", conf.to_str().unwrap()])
        .env("STATE_DIRECTORY", &state)
        .stdin(Stdio::null());
    Proxy::spawn(&mut cmd, 1)
}

async fn ws_with_cookie(addr: SocketAddr, cookie: &str) -> Result<Ws, u16> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/websockify")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    match tokio_tungstenite::client_async_with_config(req, tcp, Some(client_config())).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("handshake: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alice_logs_in_through_the_provider_and_reaches_her_desktop_bob_gets_403() {
    let dir = TempDir::new("oidc-login");
    let port = free_port();
    let idp = start_idp(&format!("http://127.0.0.1:{port}/oidc/callback"));
    let mut proxy = instance(&dir, port, &idp.issuer, "oidc-allowed-groups = \"desk\"\n").await;
    let page = format!("http://127.0.0.1:{port}/vnc.html");

    // What the browser fetches besides pages (a favicon, a script) starts
    // no login: 401, and no new login state replaces one under way.
    let favicon = format!(
        "GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Mode: no-cors\r\n\
         Sec-Fetch-Dest: image\r\nConnection: close\r\n\r\n"
    );
    let answer = common::http::exchange_all(("127.0.0.1", port), favicon.as_bytes()).await;
    assert_eq!(common::http::status(&answer), 401, "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("set-cookie"),
        "{answer}"
    );

    // No cookie: the page sends the browser to the provider, and the
    // WebSocket is refused.
    let a = request(&page, "", None).await;
    assert_eq!(a.status, 302);
    let to = a.header("location").unwrap();
    assert!(to.starts_with(&format!("{}/auth?", idp.issuer)), "{to}");
    for part in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "code_challenge=",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }
    assert_eq!(ws_with_cookie(proxy.addr(), "").await.err(), Some(401));

    let mut alice = Browser::default();
    let (url, a) = alice.login(&page, "alice").await;
    assert_eq!((url.as_str(), a.status), (page.as_str(), 200), "{}", a.body);
    let set = alice.set_cookies.join("\n");
    assert!(
        set.contains("websockify_oidc=") && set.contains("HttpOnly; SameSite=Lax"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert_eq!(a.body, "the desktop page\n");
    proxy.wait_for_log("user \"alice\" logged in through OpenID");
    let cookie = format!("websockify_oidc={}", alice.jar["websockify_oidc"]);
    let mut ws = ws_with_cookie(proxy.addr(), &cookie)
        .await
        .expect("alice's WebSocket");
    echo_once(&mut ws, b"alice's bytes").await;

    // A forged cookie: the page goes to the provider, the WebSocket is 401.
    let forged = format!("websockify_oidc={}A", &alice.jar["websockify_oidc"][1..]);
    assert_eq!(request(&page, &forged, None).await.status, 302);
    assert_eq!(ws_with_cookie(proxy.addr(), &forged).await.err(), Some(401));

    // bob is not in the group "desk".
    let mut bob = Browser::default();
    let (url, a) = bob.login(&page, "bob").await;
    assert!(url.contains("/oidc/callback"), "{url}");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(!bob.jar.contains_key("websockify_oidc"));
    proxy.wait_for_log("user \"bob\" is in none of oidc-allowed-groups");

    // Logout: the live session is closed (1008), the cookie no longer opens one.
    let out = request(
        &format!("http://127.0.0.1:{port}/oidc/logout"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    use futures_util::StreamExt;
    let closed = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
                break u16::from(f.code)
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed, 1008);
    assert_eq!(ws_with_cookie(proxy.addr(), &cookie).await.err(), Some(401));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_callback_is_400_and_a_stopped_provider_503() {
    let dir = TempDir::new("oidc-replay");
    let port = free_port();
    let idp = start_idp(&format!("http://127.0.0.1:{port}/oidc/callback"));
    let mut proxy = instance(&dir, port, &idp.issuer, "").await;
    let page = format!("http://127.0.0.1:{port}/vnc.html");

    // Stop at the callback, to send it twice.
    let mut alice = Browser::default();
    let (url, a) = alice.follow(&page, None).await;
    let action = absolute(&url, &form_action(&a.body));
    let mut a = alice
        .go(&action, Some("prompt=login&login=alice&password=any"))
        .await;
    let mut callback = None;
    for _ in 0..10 {
        let loc = absolute(&idp.issuer, a.header("location").expect("a redirect"));
        if loc.contains("/oidc/callback") {
            callback = Some(loc);
            break;
        }
        a = alice.go(&loc, None).await;
        if a.status == 200 {
            let action = absolute(&idp.issuer, &form_action(&a.body));
            a = alice.go(&action, Some("prompt=consent")).await;
        }
    }
    let callback = callback.expect("the provider sends back to the callback");
    // Carried to another browser (login CSRF): refused, and still alice's.
    let elsewhere = request(&callback, "", None).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    proxy.wait_for_log("its state is not this browser's");
    let with_state = alice.cookies();
    assert!(
        with_state.contains("websockify_oidc_state="),
        "{with_state}"
    );
    let first = alice.go(&callback, None).await;
    assert_eq!(first.status, 302, "{}", first.body);
    assert!(alice.jar.contains_key("websockify_oidc"));
    // The same callback again, with the state cookie it came with: the
    // state is used up.
    let again = request(&callback, &with_state, None).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.header("set-cookie").is_none());
    proxy.wait_for_log("unknown or expired state");

    // The provider stopped: a clear 503 page and a log line, never the page.
    drop(idp);
    let dir2 = TempDir::new("oidc-down");
    let port2 = free_port();
    let gone = Idp {
        child: Command::new("true").spawn().unwrap(),
        issuer: format!("http://127.0.0.1:{}", free_port()),
    };
    let mut down = instance(&dir2, port2, &gone.issuer, "").await;
    let a = request(&format!("http://127.0.0.1:{port2}/vnc.html"), "", None).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(
        a.body.contains("identity provider is unavailable"),
        "{}",
        a.body
    );
    down.wait_for_log("OpenID login not possible");
}

/// `websockifyctl --conf-dir DIR/conf --no-systemd ARGS`, which must succeed.
fn ctl(dir: &TempDir, args: &[&str]) -> String {
    let out = common::ctl::run(&dir.path().join("conf"), args, "");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "websockifyctl {args:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_from_add_sends_to_the_issuer_and_alice_lands_on_her_own_desk() {
    let dir = TempDir::new("oidc-add");
    dir.write("web/vnc.html", "<html>noVNC</html>");
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    let secret = dir.write("oidc-secret", format!("{SECRET}\n"));
    let port = free_port();
    let idp = start_idp(&format!("http://127.0.0.1:{port}/oidc/callback"));
    let shared = desk("shared-desk").await.to_string();
    let listen = format!("127.0.0.1:{port}");
    let web = dir.path().join("web").display().to_string();
    let args = [
        "add",
        "desk",
        "--target",
        &shared,
        "--web",
        &web,
        "--behind-nginx",
        "--listen",
        &listen,
        "--oidc-issuer",
        &idp.issuer,
        "--oidc-client-id",
        "websockify",
        "--oidc-client-secret-file",
        secret.to_str().unwrap(),
        "--oidc-allowed-groups",
        "desk,admins",
        "--no-start",
    ];
    let said = ctl(&dir, &args);
    assert!(!said.contains("no access control"), "{said}");
    let conf = dir.path().join("conf/desk.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    for line in [
        format!("oidc-issuer = \"{}\"", idp.issuer),
        "oidc-client-id = \"websockify\"".to_owned(),
        format!("oidc-client-secret-file = \"{}\"", secret.display()),
        "oidc-allowed-groups = [\"desk\", \"admins\"]".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
    // status checks that the issuer's discovery document and keys answer.
    let status = ctl(&dir, &["status", "desk"]);
    let want = format!("oidc: {}  [discovery answers, 1 keys]", idp.issuer);
    assert!(status.contains(&want), "{want} in {status}");
    assert!(status.contains("auth: on"), "{status}");
    // alice gets her own desktop from a [users] table, by the OIDC name.
    let own = desk("alice-desk").await;
    text += &format!("\n[users.alice]\ntarget = \"{own}\"\n");
    std::fs::write(&conf, text).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["-v", "--config", conf.to_str().unwrap()])
        .env("STATE_DIRECTORY", &state)
        .stdin(Stdio::null());
    let mut proxy = Proxy::spawn(&mut cmd, 1);

    let page = format!("http://127.0.0.1:{port}/vnc.html");
    let a = request(&page, "", None).await;
    assert_eq!(a.status, 302);
    assert!(a
        .header("location")
        .unwrap()
        .starts_with(&format!("{}/auth?", idp.issuer)));
    let mut alice = Browser::default();
    let (_, a) = alice.login(&page, "alice").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let cookie = format!("websockify_oidc={}", alice.jar["websockify_oidc"]);
    let mut ws = ws_with_cookie(proxy.addr(), &cookie)
        .await
        .expect("alice's WebSocket");
    use futures_util::StreamExt;
    let greeting = loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("data in time")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b))) => break b,
            Some(Ok(_)) => continue,
            other => panic!("expected the desk's greeting, got {other:?}"),
        }
    };
    assert_eq!(&greeting[..], b"alice-desk\n");
    // The session is alice's: its log line names her.
    let line = proxy.wait_for_log("session open to");
    assert!(
        line.contains(&format!("to {own}")) && line.ends_with("user \"alice\""),
        "{line}"
    );
    // The key was made in the state directory, and survives for the next start.
    assert!(state.join("oidc-cookie.key").exists());

    // The provider stopped: status says so.
    let issuer = idp.issuer.clone();
    drop(idp);
    let status = ctl(&dir, &["status", "desk"]);
    let want = format!("oidc: {issuer}  [not answering: the identity provider is unavailable");
    assert!(status.contains(&want), "{want} in {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_with_a_new_signing_key_is_believed_after_its_keys_are_fetched_again() {
    let dir = TempDir::new("oidc-rotate");
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/oidc/callback");
    let idp_port = free_port();
    let idp = start_idp_on(idp_port, &redirect);
    let mut proxy = instance(&dir, port, &idp.issuer, "").await;
    let page = format!("http://127.0.0.1:{port}/vnc.html");
    let (_, a) = Browser::default().login(&page, "alice").await;
    assert_eq!(a.status, 200, "{}", a.body);
    proxy.wait_for_log("user \"alice\" logged in through OpenID");

    // The provider comes back with another key: the proxy's cached keys do
    // not verify its tokens until it fetches them again.
    drop(idp);
    let _idp = start_idp_on(idp_port, &redirect);
    let mut bob = Browser::default();
    let (_, a) = bob.login(&page, "bob").await;
    assert_eq!(a.status, 200, "{}", a.body);
    proxy.wait_for_log("fetching the provider's keys again");
    proxy.wait_for_log("user \"bob\" logged in through OpenID");
}

#[tokio::test(flavor = "multi_thread")]
async fn cookies_are_secure_when_the_browser_comes_back_on_https() {
    // TLS ended by a front proxy: the instance is plain, the browser on https.
    let dir = TempDir::new("oidc-secure");
    let port = free_port();
    let redirect = format!("https://vnc.example.com:{port}/oidc/callback");
    let idp = start_idp(&redirect);
    let extra = format!("oidc-redirect-url = \"{redirect}\"\n");
    let _proxy = instance(&dir, port, &idp.issuer, &extra).await;
    let a = request(&format!("http://127.0.0.1:{port}/vnc.html"), "", None).await;
    assert_eq!(a.status, 302);
    let to = a.header("location").unwrap();
    assert!(
        to.contains("redirect_uri=https%3A%2F%2Fvnc.example.com"),
        "{to}"
    );
    let set = a.header("set-cookie").unwrap();
    assert!(
        set.starts_with("websockify_oidc_state=") && set.ends_with("; Secure"),
        "{set}"
    );
}
