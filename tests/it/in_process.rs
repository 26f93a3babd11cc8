//! Servers run inside the test's process (`websockify::server::in_process`),
//! where looking at a server's own state is clearer than scraping the
//! binary: the state its connections share is its own, not the process's.
//! Before it was handed down, metrics and the session table were globals,
//! and a second server in one process counted the first one's sessions.

use crate::common;

use clap::Parser as _;
use common::*;
use websockify::config::cli::Cli;
use websockify::config::options::Merged;
use websockify::config::Settings;
use websockify::server::in_process::{self, InProcess};

/// A server relaying to `target`, on a loopback port of its own.
fn server(target: std::net::SocketAddr) -> InProcess {
    let cli = Cli::try_parse_from(["websockify", "127.0.0.1:0", &target.to_string()])
        .expect("command line");
    let settings = Settings::from_merged(&Merged::new(None, cli.options())).expect("settings");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    in_process::spawn(settings, listener).expect("server")
}

/// The value of a counter or gauge line of `/metrics` text.
fn value(metrics: &str, name: &str) -> String {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_in_one_process_keep_their_sessions_and_counters_apart() {
    let target = echo_target().await;
    let (a, b) = (server(target), server(target));

    let (mut ws, _) = ws_connect(a.addr(), None).await;
    echo_once(&mut ws, b"only through a").await;

    let live = a.sessions();
    assert_eq!(live.len(), 1, "a's session table: {:?}", live.len());
    let shown = serde_json::to_value(&live).expect("sessions as JSON");
    assert_eq!(shown[0]["target"], target.to_string(), "{shown}");
    assert!(b.sessions().is_empty(), "b lists a's session");
    assert_eq!(value(&a.metrics(), "websockify_sessions_active"), "1");
    assert_eq!(value(&b.metrics(), "websockify_sessions_active"), "0");

    drop(ws);
    a.stop().await;
    assert_eq!(value(&b.metrics(), "websockify_sessions_total"), "0");
    b.stop().await;
}
