//! Several instances behind Debian's HAProxy, sharing one Redis token table,
//! on loopback: 200 clients keep opening sessions by token while one node is
//! drained and restarted, then another. No new session fails; a session on
//! a drained node finishes or gets 1001, never a reset; a token added to
//! Redis during the run routes on every node.

use crate::common;
use crate::common::token_servers;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::metrics_addr;
use common::*;
use futures_util::{SinkExt, StreamExt};
use token_servers::RedisServer;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 200;
const TOKENS: usize = 10;

/// One websockify instance and the addresses it serves.
struct Node {
    proxy: Proxy,
    addr: SocketAddr,
    metrics: SocketAddr,
}

fn start_node(redis: u16, listen: &str, metrics: &str) -> Node {
    let source = format!("127.0.0.1:{redis}");
    let mut proxy = Proxy::start(&[
        "--token-plugin",
        "TokenRedis",
        "--token-source",
        &source,
        "--metrics-listen",
        metrics,
        "--drain-delay",
        "2",
        "--shutdown-grace",
        "3",
        "--max-connections-per-client",
        "0",
        listen,
    ]);
    let metrics = metrics_addr(&mut proxy);
    let addr = proxy.addr();
    Node {
        proxy,
        addr,
        metrics,
    }
}

/// HAProxy in the foreground on a listening socket it inherits (`fd@N`).
struct Haproxy {
    child: Child,
    stats: std::path::PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_haproxy(dir: &Path, front: &std::net::TcpListener, nodes: &[Node]) -> Haproxy {
    use std::os::fd::AsRawFd;
    nix::fcntl::fcntl(
        front,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .expect("let haproxy inherit the frontend socket");
    let stats = dir.join("haproxy.sock");
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| format!("  server n{i} {} check port {}\n", n.addr, n.metrics.port()))
        .collect();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/examples/haproxy-websockify.cfg"),
    )
    .expect("the shipped example");
    // The shipped example, with this test's sockets and nodes.
    let body = text.split("# -- servers --").next().expect("example head");
    let cfg = body
        .replace(
            "bind :443 ssl crt /etc/haproxy/websockify.pem",
            &format!("bind fd@{}", front.as_raw_fd()),
        )
        .replace("/run/haproxy/admin.sock", stats.to_str().expect("utf-8"))
        + &servers;
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("write haproxy.cfg");
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run haproxy ({e}): apt-get install haproxy"));
    Haproxy { child, stats }
}

impl Haproxy {
    /// Waits (bounded) for the stats socket; fails loudly if HAProxy exited.
    async fn ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        while std::os::unix::net::UnixStream::connect(&self.stats).is_err() {
            let exited = self.child.try_wait().expect("try_wait");
            assert!(
                exited.is_none(),
                "haproxy exited: {exited:?} (see its output above)"
            );
            assert!(
                Instant::now() < deadline,
                "haproxy never opened its stats socket"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The servers HAProxy counts as up, from its stats socket.
fn servers_up(stats: &Path) -> Vec<String> {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(stats) else {
        return Vec::new();
    };
    let _ = s.write_all(b"show servers state nodes\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    // Fields: be_id be_name srv_id srv_name srv_addr srv_op_state ...; 2 is running.
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 5 && f[5] == "2")
        .map(|f| f[3].to_owned())
        .collect()
}

/// Waits (bounded) until HAProxy's view of the servers satisfies `ok`.
async fn until_servers(stats: &Path, what: &str, ok: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok(&servers_up(stats)) {
        assert!(
            Instant::now() < deadline,
            "HAProxy never saw {what}: up = {:?}",
            servers_up(stats)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    finished: AtomicU64,
    moved: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<Vec<String>>,
}

/// One session: open by token, 20 echoes, close with 1000. `Ok(true)` when
/// it finished, `Ok(false)` when the server closed it with 1001.
async fn session(front: SocketAddr, token: &str) -> Result<bool, String> {
    let url = format!("ws://{front}/websockify?token={token}");
    let (mut ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| "open timed out".to_owned())?
        .map_err(|e| format!("open: {e}"))?;
    for i in 0..20u8 {
        ws.send(Message::binary(vec![i; 64]))
            .await
            .map_err(|e| format!("send: {e}"))?;
        loop {
            match timeout(WAIT, ws.next())
                .await
                .map_err(|_| "echo timed out".to_owned())?
            {
                Some(Ok(Message::Binary(b))) if b[..] == [i; 64] => break,
                Some(Ok(Message::Close(Some(f)))) if f.code == CloseCode::Away => return Ok(false),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => return Err(format!("during the session: {other:?}")),
            }
        }
    }
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    while let Some(Ok(_)) = timeout(WAIT, ws.next())
        .await
        .map_err(|_| "no close reply".to_owned())?
    {}
    Ok(true)
}

async fn client(front: SocketAddr, token: String, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Relaxed) {
        match session(front, &token).await {
            Ok(true) => tally.finished.fetch_add(1, Relaxed),
            Ok(false) => tally.moved.fetch_add(1, Relaxed),
            Err(e) => {
                tally.errors.lock().expect("errors").push(e);
                tally.failed.fetch_add(1, Relaxed)
            }
        };
    }
}

/// Waits (bounded) until `n` more sessions have finished.
async fn progress(tally: &Tally, n: u64) {
    let target = tally.finished.load(Relaxed) + n;
    let deadline = Instant::now() + WAIT;
    while tally.finished.load(Relaxed) < target {
        assert!(Instant::now() < deadline, "clients made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM to a node, HAProxy sees it go, it exits, and it comes back on
/// the same addresses.
async fn drain_and_restart(nodes: &mut [Node], i: usize, redis: u16, stats: &Path) {
    let name = format!("n{i}");
    nodes[i].proxy.signal(nix::sys::signal::Signal::SIGTERM);
    until_servers(stats, &format!("{name} down"), |up| !up.contains(&name)).await;
    let status = tokio::task::block_in_place(|| nodes[i].proxy.wait_exit());
    assert!(status.success(), "{name} exited with {status}");
    let (listen, metrics) = (nodes[i].addr.to_string(), nodes[i].metrics.to_string());
    nodes[i] = start_node(redis, &listen, &metrics);
    until_servers(stats, &format!("{name} back up"), |up| up.contains(&name)).await;
}

async fn set_token(admin: &mut redis::aio::MultiplexedConnection, token: &str, target: SocketAddr) {
    let value = format!("{{\"host\": \"{target}\"}}");
    let _: () = redis::cmd("SET")
        .arg(token)
        .arg(value)
        .query_async(admin)
        .await
        .expect("SET");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_drains_nodes_without_failing_a_session() {
    let target = echo_target().await;
    let redis = RedisServer::start(&[]);
    let mut admin = redis.admin(None).await;
    for t in 0..TOKENS {
        set_token(&mut admin, &format!("desk{t}"), target).await;
    }
    let mut nodes: Vec<Node> = (0..3)
        .map(|_| start_node(redis.port, "127.0.0.1:0", "127.0.0.1:0"))
        .collect();
    let dir = TempDir::new("multinode");
    let front = std::net::TcpListener::bind("127.0.0.1:0").expect("frontend");
    let front_addr = front.local_addr().expect("frontend address");
    let mut haproxy = start_haproxy(dir.path(), &front, &nodes);
    haproxy.ready().await;
    until_servers(&haproxy.stats, "all three nodes up", |up| up.len() == 3).await;

    let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(client(
                front_addr,
                format!("desk{}", c % TOKENS),
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    progress(&tally, CLIENTS as u64).await;
    drain_and_restart(&mut nodes, 0, redis.port, &haproxy.stats).await;
    progress(&tally, CLIENTS as u64).await;
    // A token added now routes on every node, restarted or not.
    set_token(&mut admin, "late", target).await;
    for node in &nodes {
        session(node.addr, "late")
            .await
            .unwrap_or_else(|e| panic!("late token on {}: {e}", node.addr));
    }
    drain_and_restart(&mut nodes, 1, redis.port, &haproxy.stats).await;
    progress(&tally, CLIENTS as u64).await;
    stop.store(true, Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    let (finished, moved, failed) = (
        tally.finished.load(Relaxed),
        tally.moved.load(Relaxed),
        tally.failed.load(Relaxed),
    );
    eprintln!(
        "multinode: {} sessions opened, {finished} finished, {moved} moved (1001), {failed} failed",
        finished + moved + failed
    );
    let errors = tally.errors.lock().expect("errors");
    assert_eq!(
        failed,
        0,
        "failed sessions: {:?}",
        &errors[..errors.len().min(5)]
    );
    drop(haproxy);
}
