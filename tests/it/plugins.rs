//! Every token plugin and the remaining Python options through the real
//! binary: each routes a real WebSocket upgrade, and bad input (unknown
//! tokens, broken lines, garbage PROXY headers) is refused while the daemon
//! keeps serving.

use crate::common;
use crate::common::token_servers;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::http::status;
use common::*;
use token_servers::{Api, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

fn plugin(name: &str, source: &str) -> Proxy {
    Proxy::start(&[
        "--token-plugin",
        name,
        "--token-source",
        source,
        "127.0.0.1:0",
    ])
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn http_token_apis() {
    let target = echo_target().await;
    let json = leak(format!(
        "{{\"host\": \"127.0.0.1\", \"port\": {}}}",
        target.port()
    ));
    let text = leak(target.to_string());
    let api = Api::start(
        Arc::new(move |path: &str| match path {
            p if p.ends_with("/json/good") => Reply::Body(200, json),
            p if p.ends_with("/text/good") => Reply::Body(200, text),
            _ => Reply::Body(404, "no"),
        }),
        None,
    )
    .await;
    let proxy = plugin("JSONTokenApi", &format!("http://{}/json/%s", api.addr));
    assert_eq!(upgrade_status(proxy.addr(), "/?token=good", "").await, 101);
    assert_eq!(upgrade_status(proxy.addr(), "/?token=bad", "").await, 404);
    let proxy = plugin("BaseTokenAPI", &format!("http://{}/text/%s", api.addr));
    assert_eq!(upgrade_status(proxy.addr(), "/?token=good", "").await, 101);
    assert_eq!(upgrade_status(proxy.addr(), "/?token=bad", "").await, 404);
}

/// A token API over HTTPS with a private CA, which the daemon trusts
/// through `SSL_CERT_FILE` (set for the daemon alone: in this process it
/// would reach every other test's children too).
#[tokio::test(flavor = "multi_thread")]
async fn token_api_over_https() {
    let text = leak(echo_target().await.to_string());
    let (acceptor, cert_pem) = token_servers::tls_acceptor();
    let (_, other_pem) = token_servers::tls_acceptor();
    let api = Api::start(
        Arc::new(move |path: &str| match path {
            "/text/good" => Reply::Body(200, text),
            _ => Reply::Body(404, "no"),
        }),
        Some(acceptor),
    )
    .await;
    let dir = TempDir::new("tokca");
    let source = format!("https://{}/text/%s", api.addr);
    let trusting = |ca: PathBuf| {
        let mut cmd = Command::new(bin());
        cmd.args(["--token-plugin", "BaseTokenAPI", "--token-source", &source])
            .arg("127.0.0.1:0")
            .env("SSL_CERT_FILE", ca)
            .stdin(Stdio::null());
        Proxy::spawn(&mut cmd, 1)
    };
    let proxy = trusting(dir.write("ca.pem", cert_pem));
    assert_eq!(upgrade_status(proxy.addr(), "/?token=good", "").await, 101);
    assert_eq!(upgrade_status(proxy.addr(), "/?token=nope", "").await, 404);
    let mut proxy = trusting(dir.write("other.pem", other_pem));
    assert_eq!(upgrade_status(proxy.addr(), "/?token=good", "").await, 503);
    let line = proxy.wait_for_log("could not be looked up");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}

/// The JWT fixtures (tests/fixtures/jwt).
fn jwt_fixture(name: &str) -> String {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    fixtures.join(name).to_str().unwrap().to_owned()
}

/// `claims` signed with the fixture RSA key (RS256).
fn sign_rs256(claims: &serde_json::Value) -> String {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let private = std::fs::read(jwt_fixture("rsa-private.pem")).unwrap();
    websockify::access::token::install_jwt_crypto();
    let key = EncodingKey::from_rsa_pem(&private).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// A VNC password a token cannot carry is a bad entry (502), and never
/// logged: a JSON answer's `vnc_password` that is not a usable string, and
/// any `vnc_password` claim in a JWT (whoever holds the token can read it).
#[tokio::test(flavor = "multi_thread")]
async fn unusable_vnc_passwords_in_tokens_are_refused_with_502() {
    let target = echo_target().await;
    let with = |pw: serde_json::Value| serde_json::json!({"host": "127.0.0.1", "port": target.port(), "vnc_password": pw});
    let number = leak(with(31415926.into()).to_string());
    let empty = leak(with("".into()).to_string());
    let api = Api::start(
        Arc::new(move |path: &str| match path {
            "/json/number" => Reply::Body(200, number),
            "/json/empty" => Reply::Body(200, empty),
            _ => Reply::Body(404, "no"),
        }),
        None,
    )
    .await;
    let mut proxy = plugin("JSONTokenApi", &format!("http://{}/json/%s", api.addr));
    for token in ["number", "empty"] {
        let path = format!("/?token={token}");
        assert_eq!(
            upgrade_status(proxy.addr(), &path, "").await,
            502,
            "{token}"
        );
    }
    proxy.wait_for_log("\"vnc_password\" is not a string");
    proxy.wait_for_log("\"vnc_password\" is unusable: the password is empty");
    assert!(proxy.log().iter().all(|l| !l.contains("3141")), "logged");

    let mut proxy = plugin("JWTTokenApi", &jwt_fixture("rsa-public.pem"));
    let token = sign_rs256(&with("Jw7tSecr".into()));
    let path = format!("/?token={token}");
    assert_eq!(upgrade_status(proxy.addr(), &path, "").await, 502);
    proxy.wait_for_log("readable by whoever holds it");
    assert!(proxy.log().iter().all(|l| !l.contains("Jw7t")), "logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_tokens_signed_with_the_configured_key() {
    let target = echo_target().await;
    let token = sign_rs256(&serde_json::json!({"host": "127.0.0.1", "port": target.port()}));
    let proxy = plugin("JWTTokenApi", &jwt_fixture("rsa-public.pem"));
    assert_eq!(
        upgrade_status(proxy.addr(), &format!("/?token={token}"), "").await,
        101
    );
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(
        upgrade_status(proxy.addr(), &format!("/?token={forged}"), "").await,
        404
    );
    assert_eq!(
        upgrade_status(proxy.addr(), "/?token=not.a.jwt", "").await,
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn file_name_socket_directory_read_only_file_and_target_config() {
    let target = echo_target().await;
    let dir = TempDir::new("plugins");
    dir.write("names/desk", target.to_string());
    let proxy = plugin("TokenFileName", dir.path().join("names").to_str().unwrap());
    assert_eq!(upgrade_status(proxy.addr(), "/?token=desk", "").await, 101);
    assert_eq!(
        upgrade_status(proxy.addr(), "/?token=../names/desk2", "").await,
        404
    );

    let socks = dir.path().join("socks");
    std::fs::create_dir(&socks).unwrap();
    let listener = tokio::net::UnixListener::bind(socks.join("vnc")).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    std::fs::create_dir(dir.path().join("socks-evil")).unwrap();
    let outside = tokio::net::UnixListener::bind(dir.path().join("socks-evil/vnc")).unwrap();
    let proxy = plugin("UnixDomainSocketDirectory", socks.to_str().unwrap());
    assert_eq!(upgrade_status(proxy.addr(), "/?token=vnc", "").await, 101);
    for escape in ["../socks-evil/vnc", "%2E%2E%2Fsocks-evil%2Fvnc", "/tmp/x"] {
        assert_eq!(
            upgrade_status(proxy.addr(), &format!("/?token={escape}"), "").await,
            404,
            "{escape}"
        );
    }
    drop(outside);

    let file = dir.write(
        "ro.tokens",
        format!("# a broken line is skipped\nbroken line\nro: {target}\n"),
    );
    let proxy = plugin("ReadOnlyTokenFile", file.to_str().unwrap());
    assert_eq!(upgrade_status(proxy.addr(), "/?token=ro", "").await, 101);
    let log = proxy.log().join("\n");
    assert!(
        log.contains("ro.tokens:2") && log.contains("line skipped"),
        "{log}"
    );
    let proxy = Proxy::start(&["--target-config", file.to_str().unwrap(), "127.0.0.1:0"]);
    assert_eq!(upgrade_status(proxy.addr(), "/?token=ro", "").await, 101);
}

#[tokio::test(flavor = "multi_thread")]
async fn expect_origin_prefer_ipv6_libserver_and_the_global_cap() {
    let target = echo_target().await;
    let t = target.to_string();
    let proxy = Proxy::start(&[
        "--auth-plugin",
        "ExpectOrigin",
        "--auth-source",
        "https://desk.example.com",
        "--allowed-origins",
        "*",
        "127.0.0.1:0",
        &t,
    ]);
    assert_eq!(
        upgrade_status(proxy.addr(), "/", "Origin: https://desk.example.com\r\n").await,
        101
    );
    assert_eq!(
        upgrade_status(proxy.addr(), "/", "Origin: https://other.example\r\n").await,
        403
    );

    let dir = TempDir::new("verbose");
    let mut proxy = Proxy::start(&[
        "-6",
        "--libserver",
        "-v",
        "--file-only",
        "--web",
        dir.arg(),
        "127.0.0.1:0",
        &t,
    ]);
    assert_eq!(upgrade_status(proxy.addr(), "/websockify", "").await, 101);
    // -v: one debug line per HTTP request, as Python's access log.
    assert!(proxy.wait_for_log("GET /websockify").contains("DEBUG"));

    let mut proxy = Proxy::start(&["--max-connections", "1", "127.0.0.1:0", &t]);
    let _held = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut over = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = [0u8; 1];
    assert_eq!(
        timeout(WAIT, over.read(&mut b)).await.unwrap().unwrap_or(0),
        0
    );
    proxy.wait_for_log("connection cap reached");
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_proxy_headers_are_refused_and_the_daemon_keeps_serving() {
    let target = echo_target().await;
    let t = target.to_string();
    let trusted = ["--trusted-proxies", "127.0.0.1/32", "--proxy-protocol"];
    let mut proxy = Proxy::start(&[&trusted[..], &["127.0.0.1:0", &t]].concat());
    for garbage in [
        &b"PROXY TCP4 not-an-address\r\n"[..],
        b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
        b"GET / HTTP/1.1\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(garbage).await.unwrap();
        let mut rest = Vec::new();
        let _ = timeout(WAIT, s.read_to_end(&mut rest)).await.unwrap();
        assert!(
            !String::from_utf8_lossy(&rest).contains("101"),
            "{garbage:?}"
        );
    }
    proxy.wait_for_log("bad PROXY protocol header");
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"PROXY TCP6 2001:db8::1 ::1 40000 6080\r\n")
        .await
        .unwrap();
    let head = upgrade_on(&mut s, &proxy.addr().to_string(), "/", "").await;
    assert_eq!(status(&head), 101, "{head}");
    assert!(proxy
        .wait_for_log("session open")
        .contains("[2001:db8::1]:40000"));
}
