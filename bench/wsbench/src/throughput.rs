//! Throughput, both directions: `download` (target→client, counted at the
//! client in payload bytes) and `upload` (client→target, counted at the
//! target's sink and read over a control connection that bypasses the proxy).
//! Each reports the median of several timed windows, with the spread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Result};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use crate::client::{encode_frame, seed, Client, OP_BINARY};
use crate::cpu;
use crate::measure::{open_mode, record, record_rates, secs, windowed_rates, Common, Timing};
use crate::target::{query_sink_bytes, tagged, BATCH, MODE_SINK, MODE_SOURCE};

/// With `proxy`, also the proxy's CPU (its process tree, from `/proc`) per
/// GB relayed over the same windows (`down_cN_cpu_s_per_gb`).
pub async fn download(
    common: &Common,
    conns: usize,
    timing: Timing,
    proxy: Option<u32>,
) -> Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    // Every connection open before any is read, as a reader busy at full
    // speed would slow the opening of the others (websocat's, notably).
    let (mut plain, mut tls) = (Vec::new(), Vec::new());
    for _ in 0..conns {
        if common.tls {
            let mut c = Client::connect_tls(common.connect, common.ws, BATCH).await?;
            c.send_msg(&[MODE_SOURCE]).await?;
            tls.push(c);
        } else {
            plain.push(open_mode(common, MODE_SOURCE, BATCH).await?);
        }
    }
    let (n, f) = (&counter, &failed);
    let tasks: Vec<_> = (plain
        .into_iter()
        .map(|c| spawn_reader(c, n.clone(), f.clone())))
    .chain(
        tls.into_iter()
            .map(|c| spawn_reader(c, n.clone(), f.clone())),
    )
    .collect();
    let name = format!("down_{}c{conns}", if common.tls { "tls_" } else { "" });
    // The warm-up here, so CPU and bytes are read over the windows alone.
    tokio::time::sleep(secs(timing.warmup)).await;
    let start = (
        proxy.map(cpu::tree_cpu_secs).transpose()?,
        counter.load(Ordering::Relaxed),
    );
    let windows = Timing {
        warmup: 0.0,
        ..timing
    };
    let rates = windowed_rates(windows, || {
        let v = counter.load(Ordering::Relaxed);
        async move { Ok(v) }
    })
    .await;
    let end = (
        proxy.map(cpu::tree_cpu_secs).transpose()?,
        counter.load(Ordering::Relaxed),
    );
    for t in &tasks {
        t.abort();
    }
    record_rates(common, &format!("{name}_mbps"), &rates?, 1e-6)?;
    if let ((Some(c0), b0), (Some(c1), b1)) = (start, end) {
        let gb = b1.saturating_sub(b0) as f64 / 1e9;
        if gb > 0.0 {
            record(common, &format!("{name}_cpu_s_per_gb"), (c1 - c0) / gb)?;
        }
    }
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        record(common, &format!("{name}_errors"), f as f64)?;
    }
    Ok(())
}

/// Read from `c` until it fails, adding payload bytes to `counter`.
fn spawn_reader<S>(
    mut c: Client<S>,
    counter: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) -> JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let mut got = 0u64;
            if let Err(e) = c.recv_some(&mut |d| got += d.len() as u64).await {
                eprintln!("download: {e:#}");
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            counter.fetch_add(got, Ordering::Relaxed);
        }
    })
}

pub async fn upload(
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
        let batch = upload_batch(&mut c, msg_size);
        tasks.push(spawn_writer(c, batch, failed.clone(), stop.clone()));
    }
    let rates = windowed_rates(timing, || query_sink_bytes(target, tag)).await;
    stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    record_upload(common, msg_size, &rates?, &failed)
}

/// Pre-built batch of about BATCH bytes: msg_size-byte messages, as masked
/// frames for WebSocket. Raw TCP has no message boundaries, so there the
/// batch is just the same payload bytes.
fn upload_batch(c: &mut Client, msg_size: usize) -> Vec<u8> {
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
    batch
}

/// Write `batch` over and over until `stop` or a write fails.
fn spawn_writer(
    mut c: Client,
    batch: Vec<u8>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = c.stream.write_all(&batch).await {
                eprintln!("upload: {e}");
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    })
}

fn record_upload(
    common: &Common,
    msg_size: usize,
    rates: &[f64],
    failed: &AtomicU64,
) -> Result<()> {
    record_rates(common, &format!("up_{msg_size}B_mbps"), rates, 1e-6)?;
    record_rates(
        common,
        &format!("up_{msg_size}B_msgs"),
        rates,
        1.0 / msg_size as f64,
    )?;
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        record(common, &format!("up_{msg_size}B_errors"), f as f64)?;
    }
    Ok(())
}
