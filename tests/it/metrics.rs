//! Metrics and health through the real binary: counters move as sessions
//! open, pass bytes and close with known codes; the text parses as the
//! Prometheus exposition format; health turns 503 while draining and new
//! sessions are still accepted meanwhile.

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::http::{get, metrics_addr};
use common::*;
use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Every sample as `name{label="value",...}` -> value, via a real parser.
fn samples(text: &str) -> HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("exposition format");
    let mut out = HashMap::new();
    for s in scrape.samples {
        let mut labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let key = match labels.is_empty() {
            true => s.metric.clone(),
            false => format!("{}{{{}}}", s.metric, labels.join(",")),
        };
        let value = match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        out.insert(key, value);
    }
    out
}

/// A proxy to `target` with `extra` options and a metrics listener on a
/// loopback port, and that listener's address once it serves.
fn metrics_proxy(target: SocketAddr, extra: &[&str]) -> (Proxy, SocketAddr) {
    let target = target.to_string();
    let listen = ["--metrics-listen", "127.0.0.1:0", "127.0.0.1:0", &target];
    let mut proxy = Proxy::start(&[extra, &listen[..]].concat());
    let metrics = metrics_addr(&mut proxy);
    (proxy, metrics)
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_follow_sessions_and_refusals() {
    let target = echo_target().await;
    let (mut proxy, metrics) = metrics_proxy(target, &[]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, &[7u8; 1000]).await;
    let bye = CloseFrame {
        code: CloseCode::Library(4001),
        reason: "bye".into(),
    };
    ws.send(tokio_tungstenite::tungstenite::Message::Close(Some(bye)))
        .await
        .expect("close");
    proxy.wait_for_log("session closed");
    let mut bad = TcpStream::connect(proxy.addr()).await.expect("connect");
    // An upgrade request without its key.
    let keyless = upgrade_request("localhost", "/", "").replace(KEY_LINE, "");
    bad.write_all(keyless.as_bytes()).await.expect("write");
    proxy.wait_for_log("refused WebSocket handshake");
    let (status, text) = get(metrics, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let m = samples(&text);
    let at = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no {k} in {m:?}"))
    };
    assert_eq!(at("websockify_sessions_total"), 1.0);
    assert_eq!(at("websockify_sessions_active"), 0.0);
    assert_eq!(
        at("websockify_bytes_total{direction=\"to_target\"}"),
        1000.0
    );
    assert_eq!(
        at("websockify_bytes_total{direction=\"to_client\"}"),
        1000.0
    );
    assert_eq!(at("websockify_session_close_total{code=\"4xxx\"}"), 1.0);
    assert_eq!(
        at("websockify_handshake_failures_total{reason=\"bad_request\"}"),
        1.0
    );
    assert!(
        text.contains("websockify_target_connect_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("websockify_process_start_time_seconds"),
        "{text}"
    );
    assert_eq!(get(metrics, "/healthz").await.0, 200);
    assert_eq!(get(metrics, "/readyz").await.0, 200);
    assert_eq!(get(metrics, "/other").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn draining_fails_health_first_and_still_accepts() {
    let target = echo_target().await;
    let (mut proxy, metrics) = metrics_proxy(target, &["--drain-delay", "60"]);
    assert_eq!(get(metrics, "/healthz").await.0, 200);
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    proxy.wait_for_log("draining");
    assert_eq!(get(metrics, "/healthz").await.0, 503);
    assert_eq!(
        get(metrics, "/readyz").await,
        (503, "not ready: draining\n".into())
    );
    // New users are still served while the balancer notices.
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"still serving").await;
    // A second SIGTERM ends the wait: the session gets 1001 and the process exits.
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_fails_while_the_target_does_not_answer() {
    let target = dead_target().await;
    let (_proxy, metrics) = metrics_proxy(target, &[]);
    // The first check runs at start; until it is done /readyz may still say 200.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = get(metrics, "/readyz").await;
        if status == 503 {
            assert_eq!(body, "not ready: target-down\n");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz stayed {status}"
        );
        tokio::task::yield_now().await;
    }
    // Alive, just not ready: the instance itself is serving.
    assert_eq!(get(metrics, "/healthz").await.0, 200);
}

/// Out of descriptors (`ulimit -n 40`, far below the metrics connection
/// cap): the flood's extra connections fail at accept, and once they are
/// gone the listener answers again, as a load balancer needs it to.
#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_listener_answers_again_after_running_out_of_descriptors() {
    let target = echo_target().await;
    let mut proxy = Proxy::start_after(
        "ulimit -n 40",
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "127.0.0.1:0",
            &target.to_string(),
        ],
    );
    let metrics = metrics_addr(&mut proxy);
    // A connect may fail once the proxy is out of descriptors.
    let flooded = std::time::Instant::now();
    let mut flood = Vec::new();
    for _ in 0..60 {
        flood.extend(TcpStream::connect(metrics).await.ok());
    }
    proxy.wait_for_log("Too many open files");
    drop(flood);
    assert_eq!(get(metrics, "/healthz").await, (200, "ok\n".into()));
    // The failures are logged at most once a second.
    let seconds = flooded.elapsed().as_secs() as usize;
    let log = proxy.log();
    let failures: Vec<&String> = log.iter().filter(|l| l.contains("accept on")).collect();
    assert!(failures.len() <= 1 + seconds, "{failures:#?}");
}

/// At most 64 connections are served at once; the next one waits in the
/// kernel's queue (holding none of the proxy's descriptors) until one ends.
#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_listener_serves_at_most_64_connections_at_once() {
    use tokio::io::AsyncReadExt;
    let target = echo_target().await;
    let (_proxy, metrics) = metrics_proxy(target, &[]);
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(TcpStream::connect(metrics).await.expect("connect"));
    }
    let mut next = TcpStream::connect(metrics).await.expect("connect");
    next.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut reply = String::new();
    let early = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        next.read_to_string(&mut reply),
    )
    .await;
    assert!(early.is_err(), "the 65th was served at once: {reply:?}");
    drop(held.pop());
    tokio::time::timeout(WAIT, next.read_to_string(&mut reply))
        .await
        .expect("served once a slot is free")
        .expect("read");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// `--metrics-listen PORT` (every address) is warned about in `--check`
/// and at start, with the loopback spelling; a loopback address is not.
#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_listener_on_every_address_is_warned_about() {
    let target = dead_target().await.to_string();
    let check = |metrics: &str| {
        let args = [
            "--check",
            "--metrics-listen",
            metrics,
            "127.0.0.1:0",
            &target,
        ];
        let (ok, err) = run_to_exit(&args);
        assert!(ok, "{err}");
        err
    };
    let want = "listens on every address";
    for wildcard in ["19100", "0.0.0.0:19100", "[::]:19100"] {
        let err = check(wildcard);
        assert!(
            err.contains("warning: metrics-listen") && err.contains(want),
            "{wildcard}: {err}"
        );
        assert!(err.contains("give 127.0.0.1:19100"), "{err}");
    }
    assert!(!check("127.0.0.1:19100").contains(want));
    let proxy = Proxy::start(&["--metrics-listen", "0", "127.0.0.1:0", &target]);
    let log = proxy.log();
    assert!(log.iter().any(|l| l.contains(want)), "{log:?}");
}

/// A masked client close frame with `code`.
fn close_frame(code: u16) -> Vec<u8> {
    const MASK: [u8; 4] = [0x0f, 0x1e, 0x2d, 0x3c];
    let mut f = vec![0x88, 0x82];
    f.extend_from_slice(&MASK);
    f.extend(code.to_be_bytes().iter().zip(MASK).map(|(b, m)| b ^ m));
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_cannot_choose_close_code_series() {
    let target = echo_target().await;
    let (mut proxy, metrics) = metrics_proxy(target, &[]);
    let codes: Vec<u16> = (3000..3100).chain(4000..4100).chain([1000, 1001]).collect();
    for code in &codes {
        let mut s = raw_upgrade(proxy.addr(), "/websockify", None).await;
        s.write_all(&close_frame(*code)).await.expect("close");
        let (opcode, _) = read_frame(&mut s).await;
        assert_eq!(opcode, 8, "the close frame echoed");
    }
    for _ in &codes {
        proxy.wait_for_log("session closed");
    }
    let (_, text) = get(metrics, "/metrics").await;
    let m = samples(&text);
    let close = |code: &str| {
        m.get(&format!(
            "websockify_session_close_total{{code=\"{code}\"}}"
        ))
        .copied()
    };
    let series = m
        .keys()
        .filter(|k| k.starts_with("websockify_session_close_total{"));
    let mut chosen: Vec<&String> = series
        .filter(|k| (3000..5000).any(|c| k.contains(&format!("\"{c}\""))))
        .collect();
    chosen.sort();
    assert!(
        chosen.is_empty(),
        "{} series for codes clients chose: {:?} ...",
        chosen.len(),
        &chosen[..3.min(chosen.len())]
    );
    assert_eq!(close("3xxx"), Some(100.0), "{text}");
    assert_eq!(close("4xxx"), Some(100.0), "{text}");
    assert_eq!((close("1000"), close("1001")), (Some(1.0), Some(1.0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_labelled_family_is_there_from_the_first_scrape() {
    let target = echo_target().await;
    let (_proxy, metrics) = metrics_proxy(target, &[]);
    let (status, text) = get(metrics, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let m = samples(&text);
    let mut missing = Vec::new();
    let mut expect = |family: &str, label: &str, values: &[&str]| {
        for v in values {
            let key = format!("websockify_{family}{{{label}=\"{v}\"}}");
            if m.get(&key) != Some(&0.0) {
                missing.push(key);
            }
        }
    };
    expect("bytes_total", "direction", &["to_target", "to_client"]);
    let codes = [
        "1000", "1001", "1002", "1003", "1005", "1006", "1007", "1008", "1009", "1010", "1011",
        "1012", "1013", "1014", "1015", "3xxx", "4xxx", "other",
    ];
    expect("session_close_total", "code", &codes);
    let reasons = ["bad_request", "origin", "auth", "token", "caps", "tls"];
    expect("handshake_failures_total", "reason", &reasons);
    expect(
        "target_connect_failures_total",
        "reason",
        &["refused", "timeout", "other"],
    );
    assert!(
        missing.is_empty(),
        "not at 0 in the first scrape: {missing:?}\n{text}"
    );
}

/// The status of `GET /` with Basic `user:password` on a new connection.
async fn page_as(addr: SocketAddr, userpass: &str) -> u16 {
    use base64::Engine as _;
    use tokio::io::AsyncReadExt;
    let login = base64::engine::general_purpose::STANDARD.encode(userpass);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {login}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut got = String::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_string(&mut got)).await;
    got.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// A page load is dozens of requests with the same `Authorization`: the
/// password is hashed for the first, remembered for the rest; a wrong
/// password is hashed every time, and a reload forgets what was remembered.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_is_hashed_once_per_page_load_not_per_request() {
    let dir = TempDir::new("metrics-hashes");
    dir.write("web/index.html", "<html>noVNC</html>");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth/valid.htpasswd");
    let conf = dir.write(
        "websockify.conf",
        format!(
            "auth-file = \"{}\"\nweb-auth = true\nweb = \"{}\"\n",
            fixture.display(),
            dir.path().join("web").display()
        ),
    );
    let conf = conf.to_str().expect("utf-8 path");
    let (mut proxy, metrics) = metrics_proxy(echo_target().await, &["--config", conf]);
    let hashes = || async {
        let (_, text) = get(metrics, "/metrics").await;
        samples(&text)["websockify_password_hashes_total"]
    };
    for _ in 0..20 {
        assert_eq!(page_as(proxy.addr(), "bcrypt:tpyrcb").await, 200);
    }
    assert_eq!(hashes().await, 1.0, "20 requests with one login");
    for _ in 0..2 {
        assert_eq!(page_as(proxy.addr(), "bcrypt:wrong").await, 401);
    }
    assert_eq!(hashes().await, 3.0, "a wrong password is never remembered");
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    proxy.wait_for_log("reload: relaying new sessions");
    assert_eq!(page_as(proxy.addr(), "bcrypt:tpyrcb").await, 200);
    assert_eq!(hashes().await, 4.0, "a reload forgets remembered logins");
}
