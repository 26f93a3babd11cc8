//! The token plugins through their public API, on real things: files and
//! directories that change under them, real unix sockets, a real HTTP(S)
//! token API on loopback, JWTs signed here and by Python's jwcrypto, and a
//! real `redis-server`.

use crate::common;
use crate::common::token_servers;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{free_port, TempDir};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use token_servers::{Api, Handler, RedisServer, Reply};
use websockify::access::token::{TokenError, TokenPlugin, TokenTarget};
use websockify::access::vnc_password::VncPassword;

fn tcp(host: &str, port: u16) -> Option<TokenTarget> {
    Some(TokenTarget::tcp(host, port))
}

fn plugin(name: &str, source: impl AsRef<str>) -> TokenPlugin {
    TokenPlugin::new(name, source.as_ref())
        .unwrap_or_else(|e| panic!("{name} {}: {e:#}", source.as_ref()))
}

async fn found(p: &TokenPlugin, token: &str) -> Option<TokenTarget> {
    let found = p.lookup(token).await;
    let found = found.unwrap_or_else(|e| panic!("{p} {token}: {e}"));
    found.map(|entry| entry.target)
}

/// The VNC password `token`'s entry carries, if any.
async fn password_of(p: &TokenPlugin, token: &str) -> Option<VncPassword> {
    let found = p.lookup(token).await.unwrap_or_else(|e| panic!("{e}"));
    found.and_then(|entry| entry.vnc_password)
}

// ---- TokenFile, ReadOnlyTokenFile ----

#[tokio::test(flavor = "multi_thread")]
async fn token_file_formats() {
    let dir = TempDir::new("tokfmt");
    let file = dir.write(
        "tokens",
        "# comment\n\
         \n\
         plain: 127.0.0.1:5901\n\
         tab:\t10.0.0.1:5902\n\
         v6: ::1:5903\n\
         v6b: [fe80::1]:5904\n\
         sock: unix_socket:/run/vnc/1.sock\n\
         this line is bad\n\
         badport: host:vnc\n\
         crlf: h:5905\r\n",
    );
    let p = plugin("TokenFile", file.to_str().unwrap());
    assert_eq!(found(&p, "plain").await, tcp("127.0.0.1", 5901));
    assert_eq!(found(&p, "tab").await, tcp("10.0.0.1", 5902));
    assert_eq!(found(&p, "v6").await, tcp("::1", 5903));
    assert_eq!(found(&p, "v6b").await, tcp("fe80::1", 5904));
    assert_eq!(found(&p, "crlf").await, tcp("h", 5905));
    assert_eq!(
        found(&p, "sock").await,
        Some(TokenTarget::Unix("/run/vnc/1.sock".into()))
    );
    for unknown in [
        "badport",
        "this line is bad",
        "# comment",
        "",
        "PLAIN",
        "nope",
    ] {
        assert_eq!(found(&p, unknown).await, None, "{unknown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_file_picks_up_edits_and_read_only_does_not() {
    let dir = TempDir::new("tokedit");
    let file = dir.write("tokens", "a: h:1\n");
    let live = plugin("TokenFile", file.to_str().unwrap());
    let frozen = plugin(
        "websockify.token_plugins.ReadOnlyTokenFile",
        file.to_str().unwrap(),
    );
    assert_eq!(found(&live, "a").await, tcp("h", 1));
    assert_eq!(found(&frozen, "a").await, tcp("h", 1));

    // In place, same size, right after a read.
    std::fs::write(&file, "a: h:2\n").unwrap();
    assert_eq!(found(&live, "a").await, tcp("h", 2));
    // Replaced by rename, as editors and config tools do.
    let tmp = dir.write("tokens.new", "a: h:3\nb: h:4\n");
    std::fs::rename(&tmp, &file).unwrap();
    assert_eq!(found(&live, "a").await, tcp("h", 3));
    assert_eq!(found(&live, "b").await, tcp("h", 4));

    assert_eq!(found(&frozen, "a").await, tcp("h", 1));
    assert_eq!(found(&frozen, "b").await, None);

    // A token file that disappears is an outage, not an empty table.
    std::fs::remove_file(&file).unwrap();
    let err = live.lookup("a").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("tokens"), "{err}");
    assert_eq!(found(&frozen, "a").await, tcp("h", 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_directory() {
    let dir = TempDir::new("tokdir");
    dir.write("one", "a: h:1\n");
    dir.write("two.conf", "b:\th:2\n");
    dir.write(".hidden", "c: h:3\n");
    dir.write("one~", "d: h:4\n");
    dir.write("sub/inner", "e: h:5\n");
    let live = plugin("TokenFile", dir.arg());
    let frozen = plugin("ReadOnlyTokenFile", dir.arg());
    for p in [&live, &frozen] {
        assert_eq!(found(p, "a").await, tcp("h", 1));
        assert_eq!(found(p, "b").await, tcp("h", 2));
        for skipped in ["c", "d", "e"] {
            assert_eq!(found(p, skipped).await, None, "{skipped}");
        }
    }
    // A file added, a file removed.
    dir.write("three", "f: h:6\n");
    std::fs::remove_file(dir.path().join("one")).unwrap();
    assert_eq!(found(&live, "f").await, tcp("h", 6));
    assert_eq!(found(&live, "a").await, None);
    assert_eq!(found(&frozen, "a").await, tcp("h", 1));
    assert_eq!(found(&frozen, "f").await, None);
    // Emptied: every token is unknown, nothing fails.
    for f in ["two.conf", "three"] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    assert_eq!(found(&live, "b").await, None);
}

#[test]
fn token_file_sources_checked_at_start() {
    let dir = TempDir::new("tokmiss");
    let missing = dir.path().join("nope");
    for name in ["TokenFile", "ReadOnlyTokenFile"] {
        let err = TokenPlugin::new(name, missing.to_str().unwrap()).unwrap_err();
        assert!(format!("{err:#}").contains("nope"), "{err:#}");
    }
    // Garbage is warned about, never fatal.
    let file = dir.write("binary", [0xffu8, 0x00, b':', b' ', 0x80, b'\n', b'x']);
    assert!(TokenPlugin::new("TokenFile", file.to_str().unwrap()).is_ok());
}

// ---- TokenFileName ----

#[tokio::test(flavor = "multi_thread")]
async fn token_file_name() {
    let dir = TempDir::new("tokname");
    dir.write("vm1", "127.0.0.1:5901\n");
    dir.write("vm2", "unix_socket:/run/vm2.sock");
    dir.write("broken", "no port here");
    dir.write("sub/vm3", "h:3");
    let p = plugin("TokenFileName", dir.arg());
    assert_eq!(found(&p, "vm1").await, tcp("127.0.0.1", 5901));
    assert_eq!(
        found(&p, "vm2").await,
        Some(TokenTarget::Unix("/run/vm2.sock".into()))
    );
    // Only the last path component counts (Python's basename).
    assert_eq!(found(&p, "../../x/vm1").await, tcp("127.0.0.1", 5901));
    for unknown in [
        "nope",
        "",
        ".",
        "..",
        "sub",
        "sub/",
        "/etc/passwd",
        "sub/vm3",
        "a\0b",
    ] {
        assert_eq!(found(&p, unknown).await, None, "{unknown:?}");
    }
    let err = p.lookup("broken").await.unwrap_err();
    assert!(matches!(err, TokenError::BadData { .. }), "{err}");
    assert!(!err.to_string().contains("broken"), "token redacted: {err}");

    let file = dir.path().join("vm1");
    assert!(TokenPlugin::new("TokenFileName", file.to_str().unwrap()).is_err());
    std::fs::remove_dir_all(dir.path()).unwrap();
    let err = p.lookup("vm1").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");
    assert!(TokenPlugin::new("TokenFileName", "/nonexistent/dir").is_err());
}

// ---- UnixDomainSocketDirectory ----

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_directory_stays_inside() {
    let root = TempDir::new("uds");
    let socks = root.path().join("socks");
    let evil = root.path().join("socks-evil");
    std::fs::create_dir_all(&socks).unwrap();
    std::fs::create_dir_all(&evil).unwrap();
    let _vnc = UnixListener::bind(socks.join("vnc1")).unwrap();
    let _evil = UnixListener::bind(evil.join("x.sock")).unwrap();
    let _outside = UnixListener::bind(root.path().join("outside.sock")).unwrap();
    std::os::unix::fs::symlink(root.path().join("outside.sock"), socks.join("escape")).unwrap();
    std::os::unix::fs::symlink(socks.join("vnc1"), socks.join("alias")).unwrap();
    std::fs::write(socks.join("plain-file"), "x").unwrap();

    let p = plugin("UnixDomainSocketDirectory", socks.to_str().unwrap());
    let real = std::fs::canonicalize(socks.join("vnc1")).unwrap();
    assert_eq!(
        found(&p, "vnc1").await,
        Some(TokenTarget::Unix(real.clone()))
    );
    assert_eq!(
        found(&p, "alias").await,
        Some(TokenTarget::Unix(real.clone()))
    );
    assert_eq!(
        found(&p, real.to_str().unwrap()).await,
        Some(TokenTarget::Unix(real.clone()))
    );
    tokio::net::UnixStream::connect(&real)
        .await
        .expect("the returned path is the live socket");

    let outside = root.path().join("outside.sock");
    for attempt in [
        "../socks-evil/x.sock",
        "../outside.sock",
        "escape",
        outside.to_str().unwrap(),
        evil.join("x.sock").to_str().unwrap(),
        "..",
        ".",
        "",
        "vnc1/..",
        "plain-file",
        "missing",
        "../../../../../../../../run/dbus/system_bus_socket",
    ] {
        assert_eq!(found(&p, attempt).await, None, "{attempt:?}");
    }

    // The directory itself gone: an outage, not an unknown token.
    std::fs::remove_dir_all(&socks).unwrap();
    let err = p.lookup("vnc1").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");

    assert!(TokenPlugin::new("UnixDomainSocketDirectory", "/nonexistent/socks").is_err());
    assert!(TokenPlugin::new("UnixDomainSocketDirectory", real.to_str().unwrap()).is_err());
}

// ---- BaseTokenAPI, JSONTokenApi ----

fn api_handler(other: String) -> Handler {
    Arc::new(move |target: &str| {
        let token = target
            .rsplit_once(['/', '='])
            .map_or("", |(_, token)| token)
            .to_owned();
        let json = target.starts_with("/json");
        match (json, token.as_str()) {
            (false, "good") => Reply::Body(200, "127.0.0.1:5901"),
            (false, "v6") => Reply::Body(200, "::1:5901\n"),
            (false, "a%2Fb%3Fc%3Dd%20e%26f") => Reply::Body(200, "10.0.0.1:1"),
            (false, "garbage") => Reply::Body(200, "not a target"),
            (true, "good") => Reply::Body(200, r#"{"host": "127.0.0.1", "port": 5902}"#),
            (true, "strport") => Reply::Body(200, r#"{"host": "h", "port": "5903"}"#),
            (true, "garbage") => Reply::Body(200, "{not json"),
            (true, "noport") => Reply::Body(200, r#"{"host": "h"}"#),
            (true, "vncpw") => Reply::Body(
                200,
                r#"{"host": "h", "port": 1, "vnc_password": "Qz7pW2xk"}"#,
            ),
            (true, "nullpw") => {
                Reply::Body(200, r#"{"host": "h", "port": 1, "vnc_password": null}"#)
            }
            (true, "numpw") => {
                Reply::Body(200, r#"{"host": "h", "port": 1, "vnc_password": 31415926}"#)
            }
            (true, "emptypw") => {
                Reply::Body(200, r#"{"host": "h", "port": 1, "vnc_password": ""}"#)
            }
            (_, "redirect") => Reply::Redirect(other.clone()),
            (_, "boom") => Reply::Body(503, "down"),
            (_, "forbidden") => Reply::Body(403, "no"),
            (_, "hang") => Reply::Hang,
            _ => Reply::Body(404, "unknown"),
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn token_api_over_http() {
    let elsewhere = Api::start(api_handler(String::new()), None).await;
    let to = format!("http://{}/text/good", elsewhere.addr);
    let api = Api::start(api_handler(to), None).await;
    let text = plugin("BaseTokenAPI", format!("http://{}/text/%s", api.addr));
    let json = plugin(
        "JSONTokenApi",
        format!("http://{}/json?x=100%%&token=%s", api.addr),
    );

    assert_eq!(found(&text, "good").await, tcp("127.0.0.1", 5901));
    assert_eq!(found(&text, "v6").await, tcp("::1", 5901));
    assert_eq!(found(&text, "a/b?c=d e&f").await, tcp("10.0.0.1", 1));
    assert_eq!(found(&text, "nope").await, None);
    assert_eq!(found(&text, "forbidden").await, None);
    assert_eq!(found(&json, "good").await, tcp("127.0.0.1", 5902));
    assert_eq!(found(&json, "strport").await, tcp("h", 5903));
    assert_eq!(found(&json, "nope").await, None);

    // A redirect is not followed: unknown, and the other server never asked.
    assert_eq!(found(&text, "redirect").await, None);
    assert_eq!(found(&json, "redirect").await, None);
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());

    // A JSON answer may carry the target's VNC password; text answers never do.
    let pw = VncPassword::from_text(b"Qz7pW2xk").unwrap();
    assert_eq!(password_of(&json, "vncpw").await, Some(pw));
    assert_eq!(password_of(&json, "nullpw").await, None);
    assert_eq!(password_of(&json, "good").await, None);
    assert_eq!(password_of(&text, "good").await, None);

    for (p, token) in [
        (&text, "garbage"),
        (&json, "garbage"),
        (&json, "noport"),
        (&json, "numpw"),
        (&json, "emptypw"),
    ] {
        let err = p.lookup(token).await.unwrap_err();
        assert!(matches!(err, TokenError::BadData { .. }), "{token}: {err}");
        assert!(!err.to_string().contains("3141"), "{err}");
    }
    let err = text.lookup("boom").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");

    let seen = api.seen();
    assert!(
        seen.contains(&"/text/a%2Fb%3Fc%3Dd%20e%26f".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"/json?x=100%&token=good".to_string()),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_api_outages() {
    let closed = plugin(
        "BaseTokenAPI",
        format!("http://127.0.0.1:{}/%s", free_port()),
    );
    let err = closed.lookup("good").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");

    let api = Api::start(api_handler(String::new()), None).await;
    let slow = plugin("JSONTokenApi", format!("http://{}/json/%s", api.addr));
    let started = std::time::Instant::now();
    let err = slow.lookup("hang").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded wait");
}

// ---- JWTTokenApi ----

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .trim()
        .to_owned()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(alg: Algorithm, key: &str, claims: Value) -> String {
    websockify::access::token::install_jwt_crypto();
    let pem = std::fs::read(fixture(key)).unwrap();
    let key = match alg {
        // The key file is the base64url `k` of an oct JWK, as for jwcrypto.
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            EncodingKey::from_secret(&base64_url(&fixture_text(key)))
        }
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap()
}

fn base64_url(k: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(k)
        .unwrap()
}

fn key(name: &str) -> String {
    fixture(name).to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_made_by_python_jwcrypto() {
    let hs = plugin("JWTTokenApi", key("symmetric.key"));
    let rs = plugin("JWTTokenApi", key("rsa-public.pem"));
    let es = plugin("JWTTokenApi", key("ec-public.pem"));
    assert_eq!(
        found(&hs, &fixture_text("hs256-jwcrypto.jwt")).await,
        tcp("127.0.0.1", 5901)
    );
    assert_eq!(
        found(&rs, &fixture_text("rs256-jwcrypto.jwt")).await,
        tcp("10.0.0.2", 5902)
    );
    assert_eq!(
        found(&es, &fixture_text("es256-jwcrypto.jwt")).await,
        tcp("::1", 5903)
    );
    assert_eq!(
        found(&rs, &fixture_text("rs256-expired-jwcrypto.jwt")).await,
        None
    );
    // Right token, wrong key.
    assert_eq!(found(&es, &fixture_text("rs256-jwcrypto.jwt")).await, None);
    assert_eq!(found(&hs, &fixture_text("rs256-jwcrypto.jwt")).await, None);
    let err = rs
        .lookup(&fixture_text("jwe-jwcrypto.jwt"))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("JWE"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_algorithms_and_times() {
    let t = now();
    let target = |extra: Value| {
        let mut claims = json!({"host": "vnc.local", "port": 5901});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let cases = [
        ("symmetric.key", Algorithm::HS256, "symmetric.key"),
        ("symmetric.key", Algorithm::HS512, "symmetric.key"),
        ("rsa-public.pem", Algorithm::RS256, "rsa-private.pem"),
        ("rsa-public.pem", Algorithm::PS384, "rsa-private.pem"),
        ("ec-public.pem", Algorithm::ES256, "ec-private.pem"),
        ("ed-public.pem", Algorithm::EdDSA, "ed-private.pem"),
    ];
    for (public, alg, private) in cases {
        let p = plugin("JWTTokenApi", key(public));
        let ok = |claims| sign(alg, private, claims);
        let want = tcp("vnc.local", 5901);
        assert_eq!(found(&p, &ok(target(json!({})))).await, want, "{alg:?}");
        let window = json!({"nbf": t - 10, "exp": t + 60});
        assert_eq!(found(&p, &ok(target(window))).await, want, "{alg:?}");
        let skew = json!({"nbf": t + 10, "exp": t - 10});
        assert_eq!(
            found(&p, &ok(target(skew))).await,
            want,
            "{alg:?} within skew"
        );
        let float = json!({"exp": t as f64 + 60.5});
        assert_eq!(found(&p, &ok(target(float))).await, want, "{alg:?}");
        for refused in [
            json!({"exp": t - 120}),
            json!({"nbf": t + 120}),
            json!({"exp": "never"}),
            json!({"nbf": [1]}),
        ] {
            let token = ok(target(refused.clone()));
            assert_eq!(found(&p, &token).await, None, "{alg:?} {refused}");
        }
        // Signed, but not a target: a clear error.
        let err = p.lookup(&ok(json!({"host": "h"}))).await.unwrap_err();
        assert!(matches!(err, TokenError::BadData { .. }), "{err}");
        // A VNC password in a JWT is readable by its holder: refused.
        let claims = json!({"host": "h", "port": 1, "vnc_password": "Qz7pW2xk"});
        let err = p.lookup(&ok(claims)).await.unwrap_err();
        assert!(matches!(err, TokenError::BadData { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("readable by whoever holds it"), "{text}");
        assert!(!text.contains("Qz7p"), "{text}");
        // Tampered payload.
        let token = ok(target(json!({})));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = sign(alg, private, json!({"host": "evil", "port": 1}));
        parts[1] = forged.split('.').nth(1).unwrap();
        assert_eq!(found(&p, &parts.join(".")).await, None, "{alg:?} tampered");
    }
    let unix = sign(
        Algorithm::HS256,
        "symmetric.key",
        json!({"host": "unix_socket", "port": "/run/vnc.sock"}),
    );
    let p = plugin("JWTTokenApi", key("symmetric.key"));
    assert_eq!(
        found(&p, &unix).await,
        Some(TokenTarget::Unix("/run/vnc.sock".into()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_garbage_and_attacks() {
    let rs = plugin("JWTTokenApi", key("rsa-public.pem"));
    let hs = plugin("JWTTokenApi", key("symmetric.key"));
    // The public key's bytes used as an HMAC secret (algorithm confusion).
    let pem = std::fs::read(fixture("rsa-public.pem")).unwrap();
    websockify::access::token::install_jwt_crypto();
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"host": "evil", "port": 1}),
        &EncodingKey::from_secret(&pem),
    )
    .unwrap();
    assert_eq!(found(&rs, &confused).await, None);
    // alg "none".
    let none = format!(
        "{}.{}.",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", "eyJob3N0IjoiZXZpbCIsInBvcnQiOjF9"
    );
    for p in [&rs, &hs] {
        assert_eq!(found(p, &none).await, None);
        for garbage in [
            "",
            "abc",
            "a.b.c",
            "a.b",
            "....",
            "eyJ.eyJ.sig",
            "\u{0}.\u{ff}.x",
        ] {
            assert_eq!(found(p, garbage).await, None, "{garbage:?}");
        }
    }
    for bad_key in [
        "rsa-private.pem",
        "ec-private.pem",
        "missing.pem",
        "rs256-jwcrypto.jwt",
    ] {
        let err = TokenPlugin::new("JWTTokenApi", &key(bad_key)).unwrap_err();
        assert!(format!("{err:#}").contains(bad_key), "{err:#}");
    }
}

// ---- TokenRedis ----

#[tokio::test(flavor = "multi_thread")]
async fn redis_shared_table_changes_at_once() {
    let server = RedisServer::start(&[]);
    let mut admin = server.admin(None).await;
    let source = format!("127.0.0.1:{}", server.port);
    // Two plugins, as two proxy processes would have.
    let first = plugin("TokenRedis", &source);
    let second = plugin("TokenRedis", &source);

    assert_eq!(found(&first, "vm1").await, None);
    set(&mut admin, "vm1", r#"{"host": "10.0.0.1:5901"}"#).await;
    set(&mut admin, "vm2", " 10.0.0.2:5902 ").await;
    set(&mut admin, "vm3", "unix_socket:/run/vm3.sock").await;
    set(&mut admin, "vm4", r#"{"host": "::1:5904"}"#).await;
    for p in [&first, &second] {
        assert_eq!(found(p, "vm1").await, tcp("10.0.0.1", 5901));
        assert_eq!(found(p, "vm2").await, tcp("10.0.0.2", 5902));
        assert_eq!(found(p, "vm4").await, tcp("::1", 5904));
        assert_eq!(
            found(p, "vm3").await,
            Some(TokenTarget::Unix("/run/vm3.sock".into()))
        );
    }
    redis::cmd("DEL")
        .arg("vm1")
        .exec_async(&mut admin)
        .await
        .unwrap();
    set(&mut admin, "vm2", "10.0.0.9:5999").await;
    for p in [&first, &second] {
        assert_eq!(found(p, "vm1").await, None);
        assert_eq!(found(p, "vm2").await, tcp("10.0.0.9", 5999));
    }

    // Many lookups, some at once: still one connection per plugin.
    let lookups = (0..50).map(|i| {
        let p = if i % 2 == 0 { &first } else { &second };
        p.lookup("vm2")
    });
    for result in futures_util::future::join_all(lookups).await {
        assert_eq!(result.unwrap().map(|e| e.target), tcp("10.0.0.9", 5999));
    }
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        clients.lines().count(),
        3,
        "two plugins + admin:\n{clients}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_source_forms_and_bad_values() {
    let server = RedisServer::start(&["--requirepass", "s3:cret"]);
    let mut admin = server.admin(Some("s3:cret")).await;
    let port = server.port;
    let ns = plugin(
        "TokenRedis",
        format!("127.0.0.1:{port}::\"s3:cret\":\"app:dev\""),
    );
    let db3 = plugin("TokenRedis", format!("127.0.0.1:{port}:3:\"s3:cret\""));
    let plain = plugin("TokenRedis", format!("127.0.0.1:{port}::\"s3:cret\""));
    let wrong_pw = plugin("TokenRedis", format!("127.0.0.1:{port}::nope"));

    set(&mut admin, "app:dev:vm", "h:1").await;
    set(&mut admin, "vm", "h:2").await;
    assert_eq!(found(&ns, "vm").await, tcp("h", 1));
    assert_eq!(found(&plain, "vm").await, tcp("h", 2));
    assert_eq!(found(&db3, "vm").await, None);
    redis::cmd("SELECT")
        .arg(3)
        .exec_async(&mut admin)
        .await
        .unwrap();
    set(&mut admin, "vm", "h:3").await;
    assert_eq!(found(&db3, "vm").await, tcp("h", 3));
    assert_eq!(found(&plain, "vm").await, tcp("h", 2));

    let err = wrong_pw.lookup("vm").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");
    assert!(!err.to_string().contains("nope"), "password hidden: {err}");

    redis::cmd("SELECT")
        .arg(0)
        .exec_async(&mut admin)
        .await
        .unwrap();
    for (key, value) in [
        ("bad1", r#"{"host": "h:1"   "#),
        ("bad2", r#"{"port": 1}"#),
        ("bad3", "just words"),
        ("bad4", "h:port"),
    ] {
        set(&mut admin, key, value).await;
        let err = plain.lookup(key).await.unwrap_err();
        assert!(matches!(err, TokenError::BadData { .. }), "{key}: {err}");
    }
    redis::cmd("HSET")
        .arg("hash")
        .arg("f")
        .arg("v")
        .exec_async(&mut admin)
        .await
        .unwrap();
    let err = plain.lookup("hash").await.unwrap_err();
    assert!(matches!(err, TokenError::BadData { .. }), "{err}");
}

/// The daemon may build its plugins before its runtime starts.
#[test]
fn plugins_are_built_outside_a_runtime() {
    let dir = TempDir::new("tokrt");
    let file = dir.write("tokens", "a: h:1\n");
    let plugins = [
        ("TokenFile", file.to_str().unwrap().to_owned()),
        ("TokenFileName", dir.arg().to_owned()),
        ("UnixDomainSocketDirectory", dir.arg().to_owned()),
        ("BaseTokenAPI", "http://127.0.0.1:1/%s".to_owned()),
        ("JSONTokenApi", "https://127.0.0.1:1/t?token=%s".to_owned()),
        ("JWTTokenApi", key("symmetric.key")),
        ("TokenRedis", "127.0.0.1:1:0:R3d1sPw:ns".to_owned()),
    ]
    .map(|(name, source)| plugin(name, source));
    let shown = format!("{plugins:?}");
    assert!(shown.contains("TokenRedis 127.0.0.1:1 db 0"), "{shown}");
    // (A password no path holds: "pw" was in this checkout's own path.)
    assert!(!shown.contains("R3d1sPw"), "{shown}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(plugins[0].lookup("a"));
    assert_eq!(answer.unwrap().map(|e| e.target), tcp("h", 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_and_recovery() {
    let dead = plugin("TokenRedis", format!("127.0.0.1:{}", free_port()));
    let err = dead.lookup("vm").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");

    let mut server = RedisServer::start(&[]);
    let p = plugin("TokenRedis", format!("127.0.0.1:{}", server.port));
    set(&mut server.admin(None).await, "vm", "h:1").await;
    assert_eq!(found(&p, "vm").await, tcp("h", 1));

    server.kill();
    let err = p.lookup("vm").await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err}");

    server.restart();
    set(&mut server.admin(None).await, "vm", "h:2").await;
    let mut answer = p.lookup("vm").await;
    // The manager reconnects in the background after the failure; give it
    // a bounded number of tries rather than a sleep.
    for _ in 0..50 {
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = p.lookup("vm").await;
    }
    assert_eq!(answer.unwrap().map(|e| e.target), tcp("h", 2));
}

async fn set(admin: &mut redis::aio::MultiplexedConnection, key: &str, value: &str) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .exec_async(admin)
        .await
        .unwrap();
}
