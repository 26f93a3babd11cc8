//! Memory under attack: many WebSocket sessions through the proxy, each
//! announcing a large binary message (one masked frame header with a 64-bit
//! length) and sending only part of it to a sink target, then held open.
//! Records the proxy's PSS growth in total and per session, how much of the
//! partial messages reached the target (a streaming proxy forwards it all;
//! one that gathers messages forwards nothing), and the round-trip time of a
//! bystander session's 4 KiB echo while the attackers are held.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Args;
use futures_util::stream::{self, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::client::{frame_head, mask_payload, seed, Client, OP_BINARY};
use crate::measure::{open_mode, percentile, record, secs, Common};
use crate::pattern::{Pattern, CHUNK};
use crate::pss::tree_pss_kib;
use crate::target::{query_sink_bytes, tagged, MODE_ECHO, MODE_SINK};

/// The attack's shape and bounds.
#[derive(Args)]
pub struct AttackOpts {
    #[command(flatten)]
    common: Common,
    /// The target itself, for the sink counter (never via the proxy).
    #[arg(long)]
    target: SocketAddr,
    /// The proxy, whose PSS is measured.
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// MiB announced by each session's frame header.
    #[arg(long, default_value_t = 15)]
    announce_mib: u64,
    /// MiB of that payload actually sent.
    #[arg(long, default_value_t = 4)]
    send_mib: u64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Deadline for opening the sessions and for the target to receive.
    #[arg(long, default_value_t = 120.0)]
    max_secs: f64,
    #[arg(long, default_value_t = 20)]
    rtt_samples: usize,
}

pub async fn attack(o: &AttackOpts) -> Result<()> {
    ensure!(
        o.send_mib <= o.announce_mib,
        "--send-mib exceeds --announce-mib"
    );
    let common = &o.common;
    let (announce, send) = (o.announce_mib << 20, o.send_mib << 20);
    let (base, _) = tree_pss_kib(o.pid)?;
    let tag = seed();
    let wire: Arc<[u8]> = partial_message(announce, send).into();
    let deadline = Instant::now() + secs(o.max_secs);
    let errors = AtomicU64::new(0);
    let held: Vec<Client> = stream::iter(0..o.sessions)
        .map(|_| open_attacker(common, tag, wire.clone(), deadline, &errors))
        .buffer_unordered(o.concurrency.max(1))
        .filter_map(|c| async move { c })
        .collect()
        .await;
    let delivered = wait_delivered(o.target, tag, held.len() as u64 * send, deadline).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after, _) = tree_pss_kib(o.pid)?;
    let rtts = bystander(common, o.rtt_samples).await;
    let alive = held.iter().filter(|c| is_open(c)).count();
    let growth = after as f64 - base as f64;
    record(common, "attack_sessions", o.sessions as f64)?;
    record(common, "attack_opened", held.len() as f64)?;
    record(common, "attack_alive", alive as f64)?;
    record(common, "attack_announced_mib", o.announce_mib as f64)?;
    record(common, "attack_sent_mib", o.send_mib as f64)?;
    record(common, "attack_delivered_mib", delivered as f64 / 1048576.0)?;
    record(common, "attack_pss_growth_kib", growth)?;
    record(
        common,
        "attack_pss_per_session_kib",
        growth / held.len().max(1) as f64,
    )?;
    let bystander_ok = rtts.is_ok();
    record_rtts(common, rtts)?;
    ensure!(
        held.len() == o.sessions && bystander_ok,
        "{} of {} sessions opened ({} errors), bystander {}",
        held.len(),
        o.sessions,
        errors.load(Ordering::Relaxed),
        if bystander_ok { "ok" } else { "failed" }
    );
    Ok(())
}

/// One masked binary frame header announcing `announce` bytes, then the
/// first `send` bytes of its payload.
fn partial_message(announce: u64, send: u64) -> Vec<u8> {
    let pattern = Pattern::new();
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = Vec::with_capacity(send as usize + 14);
    frame_head(&mut out, true, OP_BINARY, announce, mask);
    for i in 0..Pattern::chunks(send) {
        mask_payload(&mut out, pattern.chunk(i, send), mask, i * CHUNK as u64);
    }
    out
}

/// Open a session to the target's sink (tagged) and write the partial
/// message; `None` if that failed or took past `deadline`.
async fn open_attacker(
    common: &Common,
    tag: u64,
    wire: Arc<[u8]>,
    deadline: Instant,
    errors: &AtomicU64,
) -> Option<Client> {
    let go = async {
        let mut c = Client::connect(common.connect, true, 1024).await?;
        c.send_msg(&tagged(MODE_SINK, tag)).await?;
        c.stream.write_all(&wire).await?;
        Ok::<Client, anyhow::Error>(c)
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, go).await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("attack: open: {e:#}");
            }
            None
        }
        Err(_) => None,
    }
}

/// Wait until the target's sink has `want` bytes of this run (or the
/// deadline); returns what it has.
async fn wait_delivered(target: SocketAddr, tag: u64, want: u64, deadline: Instant) -> Result<u64> {
    loop {
        let got = query_sink_bytes(target, tag).await?;
        if got >= want || Instant::now() >= deadline {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A held session is open while its socket has not reached EOF.
fn is_open(c: &Client) -> bool {
    let mut b = [0u8; 256];
    match c.stream.try_read(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// Round trips of 4 KiB through a fresh echo session, in milliseconds.
async fn bystander(common: &Common, samples: usize) -> Result<Vec<f64>> {
    let go = async {
        let mut c = open_mode(common, MODE_ECHO, 16 * 1024).await?;
        let msg: Vec<u8> = (0..4096).map(|i| (i % 253) as u8).collect();
        let mut back = vec![0u8; msg.len()];
        let mut rtts = Vec::with_capacity(samples);
        for _ in 0..samples.max(1) {
            let t = Instant::now();
            c.send_msg(&msg).await?;
            c.recv_exact(&mut back).await?;
            rtts.push(t.elapsed().as_secs_f64() * 1e3);
            ensure!(back == msg, "echo returned different bytes");
        }
        Ok(rtts)
    };
    tokio::time::timeout(Duration::from_secs(30), go)
        .await
        .context("bystander timed out")?
}

fn record_rtts(common: &Common, rtts: Result<Vec<f64>>) -> Result<()> {
    match rtts {
        Ok(mut v) => {
            v.sort_by(f64::total_cmp);
            record(common, "attack_bystander_rtt_p50_ms", percentile(&v, 0.5))?;
            record(common, "attack_bystander_rtt_max_ms", percentile(&v, 1.0))?;
            record(common, "attack_bystander_ok", 1.0)
        }
        Err(e) => {
            eprintln!("attack: bystander: {e:#}");
            record(common, "attack_bystander_ok", 0.0)
        }
    }
}
