//! The TCP target every measurement talks to, directly or through the proxy
//! under test, and its small wire protocol.
//!
//! The target's per-connection behaviour is chosen by the first byte the
//! client sends (`E` echo, `O` source, `K` sink, `C` control, and for huge
//! messages `H` hash sink and `G` generator), so one target
//! serves every test through one proxy instance. Sink connections carry an
//! 8-byte tag after `K` and the target counts bytes per tag; a control
//! connection (`C` + tag), made straight to the target and bypassing the
//! proxy under test, reads that count. Per-tag counts matter: Python
//! websockify keeps forwarding its backlog to the target long after the
//! client has gone, which would otherwise inflate later measurements.
//!
//! `V` starts a load session shaped like VNC ([`crate::load_target`]), its
//! tag the seed of its burst sizes and intervals.
//!
//! `H` and `G` carry an 8-byte length N instead of a tag: `H` reads N bytes
//! and answers their SHA-256; `G` writes N bytes of [`Pattern`] followed by
//! their SHA-256, so the client can check what arrived byte for byte.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::pattern::Pattern;

/// First byte of a connection: selects the target's behaviour.
pub const MODE_ECHO: u8 = b'E';
pub const MODE_SOURCE: u8 = b'O';
pub const MODE_SINK: u8 = b'K';
const MODE_CONTROL: u8 = b'C';
pub const MODE_HASH: u8 = b'H';
pub const MODE_GEN: u8 = b'G';
/// A load session shaped like VNC ([`crate::load_target`]); the tag is its
/// seed (0: no bursts).
pub const MODE_LOAD: u8 = b'V';

/// Size of one batch written by the throughput clients and the source target:
/// large enough that syscall overhead is negligible next to the copy.
pub const BATCH: usize = 256 * 1024;

/// Length of the sink/control header: mode byte plus 8-byte tag.
const TAGGED_HEADER: usize = 9;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetMode {
    Auto,
    Echo,
    Source,
    Sink,
}

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

fn tag_of(header: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&header[1..TAGGED_HEADER]);
    u64::from_le_bytes(b)
}

pub async fn run_target(listen: SocketAddr, mode: TargetMode) -> Result<()> {
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
        TargetMode::Auto => match read_header(&mut sock, &mut buf).await? {
            Some(header) => header,
            None => return Ok(()),
        },
        TargetMode::Echo => (MODE_ECHO, 0..0, 0),
        TargetMode::Source => (MODE_SOURCE, 0..0, 0),
        TargetMode::Sink => (MODE_SINK, 0..0, 0),
    };
    match mode {
        MODE_ECHO => serve_echo(&mut sock, &mut buf, first).await,
        MODE_SOURCE => loop {
            sock.write_all(source_data).await?;
        },
        MODE_SINK => serve_sink(&mut sock, &stats.sink(tag), first.len()).await,
        MODE_HASH => serve_hash(&mut sock, &buf[first], tag).await,
        MODE_GEN => serve_gen(&mut sock, tag).await,
        MODE_LOAD => crate::load_target::serve_load(sock, &buf[first], tag, source_data).await,
        MODE_CONTROL => {
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&stats.sink(tag).load(Ordering::Relaxed).to_le_bytes());
            out[8..].copy_from_slice(&stats.accepted.load(Ordering::Relaxed).to_le_bytes());
            sock.write_all(&out).await
        }
        _ => Ok(()),
    }
}

/// `auto` mode: read the mode byte (and the tag of a sink or control
/// connection). Returns the mode, the range of `buf` holding payload that
/// came with the header, and the tag (0 if none); `None` on EOF first.
async fn read_header(
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> std::io::Result<Option<(u8, Range<usize>, u64)>> {
    let mut n = sock.read(buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if matches!(
        buf[0],
        MODE_SINK | MODE_CONTROL | MODE_HASH | MODE_GEN | MODE_LOAD
    ) {
        while n < TAGGED_HEADER {
            let m = sock.read(&mut buf[n..]).await?;
            if m == 0 {
                return Ok(None);
            }
            n += m;
        }
        Ok(Some((buf[0], TAGGED_HEADER..n, tag_of(buf))))
    } else {
        Ok(Some((buf[0], 1..n, 0)))
    }
}

/// Echo: send back what came with the header, then everything read.
async fn serve_echo(
    sock: &mut TcpStream,
    buf: &mut [u8],
    first: Range<usize>,
) -> std::io::Result<()> {
    sock.write_all(&buf[first]).await?;
    loop {
        let n = sock.read(buf).await?;
        if n == 0 {
            return Ok(());
        }
        sock.write_all(&buf[..n]).await?;
    }
}

/// Sink: count every byte received (including `first` that came with the
/// header) on the counter of the connection's tag.
async fn serve_sink(
    sock: &mut TcpStream,
    counter: &AtomicU64,
    first: usize,
) -> std::io::Result<()> {
    counter.fetch_add(first as u64, Ordering::Relaxed);
    let mut big = vec![0u8; BATCH];
    loop {
        let n = sock.read(&mut big).await?;
        if n == 0 {
            return Ok(());
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Hash sink: SHA-256 of the next `len` bytes (`first` came with the
/// header), sent back once they are all in.
async fn serve_hash(sock: &mut TcpStream, first: &[u8], len: u64) -> std::io::Result<()> {
    let mut h = Sha256::new();
    let mut left = len;
    let n = first.len().min(left as usize);
    h.update(&first[..n]);
    left -= n as u64;
    let mut big = vec![0u8; BATCH];
    while left > 0 {
        let want = big.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = sock.read(&mut big[..want]).await?;
        if n == 0 {
            return Ok(());
        }
        h.update(&big[..n]);
        left -= n as u64;
    }
    sock.write_all(&h.finalize()).await
}

/// Generator: `len` bytes of the pattern, then their SHA-256.
async fn serve_gen(sock: &mut TcpStream, len: u64) -> std::io::Result<()> {
    let pattern = Pattern::new();
    let mut h = Sha256::new();
    for i in 0..Pattern::chunks(len) {
        let c = pattern.chunk(i, len);
        h.update(c);
        sock.write_all(c).await?;
    }
    sock.write_all(&h.finalize()).await
}

/// Mode byte and tag that open a sink (`MODE_SINK`) or control connection.
pub fn tagged(mode: u8, tag: u64) -> [u8; TAGGED_HEADER] {
    let mut h = [0u8; TAGGED_HEADER];
    h[0] = mode;
    h[1..].copy_from_slice(&tag.to_le_bytes());
    h
}

/// Ask the target (directly, not through the proxy) how many bytes its sink
/// connections with `tag` have received so far.
pub async fn query_sink_bytes(target: SocketAddr, tag: u64) -> Result<u64> {
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
