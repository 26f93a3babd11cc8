//! `wsbench`: the load client, target server and report writer behind
//! `scripts/bench`.
//!
//! Why a purpose-built tool rather than an off-the-shelf one: the benchmark
//! compares raw TCP paths (direct, `socat`) with WebSocket paths (Python
//! websockify, ours) and must drive both with the *same* client code, count
//! bytes where the issue says to count them (at the target for client→target,
//! at the client for target→client), and never be the bottleneck itself. A
//! tiny hand-rolled WebSocket client (binary frames, no subprotocol) lets the
//! throughput paths write pre-built batches of masked frames and skip payloads
//! without copying, which general-purpose libraries do not allow.
//!
//! Subcommands:
//! - `target`: a TCP server whose per-connection behaviour is chosen by the
//!   first byte the client sends (`E` echo, `O` source, `K` sink, `C` control).
//!   One target therefore serves every test through one proxy instance. Sink
//!   connections carry an 8-byte tag after `K` and the target counts bytes per
//!   tag; a control connection (`C` + tag), made straight to the target and
//!   bypassing the proxy under test, reads that count. Per-tag counts matter:
//!   Python websockify keeps forwarding its backlog to the target long after
//!   the client has gone, which would otherwise inflate later measurements.
//! - `download`, `upload`, `latency`, `conn-rate`, `idle`: measurements; each
//!   appends `SYSTEM<TAB>metric<TAB>value` lines to the `--record` file.
//! - `report`: turns that file into the markdown table with the goals.
//! - `free-port`: prints a free loopback port for the script.
//!
//! Every loop is bounded by a count and a wall-clock deadline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bytes::{Buf, BytesMut};
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures_util::stream::{self, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

/// First byte of a connection: selects the target's behaviour.
const MODE_ECHO: u8 = b'E';
const MODE_SOURCE: u8 = b'O';
const MODE_SINK: u8 = b'K';
const MODE_CONTROL: u8 = b'C';

/// Size of one batch written by the throughput clients and the source target:
/// large enough that syscall overhead is negligible next to the copy.
const BATCH: usize = 256 * 1024;

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Upper bound for the HTTP upgrade response, so a broken proxy cannot make
/// the client buffer without limit.
const MAX_HANDSHAKE_RESPONSE: usize = 16 * 1024;

#[derive(Parser)]
#[command(about = "Load client, target server and report writer for scripts/bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the TCP target; prints `PORT <n>` once listening.
    Target {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// `auto` picks the behaviour from the first byte of each connection.
        #[arg(long, value_enum, default_value_t = TargetMode::Auto)]
        mode: TargetMode,
        /// Tokio worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Target→client throughput: the target writes as fast as it can, the
    /// client counts payload bytes received.
    Download {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[command(flatten)]
        timing: Timing,
    },
    /// Client→target throughput: the client writes `--msg-size` messages,
    /// the target's sink counts what it received.
    Upload {
        #[command(flatten)]
        common: Common,
        /// The target itself, for the counter query (never via the proxy).
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 4096)]
        msg_size: usize,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[command(flatten)]
        timing: Timing,
    },
    /// Round-trip latency of `--size`-byte messages, one outstanding.
    Latency {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 16)]
        size: usize,
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        #[arg(long, default_value_t = 200_000)]
        max_iters: usize,
    },
    /// Connections per second: connect, (handshake), one round trip, close.
    ConnRate {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        #[arg(long, default_value_t = 30_000)]
        max_conns: u64,
    },
    /// Open idle sessions, verify each with a round trip, measure the proxy's
    /// PSS (process tree of `--pid`) before and after.
    Idle {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 9500)]
        sessions: usize,
        /// Proxy process whose tree's PSS is measured.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Deadline for opening all sessions.
        #[arg(long, default_value_t = 120.0)]
        max_secs: f64,
        /// Pause after verification before reading PSS, so forked children
        /// and allocators settle.
        #[arg(long, default_value_t = 1.0)]
        settle_secs: f64,
    },
    /// Render the recorded results as markdown.
    Report {
        #[arg(long)]
        input: PathBuf,
        /// Also write the markdown here.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetMode {
    Auto,
    Echo,
    Source,
    Sink,
}

#[derive(Args, Clone)]
struct Common {
    /// Where the client connects: the target itself (direct) or a proxy.
    #[arg(long)]
    connect: SocketAddr,
    /// Speak WebSocket (masked binary frames, no subprotocol) instead of raw TCP.
    #[arg(long)]
    ws: bool,
    /// Append `SYSTEM<TAB>metric<TAB>value` lines to this file.
    #[arg(long)]
    record: Option<PathBuf>,
    /// System name used in recorded lines.
    #[arg(long, default_value = "unnamed")]
    system: String,
}

#[derive(Args, Clone, Copy)]
struct Timing {
    /// Seconds of traffic before counting starts (slow start, forks).
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Seconds per counted window.
    #[arg(long, default_value_t = 1.0)]
    secs: f64,
    /// Consecutive windows; the median is reported, so a burst of unrelated
    /// load on a shared 2-core machine moves the result less.
    #[arg(long, default_value_t = 5)]
    windows: usize,
}

/// Rates (per second) over `timing.windows` consecutive windows of
/// `timing.secs`, after `timing.warmup`, of the counter read by `read`.
async fn windowed_rates<F, Fut>(timing: Timing, mut read: F) -> Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64>>,
{
    tokio::time::sleep(secs(timing.warmup)).await;
    let mut rates = Vec::with_capacity(timing.windows);
    let (mut t0, mut c0) = (Instant::now(), read().await?);
    for _ in 0..timing.windows.max(1) {
        tokio::time::sleep(secs(timing.secs)).await;
        let (t1, c1) = (Instant::now(), read().await?);
        rates.push(c1.saturating_sub(c0) as f64 / (t1 - t0).as_secs_f64());
        (t0, c0) = (t1, c1);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates)
}

/// Record the median of `rates` (scaled) as `metric`, and the spread as
/// `metric_min` / `metric_max` for the raw results.
fn record_rates(common: &Common, metric: &str, rates: &[f64], scale: f64) -> Result<()> {
    record(common, metric, percentile(rates, 0.5) * scale)?;
    if let (Some(lo), Some(hi)) = (rates.first(), rates.last()) {
        record(common, &format!("{metric}_min"), lo * scale)?;
        record(common, &format!("{metric}_max"), hi * scale)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    raise_nofile_limit();
    // Latency wants everything on one thread (pinned by the script with
    // taskset); the others scale with the machine.
    let rt = match &cli.cmd {
        Cmd::Latency { .. } | Cmd::FreePort | Cmd::Report { .. } => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        }
        Cmd::Target { threads, .. } => tokio::runtime::Builder::new_multi_thread()
            .worker_threads((*threads).max(1))
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    rt.block_on(run(cli.cmd))
}

async fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Target {
            listen,
            mode,
            threads: _,
        } => run_target(listen, mode).await,
        Cmd::FreePort => {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            println!("{}", l.local_addr()?.port());
            Ok(())
        }
        Cmd::Download {
            common,
            conns,
            timing,
        } => download(&common, conns, timing).await,
        Cmd::Upload {
            common,
            target,
            msg_size,
            conns,
            timing,
        } => upload(&common, target, msg_size, conns, timing).await,
        Cmd::Latency {
            common,
            size,
            secs,
            max_iters,
        } => latency(&common, size, secs, max_iters).await,
        Cmd::ConnRate {
            common,
            concurrency,
            secs,
            max_conns,
        } => conn_rate(&common, concurrency, secs, max_conns).await,
        Cmd::Idle {
            common,
            sessions,
            pid,
            concurrency,
            max_secs,
            settle_secs,
        } => idle(&common, sessions, pid, concurrency, max_secs, settle_secs).await,
        Cmd::Report { input, output } => report(&input, output.as_deref()),
    }
}

/// Raise the soft fd limit to the hard one: the idle test holds thousands of
/// sockets in the client and in the target.
fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

// ---------------------------------------------------------------------------
// Target server
// ---------------------------------------------------------------------------

/// Counters shared by all target connections.
#[derive(Default)]
struct TargetStats {
    /// Bytes received by sink connections, per tag (one tag per upload run).
    sinks: std::sync::Mutex<HashMap<u64, Arc<AtomicU64>>>,
    accepted: AtomicU64,
}

impl TargetStats {
    fn sink(&self, tag: u64) -> Arc<AtomicU64> {
        let mut m = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(tag).or_default().clone()
    }
}

/// Length of the sink/control header: mode byte plus 8-byte tag.
const TAGGED_HEADER: usize = 9;

fn tag_of(header: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&header[1..TAGGED_HEADER]);
    u64::from_le_bytes(b)
}

async fn run_target(listen: SocketAddr, mode: TargetMode) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("bind {listen}"))?;
    println!("PORT {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let stats = Arc::new(TargetStats::default());
    // One shared buffer for every source connection: the target must never be
    // the bottleneck, and 9,500 idle echo sessions must stay cheap.
    let source_data: Arc<[u8]> = vec![0x5a; BATCH].into();
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning or dying.
                eprintln!("target: accept: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let stats = stats.clone();
        let source_data = source_data.clone();
        tokio::spawn(async move {
            // Errors here are peers going away (RST at the end of a test).
            let _ = serve_target_conn(sock, mode, &stats, &source_data).await;
        });
    }
}

async fn serve_target_conn(
    mut sock: TcpStream,
    mode: TargetMode,
    stats: &TargetStats,
    source_data: &[u8],
) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    let (mode, first, tag) = match mode {
        TargetMode::Auto => {
            let mut n = sock.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            if buf[0] == MODE_SINK || buf[0] == MODE_CONTROL {
                while n < TAGGED_HEADER {
                    let m = sock.read(&mut buf[n..]).await?;
                    if m == 0 {
                        return Ok(());
                    }
                    n += m;
                }
                (buf[0], TAGGED_HEADER..n, tag_of(&buf))
            } else {
                (buf[0], 1..n, 0)
            }
        }
        TargetMode::Echo => (MODE_ECHO, 0..0, 0),
        TargetMode::Source => (MODE_SOURCE, 0..0, 0),
        TargetMode::Sink => (MODE_SINK, 0..0, 0),
    };
    match mode {
        MODE_ECHO => {
            sock.write_all(&buf[first]).await?;
            loop {
                let n = sock.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                sock.write_all(&buf[..n]).await?;
            }
        }
        MODE_SOURCE => loop {
            sock.write_all(source_data).await?;
        },
        MODE_SINK => {
            let counter = stats.sink(tag);
            counter.fetch_add(first.len() as u64, Ordering::Relaxed);
            let mut big = vec![0u8; BATCH];
            loop {
                let n = sock.read(&mut big).await?;
                if n == 0 {
                    return Ok(());
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        MODE_CONTROL => {
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&stats.sink(tag).load(Ordering::Relaxed).to_le_bytes());
            out[8..].copy_from_slice(&stats.accepted.load(Ordering::Relaxed).to_le_bytes());
            sock.write_all(&out).await
        }
        _ => Ok(()),
    }
}

/// Mode byte and tag that open a sink (`MODE_SINK`) or control connection.
fn tagged(mode: u8, tag: u64) -> [u8; TAGGED_HEADER] {
    let mut h = [0u8; TAGGED_HEADER];
    h[0] = mode;
    h[1..].copy_from_slice(&tag.to_le_bytes());
    h
}

/// Ask the target (directly, not through the proxy) how many bytes its sink
/// connections with `tag` have received so far.
async fn query_sink_bytes(target: SocketAddr, tag: u64) -> Result<u64> {
    let mut s = TcpStream::connect(target)
        .await
        .with_context(|| format!("control connect {target}"))?;
    s.write_all(&tagged(MODE_CONTROL, tag)).await?;
    let mut out = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut out))
        .await
        .context("control query timed out")??;
    let mut b = [0u8; 8];
    b.copy_from_slice(&out[..8]);
    Ok(u64::from_le_bytes(b))
}

// ---------------------------------------------------------------------------
// Client connection: raw TCP or a minimal WebSocket client
// ---------------------------------------------------------------------------

/// Control frames the caller must act on.
enum Ctrl {
    Ping(Vec<u8>),
    Close,
}

/// One client connection. In WebSocket mode `rbuf` holds received bytes not
/// parsed yet and `data_left` the payload bytes of the current data frame
/// still to come, so payloads are consumed straight from the read buffer.
struct Client {
    stream: TcpStream,
    ws: bool,
    rbuf: BytesMut,
    data_left: u64,
    /// How much to reserve per read: large for throughput, small for the
    /// thousands of idle sessions.
    read_chunk: usize,
    rng: u64,
}

impl Client {
    async fn connect(addr: SocketAddr, ws: bool, read_chunk: usize) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let mut c = Client {
            stream,
            ws,
            rbuf: BytesMut::new(),
            data_left: 0,
            read_chunk,
            rng: seed(),
        };
        if ws {
            c.handshake(addr).await?;
        }
        Ok(c)
    }

    /// RFC 6455 client handshake, no subprotocol (what current noVNC sends).
    async fn handshake(&mut self, addr: SocketAddr) -> Result<()> {
        let key = generate_key();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.stream.write_all(req.as_bytes()).await?;
        let end = loop {
            if let Some(pos) = find(&self.rbuf, b"\r\n\r\n") {
                break pos + 4;
            }
            ensure!(
                self.rbuf.len() < MAX_HANDSHAKE_RESPONSE,
                "handshake response larger than {MAX_HANDSHAKE_RESPONSE} bytes"
            );
            self.rbuf.reserve(4096);
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            ensure!(n > 0, "connection closed during WebSocket handshake");
        };
        let head = self.rbuf.split_to(end);
        let head = String::from_utf8_lossy(&head);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default();
        ensure!(
            status.starts_with("HTTP/1.1 101"),
            "handshake refused: {status:?}"
        );
        let want = derive_accept_key(key.as_bytes());
        let accepted = lines.any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == want
            })
        });
        ensure!(accepted, "missing or wrong Sec-WebSocket-Accept");
        Ok(())
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift64: masking keys need not be cryptographic for a benchmark.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_le_bytes()
    }

    /// Send one message: raw bytes, or one masked binary frame.
    async fn send_msg(&mut self, payload: &[u8]) -> Result<()> {
        if self.ws {
            self.send_frame(OP_BINARY, payload).await
        } else {
            Ok(self.stream.write_all(payload).await?)
        }
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 14);
        let mask = self.next_mask();
        encode_frame(&mut out, opcode, payload, mask);
        Ok(self.stream.write_all(&out).await?)
    }

    /// Read once from the socket (or use what is buffered) and hand payload
    /// bytes to `on_data`. Answers pings. Errors on close or EOF.
    async fn recv_some(&mut self, on_data: &mut (dyn FnMut(&[u8]) + Send)) -> Result<()> {
        if !self.ws {
            self.rbuf.clear();
            self.rbuf.reserve(self.read_chunk);
            let n = self.stream.read_buf(&mut self.rbuf).await?;
            ensure!(n > 0, "connection closed by peer");
            on_data(&self.rbuf);
            return Ok(());
        }
        if self.pump(on_data).await? {
            bail!("WebSocket closed by peer");
        }
        self.rbuf.reserve(self.read_chunk);
        let n = self.stream.read_buf(&mut self.rbuf).await?;
        ensure!(n > 0, "connection closed by peer (no close frame)");
        if self.pump(on_data).await? {
            bail!("WebSocket closed by peer");
        }
        Ok(())
    }

    /// Parse everything buffered, answering pings. Returns true on close.
    async fn pump(&mut self, on_data: &mut (dyn FnMut(&[u8]) + Send)) -> Result<bool> {
        loop {
            match self.parse(on_data)? {
                Some(Ctrl::Ping(p)) => self.send_frame(OP_PONG, &p).await?,
                Some(Ctrl::Close) => return Ok(true),
                None => return Ok(false),
            }
        }
    }

    /// Consume as much of `rbuf` as is complete. Data payload goes to
    /// `on_data`; stops at the first control frame the caller must handle.
    fn parse(&mut self, on_data: &mut (dyn FnMut(&[u8]) + Send)) -> Result<Option<Ctrl>> {
        loop {
            if self.data_left > 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                let n = self.rbuf.len().min(usize::try_from(self.data_left)?);
                on_data(&self.rbuf[..n]);
                self.rbuf.advance(n);
                self.data_left -= n as u64;
                continue;
            }
            let b = &self.rbuf[..];
            if b.len() < 2 {
                return Ok(None);
            }
            ensure!(b[0] & 0x70 == 0, "server frame with RSV bits set");
            let opcode = b[0] & 0x0f;
            ensure!(b[1] & 0x80 == 0, "server sent a masked frame");
            let (len, hdr) = match b[1] & 0x7f {
                126 => {
                    if b.len() < 4 {
                        return Ok(None);
                    }
                    (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
                }
                127 => {
                    if b.len() < 10 {
                        return Ok(None);
                    }
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&b[2..10]);
                    (u64::from_be_bytes(x), 10)
                }
                l => (u64::from(l), 2),
            };
            match opcode {
                OP_CONT | OP_TEXT | OP_BINARY => {
                    self.rbuf.advance(hdr);
                    self.data_left = len;
                }
                OP_CLOSE | OP_PING | OP_PONG => {
                    ensure!(len <= 125, "control frame payload of {len} bytes");
                    let total = hdr + len as usize;
                    if b.len() < total {
                        return Ok(None);
                    }
                    let payload = b[hdr..total].to_vec();
                    self.rbuf.advance(total);
                    match opcode {
                        OP_CLOSE => return Ok(Some(Ctrl::Close)),
                        OP_PING => return Ok(Some(Ctrl::Ping(payload))),
                        _ => {}
                    }
                }
                _ => bail!("unknown opcode {opcode:#x}"),
            }
        }
    }

    /// Receive exactly `out.len()` payload bytes (echo replies).
    async fn recv_exact(&mut self, out: &mut [u8]) -> Result<()> {
        if !self.ws {
            self.stream.read_exact(out).await?;
            return Ok(());
        }
        let mut filled = 0usize;
        let mut overflow = false;
        let want = out.len();
        // Whatever is already buffered first (it may hold the whole reply).
        {
            let mut sink = |d: &[u8]| copy_into(out, &mut filled, &mut overflow, d);
            if self.pump(&mut sink).await? {
                bail!("WebSocket closed by peer");
            }
        }
        while filled < want && !overflow {
            let mut sink = |d: &[u8]| copy_into(out, &mut filled, &mut overflow, d);
            self.recv_some(&mut sink).await?;
        }
        ensure!(!overflow, "more echo data than sent");
        Ok(())
    }

    /// Orderly close: WebSocket close frame and wait (bounded) for the
    /// server's close or EOF; raw TCP: FIN.
    async fn close(mut self) -> Result<()> {
        if self.ws {
            self.send_frame(OP_CLOSE, &1000u16.to_be_bytes()).await?;
            let wait = async {
                loop {
                    if self.pump(&mut |_| {}).await? {
                        return Ok::<(), anyhow::Error>(());
                    }
                    self.rbuf.reserve(4096);
                    if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                        return Ok(());
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(2), wait)
                .await
                .context("no close reply within 2 s")??;
        } else {
            self.stream.shutdown().await?;
        }
        Ok(())
    }
}

fn copy_into(out: &mut [u8], filled: &mut usize, overflow: &mut bool, d: &[u8]) {
    let room = out.len() - *filled;
    if d.len() > room {
        *overflow = true;
    }
    let n = d.len().min(room);
    out[*filled..*filled + n].copy_from_slice(&d[..n]);
    *filled += n;
}

fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    // Never zero (xorshift would stay at zero).
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

/// Open a connection and send the mode byte that picks the target behaviour.
async fn open_mode(common: &Common, mode: u8, read_chunk: usize) -> Result<Client> {
    let mut c = Client::connect(common.connect, common.ws, read_chunk).await?;
    c.send_msg(&[mode]).await?;
    Ok(c)
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

fn record(common: &Common, metric: &str, value: f64) -> Result<()> {
    println!("{}\t{metric}\t{value}", common.system);
    if let Some(path) = &common.record {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        writeln!(f, "{}\t{metric}\t{value}", common.system)?;
    }
    Ok(())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 3600.0))
}

async fn download(common: &Common, conns: usize, timing: Timing) -> Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        clients.push(open_mode(common, MODE_SOURCE, BATCH).await?);
    }
    let mut tasks = Vec::with_capacity(conns);
    for mut c in clients {
        let counter = counter.clone();
        let failed = failed.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let mut got = 0u64;
                if let Err(e) = c.recv_some(&mut |d| got += d.len() as u64).await {
                    eprintln!("download: {e:#}");
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                counter.fetch_add(got, Ordering::Relaxed);
            }
        }));
    }
    let rates = windowed_rates(timing, || {
        let v = counter.load(Ordering::Relaxed);
        async move { Ok(v) }
    })
    .await;
    for t in &tasks {
        t.abort();
    }
    record_rates(common, &format!("down_c{conns}_mbps"), &rates?, 1e-6)?;
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        record(common, &format!("down_c{conns}_errors"), f as f64)?;
    }
    Ok(())
}

async fn upload(
    common: &Common,
    target: SocketAddr,
    msg_size: usize,
    conns: usize,
    timing: Timing,
) -> Result<()> {
    ensure!(msg_size > 0, "--msg-size must be positive");
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(conns);
    // A fresh tag per run: only this run's connections are counted.
    let tag = seed();
    for _ in 0..conns {
        let mut c = Client::connect(common.connect, common.ws, 4096).await?;
        c.send_msg(&tagged(MODE_SINK, tag)).await?;
        // Pre-built batch of about BATCH bytes: msg_size-byte messages, as
        // masked frames for WebSocket. Raw TCP has no message boundaries, so
        // there the batch is just the same payload bytes.
        let per = (BATCH / msg_size).max(1);
        let payload: Vec<u8> = (0..msg_size).map(|i| (i % 251) as u8).collect();
        let mut batch = Vec::with_capacity(per * (msg_size + 14));
        for _ in 0..per {
            if c.ws {
                let mask = c.next_mask();
                encode_frame(&mut batch, OP_BINARY, &payload, mask);
            } else {
                batch.extend_from_slice(&payload);
            }
        }
        let failed = failed.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = c.stream.write_all(&batch).await {
                    eprintln!("upload: {e}");
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    let rates = windowed_rates(timing, || query_sink_bytes(target, tag)).await;
    stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    let rates = rates?;
    record_rates(common, &format!("up_{msg_size}B_mbps"), &rates, 1e-6)?;
    record_rates(
        common,
        &format!("up_{msg_size}B_msgs"),
        &rates,
        1.0 / msg_size as f64,
    )?;
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        record(common, &format!("up_{msg_size}B_errors"), f as f64)?;
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn latency(common: &Common, size: usize, secs_: f64, max_iters: usize) -> Result<()> {
    const WARMUP_ITERS: usize = 500;
    let mut c = open_mode(common, MODE_ECHO, 4096).await?;
    let msg: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut back = vec![0u8; size];
    let mut samples = Vec::with_capacity(max_iters.min(1_000_000));
    let deadline = Instant::now() + secs(secs_);
    let per_rt = Duration::from_secs(5);
    for i in 0..max_iters + WARMUP_ITERS {
        if Instant::now() >= deadline && i >= WARMUP_ITERS {
            break;
        }
        let t = Instant::now();
        c.send_msg(&msg).await?;
        tokio::time::timeout(per_rt, c.recv_exact(&mut back))
            .await
            .context("echo reply timed out")??;
        let dt = t.elapsed();
        ensure!(back == msg, "echo returned different bytes");
        if i >= WARMUP_ITERS {
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    samples.sort_by(f64::total_cmp);
    record(common, "rtt_p50_us", percentile(&samples, 0.50))?;
    record(common, "rtt_p99_us", percentile(&samples, 0.99))?;
    record(common, "rtt_samples", samples.len() as f64)?;
    let _ = c.close().await;
    Ok(())
}

/// One full short-lived session: connect, handshake, 16-byte round trip, close.
async fn one_conn(common: &Common) -> Result<()> {
    let mut c = Client::connect(common.connect, common.ws, 4096).await?;
    let mut msg = [b'x'; 17];
    msg[0] = MODE_ECHO;
    c.send_msg(&msg).await?;
    let mut back = [0u8; 16];
    c.recv_exact(&mut back).await?;
    ensure!(back == msg[1..], "echo returned different bytes");
    c.close().await
}

async fn conn_rate(common: &Common, concurrency: usize, secs_: f64, max: u64) -> Result<()> {
    let done = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let deadline = t0 + secs(secs_);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (done, started, errors, common) = (
            done.clone(),
            started.clone(),
            errors.clone(),
            common.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < max {
                match tokio::time::timeout(Duration::from_secs(5), one_conn(&common)).await {
                    Ok(Ok(())) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("conn-rate: {e:#}");
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    record(
        common,
        "conn_rate",
        done.load(Ordering::Relaxed) as f64 / elapsed,
    )?;
    record(common, "conn_concurrency", concurrency as f64)?;
    let e = errors.load(Ordering::Relaxed);
    if e > 0 {
        record(common, "conn_errors", e as f64)?;
    }
    Ok(())
}

/// Sum of `Pss` over the process tree rooted at `root`, in KiB, and the
/// number of processes (Python websockify and socat fork per connection).
fn tree_pss_kib(root: u32) -> Result<(u64, usize)> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit while we scan.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok())
        {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut stack = vec![root];
    let mut seen = HashSet::new();
    let (mut total, mut procs) = (0u64, 0usize);
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            Ok(s) => {
                let pss = s
                    .lines()
                    .find_map(|l| l.strip_prefix("Pss:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .ok_or_else(|| anyhow!("no Pss line in /proc/{pid}/smaps_rollup"))?;
                total += pss;
                procs += 1;
            }
            Err(e) if pid == root => {
                return Err(e).with_context(|| format!("read /proc/{pid}/smaps_rollup"))
            }
            Err(_) => continue,
        }
        if let Some(c) = children.get(&pid) {
            stack.extend(c);
        }
    }
    Ok((total, procs))
}

/// Handle to an idle session running in its own task. The task keeps
/// reading, like a browser would, so the proxy's heartbeat pings are answered
/// while the session sits idle; a request on `rt` runs one 16-byte round trip
/// and replies whether it succeeded.
struct IdleSession {
    rt: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<bool>>,
}

impl IdleSession {
    fn spawn(c: Client) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(idle_session_task(c, rx));
        IdleSession { rt: tx }
    }

    async fn round_trip(&self) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.rt.send(tx).await.is_err() {
            return false; // the task ended: the session is dead
        }
        rx.await.unwrap_or(false)
    }
}

async fn idle_session_task(
    mut c: Client,
    mut rx: tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<bool>>,
) {
    async fn round_trip(c: &mut Client) -> Result<()> {
        let msg = *b"0123456789abcdef";
        let mut back = [0u8; 16];
        c.send_msg(&msg).await?;
        c.recv_exact(&mut back).await?;
        ensure!(back == msg, "echo mismatch");
        Ok(())
    }
    loop {
        c.rbuf.reserve(c.read_chunk);
        tokio::select! {
            req = rx.recv() => {
                // Dropped handle: the test is over; dropping `c` closes.
                let Some(reply) = req else { return };
                let ok = tokio::time::timeout(Duration::from_secs(10), round_trip(&mut c))
                    .await
                    .is_ok_and(|r| r.is_ok());
                let _ = reply.send(ok);
                if !ok {
                    return;
                }
            }
            // Only the cancel-safe read is raced; frames are handled below.
            n = c.stream.read_buf(&mut c.rbuf) => {
                match n {
                    Ok(n) if n > 0 => {}
                    _ => return,
                }
                if !c.ws {
                    c.rbuf.clear(); // raw TCP: nothing should arrive while idle
                    continue;
                }
                match c.pump(&mut |_| {}).await {
                    Ok(false) => {}
                    _ => return,
                }
            }
        }
    }
}

/// Round trip on every session with bounded concurrency; returns how many
/// answered correctly.
async fn verify_all(sessions: &[IdleSession], concurrency: usize) -> usize {
    stream::iter(sessions)
        .map(|s| s.round_trip())
        .buffer_unordered(concurrency.max(1))
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

async fn idle(
    common: &Common,
    sessions: usize,
    pid: Option<u32>,
    concurrency: usize,
    max_secs: f64,
    settle_secs: f64,
) -> Result<()> {
    let baseline = match pid {
        Some(p) => Some(tree_pss_kib(p)?),
        None => None,
    };
    let t0 = Instant::now();
    let deadline = t0 + secs(max_secs);
    let errors = AtomicU64::new(0);
    let opened: Vec<IdleSession> = stream::iter(0..sessions)
        .map(|_| {
            let errors = &errors;
            async move {
                if Instant::now() >= deadline {
                    return None;
                }
                let open = async {
                    let c = open_mode(common, MODE_ECHO, 1024).await?;
                    Ok::<Client, anyhow::Error>(c)
                };
                match tokio::time::timeout(Duration::from_secs(10), open).await {
                    Ok(Ok(c)) => Some(IdleSession::spawn(c)),
                    Ok(Err(e)) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("idle: open: {e:#}");
                        }
                        None
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|c| async move { c })
        .collect()
        .await;
    let open_secs = t0.elapsed().as_secs_f64();
    let verified = verify_all(&opened, 64).await;
    tokio::time::sleep(secs(settle_secs)).await;
    let after = match pid {
        Some(p) => Some(tree_pss_kib(p)?),
        None => None,
    };
    // Sessions must still be alive once measured, not just before.
    let alive = verify_all(&opened, 64).await;
    record(common, "idle_requested", sessions as f64)?;
    record(common, "idle_opened", opened.len() as f64)?;
    record(common, "idle_verified", verified as f64)?;
    record(common, "idle_alive_after", alive as f64)?;
    record(common, "idle_open_secs", open_secs)?;
    record(
        common,
        "idle_open_errors",
        errors.load(Ordering::Relaxed) as f64,
    )?;
    if let (Some((b, bp)), Some((a, ap))) = (baseline, after) {
        record(common, "pss_baseline_kib", b as f64)?;
        record(common, "pss_after_kib", a as f64)?;
        record(common, "pss_procs_baseline", bp as f64)?;
        record(common, "pss_procs_after", ap as f64)?;
        if !opened.is_empty() {
            record(
                common,
                "pss_per_session_kib",
                (a as f64 - b as f64) / opened.len() as f64,
            )?;
        }
    }
    // Dropping the handles ends the tasks, which close their sockets.
    drop(opened);
    Ok(())
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// Known systems in column order, with their display names.
const SYSTEMS: &[(&str, &str)] = &[
    ("direct", "direct TCP"),
    ("socat", "socat"),
    ("python", "Python websockify 0.13.0"),
    ("ours", "websockify-rs"),
];

/// system → metric → every recorded value (one per round).
type Results = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", a);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn report(input: &Path, output: Option<&Path>) -> Result<()> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("read {}", input.display()))?;
    let mut res: Results = BTreeMap::new();
    let mut meta: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(sys), Some(key), Some(val)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if sys == "meta" {
            meta.push((key.to_string(), val.to_string()));
        } else if let Ok(v) = val.trim().parse::<f64>() {
            res.entry(sys.to_string())
                .or_default()
                .entry(key.to_string())
                .or_default()
                .push(v);
        }
    }
    let md = render(&res, &meta);
    print!("{md}");
    if let Some(out) = output {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(())
}

/// One goal row: `ours / reference >= min_ratio`.
fn goal(md: &mut String, name: &str, ours: Option<f64>, reference: Option<f64>, min_ratio: f64) {
    let (ratio, ok) = match (ours, reference) {
        (Some(o), Some(r)) if r > 0.0 => (format!("{:.2}×", o / r), o / r >= min_ratio),
        _ => ("n/a".into(), false),
    };
    let _ = writeln!(
        md,
        "| {name} | {} | {} | {ratio} | {} |",
        ours.map_or("—".into(), fmt_num),
        reference.map_or("—".into(), fmt_num),
        if ok { "PASS" } else { "MISS" }
    );
}

fn render(res: &Results, meta: &[(String, String)]) -> String {
    let all = |sys: &str, key: &str| -> Vec<f64> {
        res.get(sys)
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    };
    // Repeated rounds: the median; errors are summed instead.
    let get = |sys: &str, key: &str| -> Option<f64> {
        let v = all(sys, key);
        if key.ends_with("_errors") && !v.is_empty() {
            return Some(v.iter().sum());
        }
        median(&v)
    };
    // Spread over rounds (and over windows within a round).
    let spread = |sys: &str, key: &str| -> Option<(f64, f64)> {
        let mut v = all(sys, key);
        v.extend(all(sys, &format!("{key}_min")));
        v.extend(all(sys, &format!("{key}_max")));
        let lo = v.iter().copied().reduce(f64::min)?;
        let hi = v.iter().copied().reduce(f64::max)?;
        (lo < hi).then_some((lo, hi))
    };
    let mut cols: Vec<(String, String)> = SYSTEMS
        .iter()
        .filter(|(k, _)| res.contains_key(*k))
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect();
    for k in res.keys() {
        if !SYSTEMS.iter().any(|(s, _)| s == k) {
            cols.push((k.clone(), k.clone()));
        }
    }
    let added = |sys: &str, key: &str| Some(get(sys, key)? - get("direct", key)?);

    let mut md = String::new();
    let _ = writeln!(md, "# websockify-rs benchmark\n");
    for (k, v) in meta {
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = writeln!(md);
    let _ = write!(md, "| metric |");
    for (_, label) in &cols {
        let _ = write!(md, " {label} |");
    }
    let _ = write!(md, "\n|---|");
    for _ in &cols {
        let _ = write!(md, "---:|");
    }
    let _ = writeln!(md);

    type Cell<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let plain = |key: &'static str| -> Cell<'_> {
        Box::new(move |sys: &str| {
            let mut v = get(sys, key).map(fmt_num).unwrap_or_else(|| "—".into());
            if let Some((lo, hi)) = spread(sys, key) {
                v = format!("{v} ({}–{})", fmt_num(lo), fmt_num(hi));
            }
            let err_key = format!("{}_errors", key.rsplit_once('_').map_or(key, |(a, _)| a));
            match get(sys, &err_key) {
                Some(e) if e > 0.0 => format!("{v} ({e} conn errors)"),
                _ => v,
            }
        })
    };
    let rows: Vec<(&str, Cell<'_>)> = vec![
        ("target→client MB/s, 1 conn", plain("down_c1_mbps")),
        ("target→client MB/s, 64 conns", plain("down_c64_mbps")),
        ("client→target MB/s, 4 KiB msgs", plain("up_4096B_mbps")),
        ("client→target 64-byte msgs/s", plain("up_64B_msgs")),
        ("RTT p50 µs (16 B, pinned)", plain("rtt_p50_us")),
        ("RTT p99 µs (16 B, pinned)", plain("rtt_p99_us")),
        (
            "added p50 µs vs direct",
            Box::new(|sys: &str| added(sys, "rtt_p50_us").map_or("—".into(), fmt_num)),
        ),
        (
            "added p99 µs vs direct",
            Box::new(|sys: &str| added(sys, "rtt_p99_us").map_or("—".into(), fmt_num)),
        ),
        (
            "connections/s",
            Box::new(|sys: &str| {
                let v = get(sys, "conn_rate").map_or("—".into(), fmt_num);
                match get(sys, "conn_errors") {
                    Some(e) if e > 0.0 => format!("{v} ({e} errors)"),
                    _ => v,
                }
            }),
        ),
        (
            "PSS KiB per idle session",
            Box::new(|sys: &str| {
                let Some(v) = get(sys, "pss_per_session_kib") else {
                    return "—".into();
                };
                let req = get(sys, "idle_requested").unwrap_or(0.0);
                let alive = get(sys, "idle_alive_after").unwrap_or(0.0);
                let cap = if req < 9500.0 { ", capped" } else { "" };
                format!("{} ({alive}/{req} alive{cap})", fmt_num(v))
            }),
        ),
        (
            "proxy PSS KiB before → after",
            Box::new(
                |sys: &str| match (get(sys, "pss_baseline_kib"), get(sys, "pss_after_kib")) {
                    (Some(b), Some(a)) => format!(
                        "{} → {} ({} procs)",
                        fmt_num(b),
                        fmt_num(a),
                        get(sys, "pss_procs_after").unwrap_or(0.0)
                    ),
                    _ => "—".into(),
                },
            ),
        ),
    ];
    for (label, cell) in &rows {
        let _ = write!(md, "| {label} |");
        for (sys, _) in &cols {
            let _ = write!(md, " {} |", cell(sys));
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "\n## Goals (websockify-rs, same run)\n");
    let _ = writeln!(md, "| goal | websockify-rs | reference | ratio | result |");
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    goal(
        &mut md,
        "target→client 1 conn ≥ 1.0× socat",
        get("ours", "down_c1_mbps"),
        get("socat", "down_c1_mbps"),
        1.0,
    );
    goal(
        &mut md,
        "target→client 64 conns ≥ 1.0× socat",
        get("ours", "down_c64_mbps"),
        get("socat", "down_c64_mbps"),
        1.0,
    );
    goal(
        &mut md,
        "client→target 4 KiB ≥ 0.8× socat",
        get("ours", "up_4096B_mbps"),
        get("socat", "up_4096B_mbps"),
        0.8,
    );
    goal(
        &mut md,
        "64-byte msgs/s ≥ 500× Python websockify",
        get("ours", "up_64B_msgs"),
        get("python", "up_64B_msgs"),
        500.0,
    );
    // Added latency: a difference, compared directly (it can be ~0).
    {
        let (o, s) = (added("ours", "rtt_p50_us"), added("socat", "rtt_p50_us"));
        let (ratio, ok) = match (o, s) {
            (Some(o), Some(s)) => (
                if s > 0.0 {
                    format!("{:.2}×", o / s)
                } else {
                    "n/a".into()
                },
                o <= s,
            ),
            _ => ("n/a".into(), false),
        };
        let _ = writeln!(
            md,
            "| added p50 latency ≤ socat's | {} µs | {} µs | {ratio} | {} |",
            o.map_or("—".into(), fmt_num),
            s.map_or("—".into(), fmt_num),
            if ok { "PASS" } else { "MISS" }
        );
    }
    goal(
        &mut md,
        "connections/s ≥ 0.9× direct TCP",
        get("ours", "conn_rate"),
        get("direct", "conn_rate"),
        0.9,
    );
    {
        let pss = get("ours", "pss_per_session_kib");
        let req = get("ours", "idle_requested").unwrap_or(0.0);
        let alive = get("ours", "idle_alive_after").unwrap_or(-1.0);
        let verified = get("ours", "idle_verified").unwrap_or(-1.0);
        let all_alive = req > 0.0 && alive == req && verified == req;
        let ok = all_alive && pss.is_some_and(|p| p <= 24.0);
        let _ = writeln!(
            md,
            "| ≤ 24 KiB PSS per idle session, every session alive | {} KiB ({verified}/{req} verified, {alive}/{req} alive after) | 24 KiB | {} | {} |",
            pss.map_or("—".into(), fmt_num),
            pss.map_or("n/a".into(), |p| format!("{:.2}×", p / 24.0)),
            if ok { "PASS" } else { "MISS" }
        );
    }
    let _ = writeln!(
        md,
        "\nMB = 10^6 bytes. Throughput: median (min–max) of consecutive windows after a \
         warm-up, counted target→client at the client (payload bytes), client→target at \
         the target's sink. \
         For raw TCP (direct, socat) \"messages\" are the same bytes without framing, so \
         their msgs/s is bytes/s ÷ message size. Latency: ping-pong against the echo target, \
         client and proxy pinned to one CPU, target to another. connections/s: connect, \
         WebSocket handshake (proxies), one 16-byte round trip, close (WebSocket close \
         handshake), with the concurrency in the settings above. PSS: sum of Pss over the \
         proxy's process tree (smaps_rollup) after every session was verified, minus the \
         same before opening them, divided by the sessions opened.\n"
    );
    md
}
