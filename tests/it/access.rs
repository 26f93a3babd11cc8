//! Access control and routing through the real binary: token plugins (file,
//! Host header), Basic auth from the command line and from an htpasswd file,
//! the Origin policy, trusted proxies (X-Forwarded-For, PROXY protocol) and
//! connection caps. Refusals are HTTP answers the client can read.

use crate::common;
use crate::common::token_servers;

use std::process::Command;

use common::http::status;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread")]
async fn token_file_routes_each_token_and_refuses_missing_or_unknown_ones() {
    let a = echo_target().await;
    let b = echo_target().await;
    let dir = TempDir::new("tokens");
    let file = dir.write(
        "tokens.cfg",
        format!("# desktops\nalpha: {a}\nbeta:\t{b}\n"),
    );
    let mut proxy = Proxy::start(&[
        "--token-plugin",
        "TokenFile",
        "--token-source",
        file.to_str().unwrap(),
        "127.0.0.1:0",
    ]);
    assert_eq!(
        upgrade_status(proxy.addr(), "/websockify?token=alpha", "").await,
        101
    );
    assert!(proxy
        .wait_for_log("session open to")
        .contains(&a.to_string()));
    assert_eq!(
        upgrade_status(proxy.addr(), "/websockify?token=beta", "").await,
        101
    );
    assert!(proxy
        .wait_for_log("session open to")
        .contains(&b.to_string()));
    let head = upgrade_head(proxy.addr(), "/websockify", "").await;
    assert_eq!(status(&head), 403, "{head}");
    let head = upgrade_head(proxy.addr(), "/websockify?token=gammadeltasecret", "").await;
    assert_eq!(status(&head), 404, "{head}");
    let line = proxy.wait_for_log("unknown token");
    assert!(
        !line.contains("gammadeltasecret"),
        "the token was logged whole: {line}"
    );
    // A token added to the file works at once, without a restart.
    dir.write("tokens.cfg", format!("alpha: {a}\ngamma: {b}\n"));
    assert_eq!(
        upgrade_status(proxy.addr(), "/websockify?token=gamma", "").await,
        101
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_token_uses_the_host_name() {
    let a = echo_target().await;
    let dir = TempDir::new("host-token");
    let file = dir.write("tokens", format!("127.0.0.1: {a}\n"));
    let proxy = Proxy::start(&[
        "--token-plugin",
        "TokenFile",
        "--token-source",
        file.to_str().unwrap(),
        "--host-token",
        "127.0.0.1:0",
    ]);
    // The upgrade request has Host: 127.0.0.1:PORT; the port is stripped.
    assert_eq!(upgrade_status(proxy.addr(), "/", "").await, 101);
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_from_source_and_from_an_htpasswd_file() {
    let target = echo_target().await;
    let t = target.to_string();
    let proxy = Proxy::start(&[
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "alice:s3cret",
        "127.0.0.1:0",
        &t,
    ]);
    let head = upgrade_head(proxy.addr(), "/", "").await;
    assert_eq!(status(&head), 401, "{head}");
    assert!(
        head.contains("WWW-Authenticate: Basic realm=\"Websockify\"")
            || head
                .to_lowercase()
                .contains("www-authenticate: basic realm=\"websockify\""),
        "{head}"
    );
    let wrong = "Authorization: Basic YWxpY2U6bm9wZQ==\r\n"; // alice:nope
    assert_eq!(upgrade_status(proxy.addr(), "/", wrong).await, 401);
    let right = "Authorization: Basic YWxpY2U6czNjcmV0\r\n"; // alice:s3cret
    assert_eq!(upgrade_status(proxy.addr(), "/", right).await, 101);

    let dir = TempDir::new("htpasswd");
    let file = dir.path().join("users");
    let made = Command::new("htpasswd")
        .args(["-cbB", file.to_str().unwrap(), "bob", "hunter2"])
        .output()
        .expect("htpasswd (apache2-utils) is needed for this test");
    assert!(made.status.success());
    dir.write("index.html", "private page");
    let proxy = Proxy::start(&[
        "--auth-file",
        file.to_str().unwrap(),
        "--web",
        dir.arg(),
        "--web-auth",
        "127.0.0.1:0",
        &t,
    ]);
    assert_eq!(upgrade_status(proxy.addr(), "/", "").await, 401);
    let bob = "Authorization: Basic Ym9iOmh1bnRlcjI=\r\n"; // bob:hunter2
    assert_eq!(upgrade_status(proxy.addr(), "/", bob).await, 101);
    // --web-auth: the static page needs the password too.
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    timeout(WAIT, s.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status(&resp), 401, "{resp}");
    assert!(!resp.contains("private page"));
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_policy_same_origin_by_default_and_behind_a_trusted_proxy() {
    let target = echo_target().await;
    let t = target.to_string();
    let proxy = Proxy::start(&["127.0.0.1:0", &t]);
    let addr = proxy.addr();
    assert_eq!(
        upgrade_status(addr, "/", "").await,
        101,
        "no Origin: non-browser client"
    );
    let same = format!("Origin: http://{addr}\r\n");
    assert_eq!(upgrade_status(addr, "/", &same).await, 101);
    let evil = "Origin: http://evil.example\r\n";
    assert_eq!(upgrade_status(addr, "/", evil).await, 403);
    // nginx's documented headers: not believed from loopback by default...
    let nginx = "Origin: https://desk.example.com\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: desk.example.com\r\n";
    assert_eq!(upgrade_status(addr, "/", nginx).await, 403);
    // ...but from nginx on this host once it is a trusted proxy.
    let trusting = Proxy::start(&["--trusted-proxies", "127.0.0.1/32", "127.0.0.1:0", &t]);
    assert_eq!(upgrade_status(trusting.addr(), "/", nginx).await, 101);
    // The same headers from an untrusted peer are not believed.
    let strict = Proxy::start(&["--trusted-proxies", "10.9.8.7", "127.0.0.1:0", &t]);
    assert_eq!(upgrade_status(strict.addr(), "/", nginx).await, 403);
    // An explicit list replaces same-origin.
    let listed = Proxy::start(&[
        "--allowed-origins",
        "https://a.example https://b.example",
        "127.0.0.1:0",
        &t,
    ]);
    assert_eq!(
        upgrade_status(listed.addr(), "/", "Origin: https://b.example\r\n").await,
        101
    );
    let own = format!("Origin: http://{}\r\n", listed.addr());
    assert_eq!(upgrade_status(listed.addr(), "/", &own).await, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn real_client_from_x_forwarded_for_and_proxy_protocol() {
    let target = echo_target().await;
    let t = target.to_string();
    let xff = "X-Forwarded-For: 203.0.113.7\r\n";
    // Loopback is no trusted proxy unless configured: the peer is the client.
    let mut untrusting = Proxy::start(&["127.0.0.1:0", &t]);
    assert_eq!(upgrade_status(untrusting.addr(), "/", xff).await, 101);
    let line = untrusting.wait_for_log("session open");
    assert!(
        line.contains("127.0.0.1:") && !line.contains("203.0.113.7"),
        "{line}"
    );

    let loopback = ["--trusted-proxies", "127.0.0.1/32"];
    let mut proxy = Proxy::start(&[&loopback[..], &["127.0.0.1:0", &t]].concat());
    assert_eq!(upgrade_status(proxy.addr(), "/", xff).await, 101);
    let line = proxy.wait_for_log("session open");
    assert!(line.contains("203.0.113.7 (via 127.0.0.1:"), "{line}");

    let pp_args = ["--proxy-protocol", "127.0.0.1:0", &t];
    let mut pp = Proxy::start(&[&loopback[..], &pp_args].concat());
    let mut s = TcpStream::connect(pp.addr()).await.unwrap();
    s.write_all(b"PROXY TCP4 198.51.100.9 127.0.0.1 51000 6080\r\n")
        .await
        .unwrap();
    let head = upgrade_on(&mut s, &pp.addr().to_string(), "/", "").await;
    assert_eq!(status(&head), 101, "{head}");
    let line = pp.wait_for_log("session open");
    // The PROXY header's source is the client itself (no "via": the proxy
    // that sent the header is not the peer of record).
    assert!(
        line.contains(&format!("198.51.100.9:51000: session open to {t}")),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_and_target_caps() {
    let target = echo_target().await;
    let t = target.to_string();
    let mut proxy = Proxy::start(&[
        "--max-sessions-per-target",
        "1",
        "--max-connections-per-client",
        "3",
        "127.0.0.1:0",
        &t,
    ]);
    let (first, _session) = try_upgrade(proxy.addr(), "/", "").await;
    assert_eq!(status(&first), 101);
    let (second, _refused) = try_upgrade(proxy.addr(), "/", "").await;
    assert_eq!(status(&second), 503, "{second}");
    proxy.wait_for_log("has its maximum of sessions");
    // Two connections are open from this address (the refused one is kept
    // alive); a third is allowed, a fourth gets 503 and is closed.
    let (third, _third) = try_upgrade(proxy.addr(), "/", "").await;
    assert_eq!(status(&third), 503, "{third}");
    let (fourth, mut over) = try_upgrade(proxy.addr(), "/", "").await;
    assert_eq!(status(&fourth), 503, "{fourth}");
    assert!(
        fourth.contains("Too many connections from this client"),
        "{fourth}"
    );
    let mut rest = Vec::new();
    let _ = timeout(WAIT, over.read_to_end(&mut rest)).await.unwrap();
    proxy.wait_for_log("max-connections-per-client");
}

/// Each of `proxies` answers an upgrade with `?token=desk1` with `want`.
async fn both_answer(proxies: [&Proxy; 2], want: u16) {
    for proxy in proxies {
        let got = upgrade_status(proxy.addr(), "/?token=desk1", "").await;
        assert_eq!(got, want, "proxy on {}", proxy.addr());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_proxies_share_one_redis_token_table() {
    let a = echo_target().await;
    let redis = token_servers::RedisServer::start(&[]);
    let mut admin = redis.admin(None).await;
    let source = format!("127.0.0.1:{}", redis.port);
    let args = [
        "--token-plugin",
        "TokenRedis",
        "--token-source",
        &source,
        "127.0.0.1:0",
    ];
    let first = Proxy::start(&args);
    let second = Proxy::start(&args);
    both_answer([&first, &second], 404).await;
    // Added in Redis: both proxies route it at once, with no reload.
    let _: () = redis::cmd("SET")
        .arg("desk1")
        .arg(format!("{{\"host\": \"{a}\"}}"))
        .query_async(&mut admin)
        .await
        .unwrap();
    both_answer([&first, &second], 101).await;
    // Removed: refused again at once.
    let _: () = redis::cmd("DEL")
        .arg("desk1")
        .query_async(&mut admin)
        .await
        .unwrap();
    both_answer([&first, &second], 404).await;
}

/// The status of a request `head` (with `Host:` lines of its own) sent to
/// `addr`, from the answer's head (a 101 keeps the connection open).
async fn status_of(addr: std::net::SocketAddr, head: String) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut buf = [0u8; 512];
        match timeout(WAIT, s.read(&mut buf))
            .await
            .expect("an answer in time")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    status(&String::from_utf8_lossy(&got))
}

/// A request to `path` with these `Host` values, as an upgrade or a page.
fn request(path: &str, hosts: &[&str], upgrade: bool, extra: &str) -> String {
    let hosts: String = hosts.iter().map(|h| format!("Host: {h}\r\n")).collect();
    let upgrade = if upgrade {
        "Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    } else {
        "Connection: close\r\n"
    };
    format!("GET {path} HTTP/1.1\r\n{hosts}{upgrade}{extra}\r\n")
}

/// DNS rebinding: a hostile page points a name of its own at the proxy, and
/// its `Host` and `Origin` agree. Only the instance's own names (and
/// addresses) are answered, pages and WebSockets alike; two `Host` headers
/// are refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_the_instance_does_not_answer_to_gets_421() {
    let t = echo_target().await.to_string();
    let dir = TempDir::new("rebinding");
    dir.write("web/index.html", "the desktop page");
    let web = dir.path().join("web").display().to_string();
    let mut proxy = Proxy::start(&["--web", &web, "127.0.0.1:0", &t]);
    let addr = proxy.addr();
    let evil = "Origin: http://evil.example\r\n";
    for upgrade in [true, false] {
        let rebound = request("/", &["evil.example"], upgrade, evil);
        assert_eq!(status_of(addr, rebound).await, 421, "upgrade: {upgrade}");
        let own = request("/", &["localhost"], upgrade, "Origin: http://localhost\r\n");
        assert_eq!(status_of(addr, own).await, if upgrade { 101 } else { 200 });
        let by_address = request("/", &[&addr.to_string()], upgrade, "");
        assert_eq!(
            status_of(addr, by_address).await,
            if upgrade { 101 } else { 200 }
        );
        let two = request("/", &["localhost", "evil.example"], upgrade, "");
        assert_eq!(status_of(addr, two).await, 400, "two Host headers");
    }
    proxy.wait_for_log("does not answer to that name (server-names) (Host \"evil.example\")");

    // Listed names replace the default; "*" answers every name.
    let listed = Proxy::start(&["--server-names", "vnc.example.com", "127.0.0.1:0", &t]);
    let named = request("/", &["vnc.example.com:6080"], true, "");
    assert_eq!(status_of(listed.addr(), named).await, 101);
    let other = request("/", &["localhost"], true, "");
    assert_eq!(status_of(listed.addr(), other).await, 421);
    let any = Proxy::start(&["--server-names", "*", "127.0.0.1:0", &t]);
    assert_eq!(
        status_of(any.addr(), request("/", &["evil.example"], true, evil)).await,
        101
    );
}
