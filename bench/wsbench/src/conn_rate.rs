//! Connection rate: complete short-lived sessions per second (connect,
//! WebSocket handshake through a proxy, one 16-byte round trip, orderly
//! close), with a fixed number of concurrent workers until a deadline or a
//! maximum count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};

use crate::client::Client;
use crate::cpu;
use crate::measure::{record, secs, Common};
use crate::target::MODE_ECHO;

/// Counters shared by the workers.
#[derive(Default)]
struct Counts {
    done: AtomicU64,
    started: AtomicU64,
    errors: AtomicU64,
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

/// Sessions per second over `concurrency` workers; with `proxy`, also the
/// CPU that process spent per session (`conn_cpu_us`).
pub async fn conn_rate(
    common: &Common,
    concurrency: usize,
    secs_: f64,
    max: u64,
    proxy: Option<u32>,
) -> Result<()> {
    let cpu_before = proxy.map(cpu::cpu_secs).transpose()?;
    let counts = Arc::new(Counts::default());
    let t0 = Instant::now();
    let deadline = t0 + secs(secs_);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (counts, common) = (counts.clone(), common.clone());
        tasks.push(tokio::spawn(worker(common, counts, deadline, max)));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let done = counts.done.load(Ordering::Relaxed);
    record(common, "conn_rate", done as f64 / elapsed)?;
    if let (Some(pid), Some(before), true) = (proxy, cpu_before, done > 0) {
        let spent = cpu::cpu_secs(pid)? - before;
        record(common, "conn_cpu_us", spent * 1e6 / done as f64)?;
    }
    record(common, "conn_concurrency", concurrency as f64)?;
    let e = counts.errors.load(Ordering::Relaxed);
    if e > 0 {
        record(common, "conn_errors", e as f64)?;
    }
    Ok(())
}

/// One session after the other until the deadline or `max` sessions started
/// over all workers.
async fn worker(common: Common, counts: Arc<Counts>, deadline: Instant, max: u64) {
    while Instant::now() < deadline && counts.started.fetch_add(1, Ordering::Relaxed) < max {
        match tokio::time::timeout(Duration::from_secs(5), one_conn(&common)).await {
            Ok(Ok(())) => {
                counts.done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                if counts.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("conn-rate: {e:#}");
                }
            }
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
