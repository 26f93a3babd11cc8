//! Apache2 and Caddy in front of the proxy, each as debian/examples ships
//! its site, real Debian packages started by the test on loopback: a
//! WebSocket session through the front end echoes bytes exactly, our log
//! names the browser's address from X-Forwarded-For (the browser connects
//! from 127.0.0.2, the front end from 127.0.0.1), a session left idle for
//! 70 s lives on (websockify's heartbeat passes the front end's timeout),
//! and a wrong password is refused by whichever side holds the users:
//! Apache itself, or websockify behind Caddy. Then the sites `websockifyctl
//! apache` and `caddy` write, as written, in front of the instance as
//! `websockifyctl` left it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::common::front_end::FrontEnd;
use crate::common::wss::{receive, send_all};
use crate::common::*;
use crate::common::{apache, caddy};

/// Where the browser of these tests connects from: not the front end's
/// 127.0.0.1, so a log line naming it can only come from X-Forwarded-For.
const BROWSER: &str = "127.0.0.2";

/// How long a session stays quiet: above the 60 s many front ends default to.
const IDLE: Duration = Duration::from_secs(70);

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("debian/examples")
        .join(name);
    std::fs::read_to_string(path).expect("shipped example")
}

/// `htpasswd -cbB`: a bcrypt password file (apache2-utils).
fn htpasswd(dir: &TempDir, user: &str, password: &str) -> String {
    let file = dir.path().join("htpasswd");
    let made = Command::new("htpasswd")
        .args(["-cbB", file.to_str().unwrap(), user, password])
        .output()
        .expect("htpasswd (apache2-utils) is needed for this test");
    assert!(made.status.success());
    file.to_str().unwrap().to_owned()
}

fn basic(user_password: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(user_password);
    format!("Basic {b64}")
}

/// A wss:// session to `addr` from [`BROWSER`] for `name`, trusting `root`;
/// the HTTP status when the handshake is refused.
async fn open(
    addr: SocketAddr,
    name: &str,
    root: &[u8],
    auth: Option<&str>,
) -> Result<WssStream, u16> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(root.to_vec()))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{BROWSER}:0").parse().unwrap())
        .unwrap();
    let tcp = socket.connect(addr).await.map_err(|_| 0u16)?;
    let server = ServerName::try_from(name.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = tokio::time::timeout(WAIT, tls.connect(server, tcp))
        .await
        .map_err(|_| 0u16)?
        .map_err(|_| 0u16)?;
    let mut req = format!("wss://{name}:{}/websockify", addr.port())
        .into_client_request()
        .unwrap();
    if let Some(auth) = auth {
        req.headers_mut()
            .insert("Authorization", basic(auth).parse().unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, tls)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(WsError::Http(resp))) => Err(resp.status().as_u16()),
        Ok(Err(e)) => panic!("handshake through the front end: {e}"),
        Err(_) => panic!("handshake through the front end timed out"),
    }
}

/// Retries [`open`] while the front end is still starting (no certificate
/// yet: the TLS handshake fails), up to `WAIT`.
async fn open_when_ready(
    addr: SocketAddr,
    name: &str,
    root: &dyn Fn() -> Option<Vec<u8>>,
    auth: Option<&str>,
) -> WssStream {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(der) = root() {
            match open(addr, name, &der, auth).await {
                Ok(ws) => return ws,
                Err(0) => {}
                Err(status) => panic!("front end answered {status}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "no TLS session with {addr} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends bytes of every value and expects them back exactly.
async fn echo_exactly(ws: &mut WssStream) {
    let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    send_all(ws, &payload).await;
    assert_eq!(receive(ws, payload.len()).await, payload);
}

/// Stays quiet for [`IDLE`], answering the proxy's heartbeat pings (a
/// browser does), then checks the session still echoes. Returns the pings.
async fn idle_then_echo(ws: &mut WssStream) -> usize {
    let until = tokio::time::Instant::now() + IDLE;
    let mut pings = 0;
    loop {
        match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(other) => panic!("idle session ended: {other:?}"),
        }
    }
    echo_exactly(ws).await;
    pings
}

/// The proxy's "session open" line names the browser, via the front end.
fn assert_client_from_forwarded_for(proxy: &mut Proxy) {
    let line = proxy.wait_for_log("session open");
    assert!(
        line.contains(&format!("{BROWSER} (via 127.0.0.1:")),
        "the client is not the browser from X-Forwarded-For: {line}"
    );
}

fn loopback_addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

/// debian/examples/apache2-novnc.conf with the test's ports and
/// certificate and its optional Basic auth block switched on.
fn apache_site(ports: [SocketAddr; 3], cert: &str, key: &str, users: &str) -> String {
    let [https, http, backend] = ports;
    let optional = [
        "<Location",
        "Auth",
        "Require valid-user",
        "</Location",
        "RequestHeader unset",
    ];
    let mut site = String::new();
    for line in example("apache2-novnc.conf").lines() {
        let t = line.trim_start();
        let line = match t.strip_prefix('#') {
            Some(rest) if optional.iter().any(|o| rest.trim_start().starts_with(o)) => {
                line.replacen('#', "", 1)
            }
            _ => line.to_owned(),
        };
        site += &line;
        site.push('\n');
    }
    site.replace("*:443", &https.to_string())
        .replace("*:80", &http.to_string())
        .replace("/etc/letsencrypt/live/vnc.example.com/fullchain.pem", cert)
        .replace("/etc/letsencrypt/live/vnc.example.com/privkey.pem", key)
        .replace("/etc/apache2/.htpasswd", users)
        .replace("vnc.example.com", "localhost")
        .replace("127.0.0.1:6080", &backend.to_string())
}

/// A certificate for localhost in `dir`: (cert path, key path, DER).
fn dir_cert(dir: &TempDir) -> (String, String, Vec<u8>) {
    let (cert, key, der) = self_signed();
    let c = dir.write("tls.crt", cert);
    let k = dir.write("tls.key", key);
    (c.display().to_string(), k.display().to_string(), der)
}

#[tokio::test(flavor = "multi_thread")]
async fn apache_relays_names_the_browser_keeps_idle_sessions_and_asks_the_password() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&[
        "--trusted-proxies",
        "127.0.0.1/32",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let dir = TempDir::new("apache");
    let users = htpasswd(&dir, "alice", "s3cret");
    let (https, http) = (loopback_addr(), loopback_addr());
    let (cert, key, der) = dir_cert(&dir);
    let site = apache_site([https, http, proxy.addr()], &cert, &key, &users);
    let apache = apache::start(&dir, &site, &[https, http]);

    // Apache holds the users: a wrong password never reaches websockify.
    let wrong = open(https, "localhost", &der, Some("alice:nope")).await;
    assert_eq!(wrong.err(), Some(401), "{}", apache.log());
    assert!(!proxy.log().iter().any(|l| l.contains("session open")));

    let mut ws = open(https, "localhost", &der, Some("alice:s3cret"))
        .await
        .unwrap_or_else(|s| panic!("refused with {s}: {}", apache.log()));
    assert_client_from_forwarded_for(&mut proxy);
    echo_exactly(&mut ws).await;
    let pings = idle_then_echo(&mut ws).await;
    assert!(
        pings >= 2,
        "{pings} heartbeat pings came through Apache in {IDLE:?}"
    );
    keep(apache);
}

/// debian/examples/caddy-novnc.Caddyfile for localhost with `tls internal`,
/// bound to loopback, relaying to `backend`.
fn caddy_site(backend: SocketAddr) -> String {
    example("caddy-novnc.Caddyfile")
        .replace("vnc.example.com {", "localhost {\n\tbind 127.0.0.1")
        .replace("#tls internal", "tls internal")
        .replace("127.0.0.1:6080", &backend.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn caddy_relays_names_the_browser_keeps_idle_sessions_and_passes_the_password_on() {
    let target = echo_target().await;
    let dir = TempDir::new("caddy");
    // websockify holds the users; Caddy passes the Authorization header on.
    let users = htpasswd(&dir, "alice", "s3cret");
    let mut proxy = Proxy::start(&[
        "--trusted-proxies",
        "127.0.0.1/32",
        "--auth-file",
        &users,
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let https = loopback_addr();
    let caddy = caddy::start(&dir, &caddy_site(proxy.addr()), https);
    let root = || {
        let pem = std::fs::read_to_string(caddy::root_path(&dir)).ok()?;
        Some(pem_to_der(&pem))
    };
    let mut ws = open_when_ready(https, "localhost", &root, Some("alice:s3cret")).await;
    assert_client_from_forwarded_for(&mut proxy);
    echo_exactly(&mut ws).await;

    let der = root().expect("Caddy's root");
    let wrong = open(https, "localhost", &der, Some("alice:nope")).await;
    assert_eq!(wrong.err(), Some(401), "{}", caddy.log());
    let refused = proxy.wait_for_log("refused");
    assert!(
        refused.contains(&format!("{BROWSER} (via 127.0.0.1:")),
        "{refused}"
    );

    let pings = idle_then_echo(&mut ws).await;
    assert!(
        pings >= 2,
        "{pings} heartbeat pings came through Caddy in {IDLE:?}"
    );
    keep(caddy);
}

/// The front end runs to the end of the test.
fn keep(_front_end: FrontEnd) {}

/// `websockifyctl --conf-dir CONF --no-systemd ARGS` (the binary called by
/// that name), which must succeed.
fn ctl(conf_dir: &Path, args: &[&str]) {
    use std::os::unix::process::CommandExt as _;
    let out = Command::new(bin())
        .arg0("websockifyctl")
        .arg("--conf-dir")
        .arg(conf_dir)
        .arg("--no-systemd")
        .args(args)
        .output()
        .expect("run websockifyctl");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "websockifyctl {args:?}: {said}");
}

/// An instance `desk` relaying to an echo server, put behind `front` by
/// `websockifyctl FRONT desk --server-name localhost`, and running from
/// the conf websockifyctl left: (the proxy, its site's text, the conf dir).
async fn instance_behind(front: &str, dir: &TempDir) -> (Proxy, String, std::path::PathBuf) {
    let target = echo_target().await.to_string();
    // Not add's default 6080: the tests run side by side.
    let port = free_port().to_string();
    let (conf_dir, sites) = (dir.path().join("conf"), dir.path().join("sites"));
    std::fs::create_dir_all(&sites).unwrap();
    std::fs::create_dir_all(&conf_dir).unwrap();
    ctl(
        &conf_dir,
        &[
            "add",
            "desk",
            "--target",
            &target,
            "--listen",
            &port,
            "--no-start",
        ],
    );
    let sites_arg = sites.to_str().unwrap();
    ctl(
        &conf_dir,
        &[
            front,
            "desk",
            "--server-name",
            "localhost",
            "--site-dir",
            sites_arg,
        ],
    );
    let conf = conf_dir.join("desk.conf");
    let proxy = Proxy::start(&["--config", conf.to_str().unwrap()]);
    let site = std::fs::read_dir(&sites)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (proxy, std::fs::read_to_string(site).unwrap(), conf_dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_site_websockifyctl_apache_writes_relays_through_apache() {
    let dir = TempDir::new("ctl-apache");
    let (mut proxy, site, conf_dir) = instance_behind("apache", &dir).await;
    let (https, http) = (loopback_addr(), loopback_addr());
    let site = site
        .replace("*:443", &https.to_string())
        .replace("*:80", &http.to_string());
    let apache = apache::start(&dir, &site, &[https, http]);
    // TLS with the certificate websockifyctl made.
    let pem = std::fs::read_to_string(conf_dir.join("ssl/websockify.crt")).unwrap();
    let mut ws = open(https, "localhost", &pem_to_der(&pem), None)
        .await
        .unwrap_or_else(|s| panic!("refused with {s}: {}", apache.log()));
    assert_client_from_forwarded_for(&mut proxy);
    echo_exactly(&mut ws).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_site_websockifyctl_caddy_writes_relays_through_caddy() {
    let dir = TempDir::new("ctl-caddy");
    let (mut proxy, site, _) = instance_behind("caddy", &dir).await;
    let https = loopback_addr();
    let site = site.replace("localhost {", "localhost {\n\tbind 127.0.0.1");
    let caddy = caddy::start(&dir, &site, https);
    // Caddy's own certificate: for localhost, from its local authority.
    let root = || {
        let pem = std::fs::read_to_string(caddy::root_path(&dir)).ok()?;
        Some(pem_to_der(&pem))
    };
    let mut ws = open_when_ready(https, "localhost", &root, None).await;
    assert_client_from_forwarded_for(&mut proxy);
    echo_exactly(&mut ws).await;
    keep(caddy);
}
