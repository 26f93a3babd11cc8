//! What every measurement shares: the options saying where to connect and
//! where to record (`Common`), the throughput timing (`Timing`), opening a
//! client in a target mode, and writing `SYSTEM<TAB>metric<TAB>value` result
//! lines. Kept in one place so every measure family records the same way and
//! `report` can read them all.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use crate::client::Client;

#[derive(Args, Clone)]
pub struct Common {
    /// Where the client connects: the target itself (direct) or a proxy.
    #[arg(long)]
    pub connect: SocketAddr,
    /// Speak WebSocket (masked binary frames, no subprotocol) instead of raw TCP.
    #[arg(long)]
    pub ws: bool,
    /// Over TLS (`wss://`, or raw TCP to a TLS front); for `download` only.
    #[arg(long)]
    pub tls: bool,
    /// Append `SYSTEM<TAB>metric<TAB>value` lines to this file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// System name used in recorded lines.
    #[arg(long, default_value = "unnamed")]
    pub system: String,
}

#[derive(Args, Clone, Copy)]
pub struct Timing {
    /// Seconds of traffic before counting starts (slow start, forks).
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Seconds per counted window.
    #[arg(long, default_value_t = 1.0)]
    pub secs: f64,
    /// Consecutive windows; the median is reported, so a burst of unrelated
    /// load on a shared 2-core machine moves the result less.
    #[arg(long, default_value_t = 5)]
    pub windows: usize,
}

/// Open a connection and send the mode byte that picks the target behaviour.
pub async fn open_mode(common: &Common, mode: u8, read_chunk: usize) -> Result<Client> {
    let mut c = Client::connect(common.connect, common.ws, read_chunk).await?;
    c.send_msg(&[mode]).await?;
    Ok(c)
}

/// Rates (per second) over `timing.windows` consecutive windows of
/// `timing.secs`, after `timing.warmup`, of the counter read by `read`.
pub async fn windowed_rates<F, Fut>(timing: Timing, mut read: F) -> Result<Vec<f64>>
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
pub fn record_rates(common: &Common, metric: &str, rates: &[f64], scale: f64) -> Result<()> {
    record(common, metric, percentile(rates, 0.5) * scale)?;
    if let (Some(lo), Some(hi)) = (rates.first(), rates.last()) {
        record(common, &format!("{metric}_min"), lo * scale)?;
        record(common, &format!("{metric}_max"), hi * scale)?;
    }
    Ok(())
}

pub fn record(common: &Common, metric: &str, value: f64) -> Result<()> {
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

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 3600.0))
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
