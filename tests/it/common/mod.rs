//! Shared test harness: the real `websockify` binary on real loopback sockets,
//! TCP targets (echo, source, sink), and WebSocket clients (plain and TLS).
//!
//! # Blocking in async tests
//!
//! The harness waits synchronously (`Proxy::start`, `next_line`,
//! `wait_for_log`, `wait_exit`, `run_to_exit`), and tests read datagram
//! sockets and run short commands synchronously too. On Tokio's default
//! current-thread test runtime any such wait also stops the test's own
//! tasks (echo targets, writers, token APIs), so a test could stall on a
//! condition only those tasks can bring about. Hence the rule:
//!
//! - every async test here is `#[tokio::test(flavor = "multi_thread")]`:
//!   its body runs on the `block_on` thread, not on a worker, so it may
//!   block while the workers run its tasks;
//! - a blocking wait inside a spawned task goes through [`blocking`]
//!   (`block_in_place`), or `spawn_blocking`;
//! - the harness's own waits go through [`blocking`], which panics on a
//!   current-thread runtime: a test that forgets the flavor fails at once,
//!   naming the fix, instead of stalling now and then.
#![allow(dead_code)]

pub mod ctl_status;
pub mod http;
pub mod pebble;
pub mod rfb;
pub mod token_servers;
pub mod wss;
pub mod x11vnc;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(30);

/// Runs the blocking `wait` without stalling the Tokio runtime this thread
/// belongs to (see the module docs): through `block_in_place` on a
/// multi-thread runtime, directly outside any runtime, and never on a
/// current-thread runtime, where it would stop the test's own tasks.
pub fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => wait(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        Ok(flavor) => panic!(
            "a blocking test helper on a {flavor:?} Tokio runtime would stop the test's \
             own tasks: use #[tokio::test(flavor = \"multi_thread\")] (tests/common/mod.rs)"
        ),
    }
}

/// A running proxy process; killed when dropped.
pub struct Proxy {
    child: Child,
    /// Addresses it logged as "listening on".
    pub addrs: Vec<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
}

impl Proxy {
    /// Starts `websockify ARGS` and waits until it has logged every listener.
    /// Use port 0 in the listen address: the kernel picks, the log tells.
    pub fn start(args: &[&str]) -> Proxy {
        Self::start_expecting(args, 1)
    }

    /// As `start`, for a listen address that binds `listeners` sockets.
    pub fn start_expecting(args: &[&str], listeners: usize) -> Proxy {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_websockify"));
        cmd.args(args).stdin(Stdio::null());
        Self::spawn(&mut cmd, listeners)
    }

    /// Starts the binary under `sh -c "SETUP; exec websockify ARGS"`.
    pub fn start_after(setup: &str, args: &[&str]) -> Proxy {
        let script = format!("{setup}; exec \"$0\" \"$@\"");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_websockify"))
            .args(args)
            .stdin(Stdio::null());
        Self::spawn(&mut cmd, 1)
    }

    /// Starts `cmd` (which runs the binary), waiting for `listeners`
    /// "listening on" lines (0: return at once, e.g. for socket activation).
    pub fn spawn(cmd: &mut Command, listeners: usize) -> Proxy {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn websockify");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[websockify] {line}");
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut proxy = Proxy {
            child,
            addrs: Vec::new(),
            log,
            lines,
        };
        while proxy.addrs.len() < listeners {
            let line = proxy.next_line();
            if let Some(addr) = line.split("listening on ").nth(1) {
                let addr = addr.split_whitespace().next().unwrap_or_default();
                proxy.addrs.push(addr.parse().expect("listen address"));
            }
        }
        proxy
    }

    /// The first listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Next log line, failing the test if none comes within `WAIT`.
    pub fn next_line(&mut self) -> String {
        let lines = &self.lines;
        blocking(|| lines.recv_timeout(WAIT))
            .unwrap_or_else(|_| panic!("websockify logged nothing more; log: {:?}", self.log()))
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        loop {
            let line = self.next_line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Process id, for signals and /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.wait_exit_within(WAIT)
            .unwrap_or_else(|| panic!("websockify did not exit; log: {:?}", self.log()))
    }

    /// The exit status if the process exits within `limit`, else `None`
    /// (it is then still running).
    pub fn wait_exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        let child = &mut self.child;
        blocking(|| loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_websockify")
}

/// Runs the binary to completion (for start-up errors) and returns (success, stderr).
pub fn run_to_exit(args: &[&str]) -> (bool, String) {
    let out = blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_websockify"))
            .args(args)
            .stdin(Stdio::null())
            .output()
    })
    .expect("run websockify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Deterministic pseudo-random bytes (xorshift), so checksums can be compared.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 as hex.
pub fn sha256(data: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(data);
    hash.hex()
}

/// SHA-256 on ring (the product's own crypto stack), as lowercase hex.
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    pub fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn hex(self) -> String {
        let digest = self.0.finish();
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

/// A TCP target on 127.0.0.1 that echoes every byte back.
pub async fn echo_target() -> SocketAddr {
    echo_target_on("127.0.0.1:0").await
}

/// A TCP target on `bind` that echoes every byte back, for any number of connections.
pub async fn echo_target_on(bind: &str) -> SocketAddr {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A target that writes `data` to its first connection, then closes it.
pub async fn source_target(data: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(&data).await;
            let _ = s.shutdown().await;
            // Hold the socket until the proxy closes its side.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    });
    addr
}

/// A target that reads its first connection to EOF and reports what it got.
pub async fn sink_target() -> (SocketAddr, oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got).await;
            let _ = tx.send(got);
        }
    });
    (addr, rx)
}

/// An address where nothing listens.
pub async fn dead_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Client WebSocket type over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// Client settings that accept the big messages the tests send and receive.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Connects a WebSocket client over plain TCP, offering `protocols`.
/// Returns the socket and the subprotocol the server chose.
pub async fn ws_connect(addr: SocketAddr, protocols: Option<&str>) -> (Ws, Option<String>) {
    let tcp = TcpStream::connect(addr).await.expect("connect to proxy");
    let mut req = format!("ws://{addr}/websockify")
        .into_client_request()
        .unwrap();
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let (ws, resp) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async_with_config(req, tcp, Some(client_config())),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake");
    let chosen = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (ws, chosen)
}

/// A self-signed certificate for localhost/127.0.0.1/::1: (cert PEM, key PEM, DER).
pub fn self_signed() -> (String, String, Vec<u8>) {
    let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
    )
}

/// Writes files into a fresh temp directory that is removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "websockify-test-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `contents` to `name` inside and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The directory as a string argument.
    pub fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Client WebSocket type over TLS.
pub type WssStream = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Opens a TLS connection to the proxy trusting only `cert_der`.
pub async fn tls_connect(
    addr: SocketAddr,
    cert_der: &[u8],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    tls_connect_as(addr, "localhost", &[cert_der]).await
}

/// The certificate (DER) `addr` presents for `name`, verified against the
/// `roots` (DER) only.
pub async fn served_cert(
    addr: SocketAddr,
    name: &str,
    roots: &[&[u8]],
) -> std::io::Result<Vec<u8>> {
    let tls = tls_connect_as(addr, name, roots).await?;
    let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
    Ok(leaf.expect("a verified server sent a certificate").to_vec())
}

/// A TLS connection to `addr` for the server name `name`, trusting only `roots`.
pub async fn tls_connect_as(
    addr: SocketAddr,
    name: &str,
    roots_der: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for der in roots_der {
        roots
            .add(CertificateDer::from(der.to_vec()))
            .expect("add root");
    }
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    timeout_io(connector.connect(name, tcp)).await
}

async fn timeout_io<T>(
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// A wss:// WebSocket client trusting only `cert_der`.
pub async fn wss_connect(addr: SocketAddr, cert_der: &[u8]) -> WssStream {
    wss_connect_as(addr, "localhost", &[cert_der]).await
}

/// A wss:// WebSocket client for the server name `name`, trusting only `roots`.
pub async fn wss_connect_as(addr: SocketAddr, name: &str, roots: &[&[u8]]) -> WssStream {
    let tls = tls_connect_as(addr, name, roots)
        .await
        .expect("TLS handshake");
    let req = format!("wss://{name}:{}/websockify", addr.port())
        .into_client_request()
        .unwrap();
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, tls))
        .await
        .expect("handshake timed out")
        .expect("handshake");
    ws
}

/// Sends `payload` as one binary message and waits for it to come back
/// (skipping heartbeat pings).
pub async fn echo_once<S>(ws: &mut WebSocketStream<S>, payload: &[u8])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::binary(payload.to_vec())).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => return assert_eq!(&b[..], payload),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}

/// Completes a WebSocket upgrade at `path` on a raw socket (no client
/// library, so tests can write any bytes), offering `protocol` if any.
pub async fn raw_upgrade(addr: SocketAddr, path: &str, protocol: Option<&str>) -> TcpStream {
    raw_upgrade_with(addr, path, protocol, "").await
}

/// [`raw_upgrade`] with `extra` header lines (each ending in `\r\n`).
pub async fn raw_upgrade_with(
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
    extra: &str,
) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let offer = protocol.map_or(String::new(), |p| {
        format!("Sec-WebSocket-Protocol: {p}\r\n")
    });
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{offer}{extra}\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tokio::time::timeout(WAIT, s.read_exact(&mut b))
            .await
            .expect("101")
            .expect("read");
        got.push(b[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s
}

/// Reads one server frame from a raw socket: (opcode, payload).
pub async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    tokio::time::timeout(WAIT, s.read_exact(&mut h))
        .await
        .expect("frame")
        .expect("read");
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).await.expect("len16");
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).await.expect("len64");
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tokio::time::timeout(WAIT, s.read_exact(&mut payload))
        .await
        .expect("payload")
        .expect("read");
    (h[0] & 0x0F, payload)
}
