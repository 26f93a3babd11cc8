//! Round-trip latency: one message of `--size` bytes outstanding at a time
//! against the echo target, after a fixed warm-up; reports p50 and p99 in
//! microseconds. Runs on a single-threaded runtime (see `main`) so the script
//! can pin client and proxy to one CPU.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use crate::measure::{open_mode, percentile, record, secs, Common};
use crate::target::MODE_ECHO;

pub async fn latency(common: &Common, size: usize, secs_: f64, max_iters: usize) -> Result<()> {
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
