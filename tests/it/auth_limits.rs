//! Password checks as a resource through the real binary: repeated failures
//! from one client get 429 with Retry-After and a fail2ban-style log line,
//! hash costs that would make each check slow are refused at start, a flood
//! of wrong passwords from many addresses neither starves live sessions nor
//! grows the process's threads, and `--verify-client` without `--cafile`
//! warns that every public CA is trusted.

use crate::common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::http::status;
use common::*;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The value of header `name` in a response head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

fn basic(user: &str, password: &str) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {enc}\r\n")
}

/// An htpasswd file with `user`/`password` at bcrypt cost 4 (cheap, so the
/// tests measure the proxy's bounds and not the hash).
fn htpasswd_file(dir: &TempDir, user: &str, password: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-nbB", "-C", "4", user, password])
        .output()
        .expect("htpasswd (apache2-utils) is needed for this test");
    assert!(out.status.success());
    let path = dir.write("users", out.stdout);
    path.to_str().expect("utf-8 path").to_owned()
}

/// A proxy to an echo target that admits `bob` with password `hunter2`
/// (an htpasswd file in the returned dir) and trusts `X-Forwarded-For`
/// from loopback, so one test client can speak for many addresses.
async fn bobs_proxy(name: &str) -> (Proxy, TempDir) {
    let target = echo_target().await.to_string();
    let dir = TempDir::new(name);
    let file = htpasswd_file(&dir, "bob", "hunter2");
    let proxy = Proxy::start(&[
        "--trusted-proxies",
        "127.0.0.1/32",
        "--auth-file",
        &file,
        "127.0.0.1:0",
        &target,
    ]);
    (proxy, dir)
}

fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line")
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_wrong_passwords_get_429_with_retry_after_and_a_log_line() {
    let (mut proxy, _dir) = bobs_proxy("auth-lockout").await;
    let addr = proxy.addr();
    let (wrong, right) = (basic("bob", "nope"), basic("bob", "hunter2"));
    for i in 1..=5 {
        let head = upgrade_head(addr, "/", &wrong).await;
        assert_eq!(status(&head), 401, "failure {i}: {head}");
    }
    let line = proxy.wait_for_log("too many failed logins");
    assert!(
        line.contains("127.0.0.1") && line.contains("(5 in 60 s); refused for 30 s"),
        "{line}"
    );
    assert!(
        !line.contains("nope") && !line.contains("hunter2"),
        "{line}"
    );
    let head = upgrade_head(addr, "/", &wrong).await;
    assert_eq!(status(&head), 429, "{head}");
    let secs: u64 = header(&head, "Retry-After")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {head}"));
    assert!((1..=30).contains(&secs), "Retry-After: {secs}");
    // During the lockout even the right password is refused, unhashed.
    let head = upgrade_head(addr, "/", &right).await;
    assert_eq!(
        status(&head),
        429,
        "right password while locked out: {head}"
    );
    // Other clients (here through loopback, configured as a trusted proxy) are not affected.
    let other = format!("X-Forwarded-For: 192.0.2.7\r\n{right}");
    assert_eq!(upgrade_status(addr, "/", &other).await, 101);
    // A success clears that client's record: four more failures stay 401.
    let third = "X-Forwarded-For: 192.0.2.8\r\n";
    for _ in 0..4 {
        assert_eq!(
            upgrade_status(addr, "/", &format!("{third}{wrong}")).await,
            401
        );
    }
    assert_eq!(
        upgrade_status(addr, "/", &format!("{third}{right}")).await,
        101
    );
    for i in 0..4 {
        let head = upgrade_head(addr, "/", &format!("{third}{wrong}")).await;
        assert_eq!(status(&head), 401, "after a success, failure {i}: {head}");
    }
}

#[test]
fn costly_hashes_are_refused_at_start_naming_file_line_and_user() {
    let dir = TempDir::new("auth-cost");
    let tail = "tMYBGaXvYPjkadEIDcuP/u.0Vvs9w/.614T9IqUgtbvfzrVlHjrWW";
    let bcrypt13 = format!("$2y$13${tail}");
    let file = dir.write(
        "users",
        format!("# users\nalice:$2y$05${tail}\ncarol:{bcrypt13}\n"),
    );
    let file = file.to_str().expect("utf-8 path");
    for check in [true, false] {
        let mut args = vec!["--auth-file", file, "127.0.0.1:0", "127.0.0.1:5900"];
        if check {
            args.insert(0, "--check");
        }
        let (ok, err) = run_to_exit(&args);
        assert!(!ok, "started with a cost-13 hash (--check: {check}): {err}");
        assert!(err.contains(&format!("{file}:3")), "{err}");
        assert!(err.contains("carol") && err.contains("cost 13"), "{err}");
        assert!(!err.contains(tail), "the hash was shown: {err}");
    }
    let sha = format!(
        "dave:$6$rounds=500000$I823QYOhKH7XrKiI${}\n",
        "a".repeat(86)
    );
    let file = dir.write("sha", sha);
    let (ok, err) = run_to_exit(&[
        "--check",
        "--auth-file",
        file.to_str().expect("utf-8 path"),
        "127.0.0.1:0",
        "127.0.0.1:5900",
    ]);
    assert!(!ok, "started with rounds=500000: {err}");
    assert!(
        err.contains("dave") && err.contains("rounds=500000"),
        "{err}"
    );
    assert!(
        !err.contains("I823QYOhKH7XrKiI"),
        "the salt was shown: {err}"
    );
}

/// A WebSocket session through the proxy with Basic credentials.
async fn ws_with_auth(addr: SocketAddr, authorization: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("ws://{addr}/websockify")
        .into_client_request()
        .expect("request");
    let value = authorization
        .trim_end()
        .trim_start_matches("Authorization: ");
    req.headers_mut()
        .insert("Authorization", value.parse().expect("header"));
    let (ws, _) = timeout(WAIT, tokio_tungstenite::client_async(req, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    ws
}

/// Sends wrong passwords from ever new forwarded addresses until `stop`.
fn flood(addr: SocketAddr, n: u32, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<u32>> {
    (0..n)
        .map(|i| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut sent = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let xff = format!("X-Forwarded-For: 10.{i}.{}.{}\r\n", sent / 250, sent % 250);
                    let _ =
                        upgrade_head(addr, "/", &format!("{xff}{}", basic("bob", "guess"))).await;
                    sent += 1;
                }
                sent
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_passwords_is_bounded_and_starves_nobody() {
    let (proxy, _dir) = bobs_proxy("auth-flood").await;
    let addr = proxy.addr();
    let right = basic("bob", "hunter2");
    let mut live = ws_with_auth(addr, &right).await;
    echo_once(&mut live, b"before").await;
    let before = threads(proxy.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let floods = flood(addr, 16, stop.clone());
    let mut most = before;
    for round in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        most = most.max(threads(proxy.pid()));
        if round % 5 == 4 {
            echo_once(&mut live, format!("during {round}").as_bytes()).await;
        }
    }
    let bystander = format!("X-Forwarded-For: 192.0.2.99\r\n{right}");
    let head = upgrade_head(addr, "/", &bystander).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for f in floods {
        sent += f.await.expect("flood task");
    }
    assert_eq!(status(&head), 101, "bystander during the flood: {head}");
    echo_once(&mut live, b"after").await;
    assert!(sent >= 16, "the flood sent only {sent} requests");
    // The password-check threads (one per core but one) started with the
    // first login; a flood adds none (before the bound: one per request).
    assert!(
        most <= before + 1,
        "threads grew from {before} to {most} under 16 concurrent floods"
    );
    let log = proxy.log();
    assert!(
        !log.iter().any(|l| l.contains("panick")),
        "panic in the log: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_client_without_cafile_warns_that_every_public_ca_is_trusted() {
    let dir = TempDir::new("mtls-nocafile");
    let (proxy, _) = tls_proxy(&dir, &["--verify-client"]).await;
    let log = proxy.log();
    let warning = log
        .iter()
        .find(|l| l.contains("verify-client") && l.contains("cafile"))
        .unwrap_or_else(|| panic!("no warning about verify-client without cafile: {log:?}"));
    assert!(warning.to_lowercase().contains("warn"), "{warning}");
    assert!(warning.contains("public"), "{warning}");
}
