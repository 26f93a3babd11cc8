//! Per-target VNC passwords from token plugins: a `JSONTokenApi` answer or
//! a `TokenRedis` value holding `"vnc_password"` beside the target. In front
//! of a real x11vnc `-rfbauth` on Xvfb, the browser side is offered only
//! security type None and gets the desktop's ServerInit; a wrong password
//! from the token closes with 1011 and the server's reason; a token's
//! password overrides `vnc-password-file` for its session only; and no
//! password appears in the proxy's log, at debug level included.

use crate::common;
use crate::common::token_servers;

use std::sync::Arc;

use common::rfb::{close, connect_as_browser, data, frame, upgrade};
use common::x11vnc::{store_password, x11vnc, Child};
use common::*;
use serde_json::{json, Value};
use token_servers::{Api, RedisServer, Reply};
use tokio::io::AsyncWriteExt;

/// The VNC server's password (8 characters: VNC uses no more).
const PASSWORD: &str = "Qz7pW2xk";
/// Another password, which the VNC server refuses.
const WRONG: &str = "Wr0ngPw9";

/// `{"host": ..., "port": ...}` of `target` (`127.0.0.1:PORT`), with
/// `"vnc_password"` when given.
fn answer(target: &str, password: Option<&str>) -> Value {
    let (host, port) = target.rsplit_once(':').expect("host:port");
    let mut v = json!({"host": host, "port": port.parse::<u16>().expect("port")});
    if let Some(pw) = password {
        v["vnc_password"] = json!(pw);
    }
    v
}

/// A token API on loopback answering `/vnc/right` (the right password),
/// `/vnc/wrong` (a wrong one) and `/vnc/none` (no password) for `target`.
async fn token_api(target: &str) -> Api {
    let leak = |v: Value| -> &'static str { Box::leak(v.to_string().into_boxed_str()) };
    let right = leak(answer(target, Some(PASSWORD)));
    let wrong = leak(answer(target, Some(WRONG)));
    let none = leak(answer(target, None));
    let handler = Arc::new(move |path: &str| match path {
        "/vnc/right" => Reply::Body(200, right),
        "/vnc/wrong" => Reply::Body(200, wrong),
        "/vnc/none" => Reply::Body(200, none),
        _ => Reply::Body(404, "unknown"),
    });
    Api::start(handler, None).await
}

/// The proxy (verbose) with `plugin` and `source`, and `extra` options.
fn proxy(plugin: &str, source: &str, extra: &[&str]) -> Proxy {
    let args = ["-v", "--token-plugin", plugin, "--token-source", source];
    Proxy::start(&[&args[..], extra, &["127.0.0.1:0"]].concat())
}

/// x11vnc `-rfbauth` with [`PASSWORD`] on Xvfb: the test's folder, the
/// servers, and x11vnc's `host:port`.
async fn vnc_server(tag: &str) -> (TempDir, [Child; 2], String) {
    let dir = TempDir::new(tag);
    let pw = store_password(&dir, PASSWORD);
    let (xvfb, vnc, target) = x11vnc(&dir, &pw, &[]).await;
    (dir, [xvfb, vnc], target)
}

/// A browser through `proxy` with `token` is offered security type None
/// only, and gets the desktop's ServerInit (x11vnc on Xvfb's 640x480).
async fn reaches_the_desktop(proxy: &Proxy, token: &str) {
    let mut s = upgrade(proxy.addr(), &format!("/websockify?token={token}")).await;
    let got = connect_as_browser(&mut s).await;
    assert_eq!(got, ("RFB 003.008".into(), 640, 480));
}

/// A wrong password from the token: 1011 with the server's refusal, which
/// the log names too.
async fn refused_with_1011(proxy: &mut Proxy, token: &str) {
    let mut s = upgrade(proxy.addr(), &format!("/websockify?token={token}")).await;
    let (code, reason) = close(&mut s).await;
    assert_eq!(code, 1011, "{reason}");
    assert!(reason.contains("refused the password"), "{reason}");
    proxy.wait_for_log("refused the password");
}

/// Neither password, nor any 4 characters of one, is in the log.
fn no_password_logged(proxy: &Proxy) {
    for line in proxy.log() {
        for pw in [PASSWORD, WRONG] {
            for part in pw.as_bytes().windows(4) {
                let part = std::str::from_utf8(part).unwrap();
                assert!(!line.contains(part), "password logged: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_token_api_answers_carry_the_vnc_password() {
    let (_dir, _vnc, target) = vnc_server("vnctok-json").await;
    let api = token_api(&target).await;
    let source = format!("http://{}/vnc/%s", api.addr);
    let mut proxy = proxy("JSONTokenApi", &source, &[]);

    reaches_the_desktop(&proxy, "right").await;

    // Without a password in the answer (and no vnc-password-file) the
    // server's own handshake reaches the browser: VNC Authentication (2).
    let mut s = upgrade(proxy.addr(), "/websockify?token=none").await;
    let version = data(&mut s).await;
    assert_eq!(version, b"RFB 003.008\n");
    s.write_all(&frame(&version)).await.unwrap();
    assert_eq!(
        data(&mut s).await,
        [1, 2],
        "the server asks for its password"
    );

    refused_with_1011(&mut proxy, "wrong").await;
    no_password_logged(&proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_token_password_is_answered_to_a_token_target() {
    let (dir, _vnc, target) = vnc_server("vnctok-override").await;
    let api = token_api(&target).await;
    let source = format!("http://{}/vnc/%s", api.addr);
    let file = dir.write("instance.passwd", format!("{PASSWORD}\n"));
    let file_arg = ["--vnc-password-file", file.to_str().unwrap()];
    let proxy = proxy("JSONTokenApi", &source, &file_arg);

    reaches_the_desktop(&proxy, "right").await;
    // A token without a password: the instance's is not answered to the
    // token's server (it belongs to `target`); the browser is asked.
    let mut s = upgrade(proxy.addr(), "/websockify?token=none").await;
    let version = data(&mut s).await;
    s.write_all(&frame(&version)).await.unwrap();
    assert_eq!(
        data(&mut s).await,
        [1, 2],
        "the server asks for its password"
    );
    no_password_logged(&proxy);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_redis_values_carry_the_vnc_password() {
    let (_dir, _vnc, target) = vnc_server("vnctok-redis").await;
    let redis = RedisServer::start(&[]);
    let mut admin = redis.admin(None).await;
    for (key, password) in [("right", PASSWORD), ("wrong", WRONG)] {
        let value = json!({"host": target, "vnc_password": password});
        redis::cmd("SET")
            .arg(key)
            .arg(value.to_string())
            .exec_async(&mut admin)
            .await
            .unwrap();
    }
    let mut proxy = proxy("TokenRedis", &format!("127.0.0.1:{}", redis.port), &[]);

    reaches_the_desktop(&proxy, "right").await;
    refused_with_1011(&mut proxy, "wrong").await;
    no_password_logged(&proxy);
}
