//! Metrics and health through the real binary: counters move as sessions
//! open, pass bytes and close with known codes; the text parses as the
//! Prometheus exposition format; health turns 503 while draining and new
//! sessions are still accepted meanwhile.

use crate::common;

use std::collections::HashMap;

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

#[tokio::test(flavor = "multi_thread")]
async fn counters_follow_sessions_and_refusals() {
    let target = echo_target().await;
    let mut proxy = Proxy::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let metrics = metrics_addr(&mut proxy);
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
    let keyless = upgrade_request("x", "/", "").replace(KEY_LINE, "");
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
    assert_eq!(at("websockify_session_close_total{code=\"4001\"}"), 1.0);
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
    let mut proxy = Proxy::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--drain-delay",
        "60",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let metrics = metrics_addr(&mut proxy);
    assert_eq!(get(metrics, "/healthz").await.0, 200);
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    proxy.wait_for_log("draining");
    assert_eq!(get(metrics, "/healthz").await.0, 503);
    assert_eq!(get(metrics, "/readyz").await.0, 503);
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
    let mut proxy = Proxy::start(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    let metrics = metrics_addr(&mut proxy);
    // The first check runs at start; until it is done /readyz may still say 200.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = get(metrics, "/readyz").await;
        if status == 503 {
            assert!(body.starts_with("target not answering ("), "{body:?}");
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
