//! The realistic load row: "how many desktops can one host serve". Many
//! sessions shaped like VNC at once ([`crate::load_target`] sends the
//! bursts), each client sending small input events at a steady rate that
//! the target echoes; the client times each event's round trip. Reports
//! the proxy's CPU over the window (its process tree, `/proc`), the p50/p99
//! of the round trips, and, so a reader can judge whether the load client or
//! the target was the bottleneck instead of the proxy, their CPU too.
//!
//! Run once with one session and no bursts (`--idle`) for the baseline,
//! then with the load: the row gives load p99 ÷ idle p99. Every phase has a
//! deadline; sessions that fail to open or end early, and events never
//! answered, are counted and recorded, not dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use futures_util::stream::{self, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::Client;
use crate::cpu;
use crate::load_target::{EVENT_LEN, REC_ECHO, REC_HEAD};
use crate::measure::{percentile, record, secs, Common};
use crate::target::{tagged, MODE_LOAD};

#[derive(Args)]
pub struct LoadOpts {
    #[command(flatten)]
    common: Common,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Input events per second per session.
    #[arg(long, default_value_t = 60.0)]
    events_per_sec: f64,
    /// No bursts (the idle baseline); metrics are recorded as `load_idle_*`.
    #[arg(long)]
    idle: bool,
    /// Seed of the sessions' burst sizes and intervals.
    #[arg(long, default_value_t = 25)]
    seed: u64,
    /// Sessions opened at a time.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Deadline for opening every session.
    #[arg(long, default_value_t = 120.0)]
    open_secs: f64,
    /// The proxy's pid (its process tree's CPU is measured).
    #[arg(long)]
    proxy_pid: Option<u32>,
    /// The target's pid (its CPU is reported, to judge the bench itself).
    #[arg(long)]
    target_pid: Option<u32>,
}

/// Shared by the sessions: payload bytes received (for the delivered rate).
#[derive(Default)]
struct Counts {
    bytes: AtomicU64,
}

/// What one session saw: round trips (µs) of events sent in the measured
/// window, events never answered, and whether it ended in an error.
#[derive(Default)]
struct Outcome {
    rtts_us: Vec<f64>,
    lost: u64,
    failed: bool,
}

/// The times every session shares.
#[derive(Clone, Copy)]
struct Window {
    base: Instant,
    measure_from: Instant,
    deadline: Instant,
    period: Duration,
}

pub async fn load(o: &LoadOpts) -> Result<()> {
    let prefix = if o.idle { "load_idle" } else { "load" };
    let sessions = if o.idle { 1 } else { o.sessions.max(1) };
    let (clients, open_failed) = open_all(o, sessions).await;
    let base = Instant::now();
    let w = Window {
        base,
        measure_from: base + secs(o.warmup),
        deadline: base + secs(o.warmup + o.secs),
        period: Duration::from_secs_f64(1.0 / o.events_per_sec.clamp(0.1, 1000.0)),
    };
    let counts = Arc::new(Counts::default());
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(session(c, i, w, counts.clone())))
        .collect();
    tokio::time::sleep_until(w.measure_from).await;
    let before = Usage::read(o, &counts)?;
    tokio::time::sleep_until(w.deadline).await;
    let after = Usage::read(o, &counts)?;
    let mut all = Outcome::default();
    let mut failed = open_failed;
    for t in tasks {
        let r = t.await.unwrap_or(Outcome {
            failed: true,
            ..Outcome::default()
        });
        all.rtts_us.extend(r.rtts_us);
        all.lost += r.lost;
        failed += u64::from(r.failed);
    }
    let m = |k: &str| format!("{prefix}_{k}");
    record(&o.common, &m("sessions"), sessions as f64)?;
    if !o.idle {
        let offered = sessions as f64 * crate::load_target::offered_bytes_per_sec();
        record(&o.common, &m("offered_mbps"), offered / 1e6)?;
    }
    record(&o.common, &m("failed"), failed as f64)?;
    record(&o.common, &m("lost_events"), all.lost as f64)?;
    all.rtts_us.sort_by(f64::total_cmp);
    record(&o.common, &m("rtt_samples"), all.rtts_us.len() as f64)?;
    record(
        &o.common,
        &m("rtt_p50_ms"),
        percentile(&all.rtts_us, 0.5) / 1e3,
    )?;
    record(
        &o.common,
        &m("rtt_p99_ms"),
        percentile(&all.rtts_us, 0.99) / 1e3,
    )?;
    after.record_since(&before, o, &m)
}

/// Open `n` sessions, `concurrency` at a time, before the deadline; the
/// sessions opened and how many failed or were not opened in time.
async fn open_all(o: &LoadOpts, n: usize) -> (Vec<Client>, u64) {
    let deadline = Instant::now() + secs(o.open_secs);
    let seed = o.seed;
    let opened: Vec<Option<Client>> = stream::iter(0..n)
        .map(|i| {
            let common = o.common.clone();
            let s = if o.idle { 0 } else { session_seed(seed, i) };
            async move {
                let open = async {
                    let mut c = Client::connect(common.connect, common.ws, 64 * 1024).await?;
                    c.send_msg(&tagged(MODE_LOAD, s)).await?;
                    anyhow::Ok(c)
                };
                match tokio::time::timeout_at(deadline, open).await {
                    Ok(Ok(c)) => Some(c),
                    Ok(Err(e)) => {
                        eprintln!("load: open session {i}: {e:#}");
                        None
                    }
                    Err(_) => None,
                }
            }
        })
        .buffer_unordered(o.concurrency.max(1))
        .collect()
        .await;
    let failed = opened.iter().filter(|c| c.is_none()).count() as u64;
    (opened.into_iter().flatten().collect(), failed)
}

/// Session `i`'s seed: never 0 (0 means no bursts).
fn session_seed(seed: u64, i: usize) -> u64 {
    let x = (seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(i as u64 + 1);
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1
}

/// Events at `w.period` (staggered by session), reading bursts and echoes
/// meanwhile, until the deadline; then up to 2 s more for the last echoes.
async fn session(mut c: Client, i: usize, w: Window, counts: Arc<Counts>) -> Outcome {
    let mut out = Outcome::default();
    let mut rec = Records::default();
    let stagger = w.period.mul_f64((i % 97) as f64 / 97.0);
    let mut tick = tokio::time::interval_at(w.base + stagger, w.period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let grace_end = w.deadline + Duration::from_secs(2);
    let (mut seq, mut outstanding) = (0u16, 0u64);
    loop {
        let now = Instant::now();
        if now >= grace_end || (now >= w.deadline && outstanding == 0) {
            break;
        }
        let sending = now < w.deadline;
        c.rbuf.reserve(c.read_chunk);
        tokio::select! {
            _ = tick.tick(), if sending => {
                let mut ev = [0u8; EVENT_LEN];
                ev[..8].copy_from_slice(&(Instant::now().duration_since(w.base).as_nanos() as u64).to_le_bytes());
                ev[8..].copy_from_slice(&seq.to_le_bytes());
                seq = seq.wrapping_add(1);
                let sent = tokio::time::timeout(Duration::from_secs(5), c.send_msg(&ev)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    out.failed = true;
                    break;
                }
                outstanding += 1;
            }
            n = tokio::io::AsyncReadExt::read_buf(&mut c.stream, &mut c.rbuf) => {
                if !matches!(n, Ok(n) if n > 0) {
                    out.failed = true;
                    break;
                }
                let got = match c.pump(&mut |d| rec.feed(d)).await {
                    Ok(false) => rec.take_bytes(),
                    _ => { out.failed = true; break; }
                };
                counts.bytes.fetch_add(got, Ordering::Relaxed);
                let at = Instant::now();
                for sent_ns in rec.echoes.drain(..) {
                    outstanding = outstanding.saturating_sub(1);
                    let sent = w.base + Duration::from_nanos(sent_ns);
                    if sent >= w.measure_from && sent < w.deadline {
                        out.rtts_us.push(at.duration_since(sent).as_secs_f64() * 1e6);
                    }
                }
            }
            () = tokio::time::sleep_until(if sending { w.deadline } else { grace_end }) => {}
        }
    }
    out.lost = outstanding;
    out
}

/// The client's parser of the target's records (see [`crate::load_target`]),
/// fed the payload bytes as they come, whatever the proxy's frames.
#[derive(Default)]
struct Records {
    head: [u8; REC_HEAD],
    head_len: usize,
    body_left: usize,
    event: Vec<u8>,
    /// Send times (ns since the base) of the echoes completed.
    echoes: Vec<u64>,
    bytes: u64,
}

impl Records {
    fn feed(&mut self, mut d: &[u8]) {
        self.bytes += d.len() as u64;
        while !d.is_empty() {
            if self.head_len < REC_HEAD {
                let n = (REC_HEAD - self.head_len).min(d.len());
                self.head[self.head_len..self.head_len + n].copy_from_slice(&d[..n]);
                self.head_len += n;
                d = &d[n..];
                if self.head_len == REC_HEAD {
                    let mut l = [0u8; 4];
                    l.copy_from_slice(&self.head[1..]);
                    self.body_left = u32::from_le_bytes(l) as usize;
                    self.event.clear();
                }
                continue;
            }
            let n = self.body_left.min(d.len());
            if self.head[0] == REC_ECHO {
                self.event.extend_from_slice(&d[..n]);
            }
            self.body_left -= n;
            d = &d[n..];
            if self.body_left == 0 {
                self.end_record();
            }
        }
        if self.head_len == REC_HEAD && self.body_left == 0 {
            self.end_record();
        }
    }

    fn end_record(&mut self) {
        if self.head[0] == REC_ECHO && self.event.len() >= 8 {
            let mut t = [0u8; 8];
            t.copy_from_slice(&self.event[..8]);
            self.echoes.push(u64::from_le_bytes(t));
        }
        self.head_len = 0;
        self.event.clear();
    }

    fn take_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.bytes)
    }
}

/// CPU seconds of the proxy tree, this client and the target, and the
/// bytes received, at one instant.
struct Usage {
    at: Instant,
    proxy: Option<f64>,
    client: f64,
    target: Option<f64>,
    bytes: u64,
}

impl Usage {
    fn read(o: &LoadOpts, counts: &Counts) -> Result<Self> {
        Ok(Usage {
            at: Instant::now(),
            proxy: o.proxy_pid.map(cpu::tree_cpu_secs).transpose()?,
            client: cpu::own_cpu_secs()?,
            target: o.target_pid.map(cpu::cpu_secs).transpose()?,
            bytes: counts.bytes.load(Ordering::Relaxed),
        })
    }

    /// Record what was used between `before` and now: CPU seconds and % of
    /// one core, and the MB/s delivered.
    fn record_since(&self, before: &Usage, o: &LoadOpts, m: &dyn Fn(&str) -> String) -> Result<()> {
        let secs = self.at.duration_since(before.at).as_secs_f64().max(1e-3);
        record(&o.common, &m("secs"), secs)?;
        let mbps = self.bytes.saturating_sub(before.bytes) as f64 / secs / 1e6;
        record(&o.common, &m("mbps"), mbps)?;
        if let (Some(a), Some(b)) = (self.proxy, before.proxy) {
            record(&o.common, &m("proxy_cpu_s"), a - b)?;
            record(&o.common, &m("proxy_cpu_pct"), (a - b) / secs * 100.0)?;
        }
        record(
            &o.common,
            &m("client_cpu_pct"),
            (self.client - before.client) / secs * 100.0,
        )?;
        if let (Some(a), Some(b)) = (self.target, before.target) {
            record(&o.common, &m("target_cpu_pct"), (a - b) / secs * 100.0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Records;
    use crate::load_target::{REC_BURST, REC_ECHO};

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind];
        r.extend_from_slice(&(body.len() as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    /// Echoes are found whatever the proxy's frame boundaries: the stream
    /// split at every offset gives the same send times.
    #[test]
    fn echoes_are_found_at_every_split() {
        let mut ev = [0u8; 10];
        ev[..8].copy_from_slice(&123_456u64.to_le_bytes());
        let mut wire = record(REC_BURST, &[7; 40]);
        wire.extend(record(REC_ECHO, &ev));
        wire.extend(record(REC_BURST, &[]));
        wire.extend(record(REC_ECHO, &ev));
        for cut in 0..=wire.len() {
            let mut r = Records::default();
            r.feed(&wire[..cut]);
            r.feed(&wire[cut..]);
            assert_eq!(r.echoes, vec![123_456, 123_456], "split at {cut}");
            assert_eq!(r.take_bytes(), wire.len() as u64);
        }
    }
}
