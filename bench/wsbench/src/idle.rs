//! Idle sessions: open many sessions through the proxy, keep each alive in
//! its own task (reading like a browser, so heartbeat pings are answered),
//! verify each with a round trip before and after measuring, and record the
//! proxy's PSS per session (see `pss`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use futures_util::stream::{self, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

use crate::client::Client;
use crate::measure::{open_mode, record, secs, Common};
use crate::pss::tree_pss_kib;
use crate::target::MODE_ECHO;

/// Handle to an idle session running in its own task. The task keeps
/// reading, like a browser would, so the proxy's heartbeat pings are answered
/// while the session sits idle; a request on `rt` runs one 16-byte round trip
/// and replies whether it succeeded.
struct IdleSession {
    rt: mpsc::Sender<oneshot::Sender<bool>>,
}

impl IdleSession {
    fn spawn(c: Client) -> Self {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(idle_session_task(c, rx));
        IdleSession { rt: tx }
    }

    async fn round_trip(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.rt.send(tx).await.is_err() {
            return false; // the task ended: the session is dead
        }
        rx.await.unwrap_or(false)
    }
}

async fn echo_round_trip(c: &mut Client) -> Result<()> {
    let msg = *b"0123456789abcdef";
    let mut back = [0u8; 16];
    c.send_msg(&msg).await?;
    c.recv_exact(&mut back).await?;
    ensure!(back == msg, "echo mismatch");
    Ok(())
}

async fn idle_session_task(mut c: Client, mut rx: mpsc::Receiver<oneshot::Sender<bool>>) {
    loop {
        c.rbuf.reserve(c.read_chunk);
        tokio::select! {
            req = rx.recv() => {
                // Dropped handle: the test is over; dropping `c` closes.
                let Some(reply) = req else { return };
                let ok = tokio::time::timeout(Duration::from_secs(10), echo_round_trip(&mut c))
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

/// What the idle test saw, for the record.
struct IdleCounts {
    requested: usize,
    opened: usize,
    verified: usize,
    alive: usize,
    open_secs: f64,
    errors: u64,
}

pub async fn idle(
    common: &Common,
    sessions: usize,
    pid: Option<u32>,
    concurrency: usize,
    max_secs: f64,
    settle_secs: f64,
) -> Result<()> {
    let baseline = pid.map(tree_pss_kib).transpose()?;
    let t0 = Instant::now();
    let deadline = t0 + secs(max_secs);
    let errors = AtomicU64::new(0);
    let opened = open_sessions(common, sessions, concurrency, deadline, &errors).await;
    let open_secs = t0.elapsed().as_secs_f64();
    let verified = verify_all(&opened, 64).await;
    tokio::time::sleep(secs(settle_secs)).await;
    let after = pid.map(tree_pss_kib).transpose()?;
    // Sessions must still be alive once measured, not just before.
    let alive = verify_all(&opened, 64).await;
    let counts = IdleCounts {
        requested: sessions,
        opened: opened.len(),
        verified,
        alive,
        open_secs,
        errors: errors.load(Ordering::Relaxed),
    };
    record_idle(common, &counts, baseline.zip(after))?;
    // Dropping the handles ends the tasks, which close their sockets.
    drop(opened);
    Ok(())
}

/// Open up to `sessions` sessions, `concurrency` at a time, until `deadline`.
async fn open_sessions(
    common: &Common,
    sessions: usize,
    concurrency: usize,
    deadline: Instant,
    errors: &AtomicU64,
) -> Vec<IdleSession> {
    stream::iter(0..sessions)
        .map(|_| open_one(common, deadline, errors))
        .buffer_unordered(concurrency.max(1))
        .filter_map(|c| async move { c })
        .collect()
        .await
}

async fn open_one(common: &Common, deadline: Instant, errors: &AtomicU64) -> Option<IdleSession> {
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

/// Record the counts and, given PSS (KiB, processes) before and after, the
/// proxy's memory per session.
fn record_idle(
    common: &Common,
    n: &IdleCounts,
    pss: Option<((u64, usize), (u64, usize))>,
) -> Result<()> {
    record(common, "idle_requested", n.requested as f64)?;
    record(common, "idle_opened", n.opened as f64)?;
    record(common, "idle_verified", n.verified as f64)?;
    record(common, "idle_alive_after", n.alive as f64)?;
    record(common, "idle_open_secs", n.open_secs)?;
    record(common, "idle_open_errors", n.errors as f64)?;
    if let Some(((b, bp), (a, ap))) = pss {
        record(common, "pss_baseline_kib", b as f64)?;
        record(common, "pss_after_kib", a as f64)?;
        record(common, "pss_procs_baseline", bp as f64)?;
        record(common, "pss_procs_after", ap as f64)?;
        if n.opened > 0 {
            record(
                common,
                "pss_per_session_kib",
                (a as f64 - b as f64) / n.opened as f64,
            )?;
        }
    }
    Ok(())
}
