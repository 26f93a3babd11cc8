//! Refusal lines, rate-limited per client: a client that is refused over and
//! over (bad upgrades on one keep-alive connection, a new TLS connection a
//! millisecond) would otherwise write the log as fast as it can send, and
//! journald's rate limit would then drop the lines that matter. Each client
//! (its key, see `caps::client_key`) has a token bucket of lines
//! ([`REFUSAL_LINES_BURST`], then [`REFUSAL_LINES_PER_SECOND`]), all clients
//! together one more; what is over is counted, and every
//! [`REFUSAL_SUMMARY_INTERVAL`] a summary line says
//! `N more refusals from CLIENT suppressed`. The table is bounded
//! ([`REFUSAL_LOG_CLIENTS`]; clients beyond share one bucket) and emptied of
//! quiet clients by the task that writes the summaries, which runs only
//! while the table holds anyone.
//!
//! Lockout lines and failed logins are not refusal lines: they are logged
//! directly, never suppressed (a lockout bounds the failed logins).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use log::Level;

use crate::defaults::{
    REFUSAL_LINES_ALL_BURST, REFUSAL_LINES_ALL_PER_SECOND, REFUSAL_LINES_BURST,
    REFUSAL_LINES_PER_SECOND, REFUSAL_LOG_CLIENTS, REFUSAL_SUMMARY_CLIENTS,
    REFUSAL_SUMMARY_INTERVAL,
};

/// Logs `line`, a refusal of the client `key`, at `level`, unless that
/// client (or all clients together) has used its share of lines: then the
/// refusal is only counted, for the next summary line.
pub fn log(key: IpAddr, level: Level, line: fmt::Arguments<'_>) {
    static LIMITER: LazyLock<Limiter> = LazyLock::new(|| Limiter::new(Policy::default()));
    let verdict = LIMITER.admit(key, Instant::now());
    if verdict.log {
        log::log!(level, "{line}");
    }
    if verdict.start_sweeping {
        sweep_every_interval(&LIMITER);
    }
}

/// Writes the summary lines while the table holds anyone.
fn sweep_every_interval(limiter: &'static Limiter) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return limiter.lock().sweeping = false;
    };
    runtime.spawn(async move {
        let start = tokio::time::Instant::now() + REFUSAL_SUMMARY_INTERVAL;
        let mut ticks = tokio::time::interval_at(start, REFUSAL_SUMMARY_INTERVAL);
        loop {
            ticks.tick().await;
            let (summaries, more) = limiter.sweep(Instant::now());
            for line in summaries {
                log::warn!("{line}");
            }
            if !more {
                return;
            }
        }
    });
}

/// The buckets' sizes and rates.
#[derive(Debug, Clone, Copy)]
struct Policy {
    burst: f64,
    per_second: f64,
    all_burst: f64,
    all_per_second: f64,
    clients: usize,
    summaries: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            burst: REFUSAL_LINES_BURST.into(),
            per_second: REFUSAL_LINES_PER_SECOND.into(),
            all_burst: REFUSAL_LINES_ALL_BURST.into(),
            all_per_second: REFUSAL_LINES_ALL_PER_SECOND.into(),
            clients: REFUSAL_LOG_CLIENTS,
            summaries: REFUSAL_SUMMARY_CLIENTS,
        }
    }
}

/// Lines one client (or everyone) may still cause, and what it was denied.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    stamp: Instant,
    suppressed: u64,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            stamp: now,
            suppressed: 0,
        }
    }

    /// Refills for the time since the last call; true when a line may go.
    fn take(&mut self, burst: f64, per_second: f64, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.stamp).as_secs_f64() * per_second;
        self.tokens = (self.tokens + refill).min(burst);
        self.stamp = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Full again and nothing to report: the client can be forgotten.
    fn quiet(&self, policy: &Policy, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.stamp).as_secs_f64() * policy.per_second;
        self.suppressed == 0 && self.tokens + refill >= policy.burst
    }
}

/// What to do with one refusal line.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    /// Log it (else it was counted).
    log: bool,
    /// Start the summary task: the table holds someone and none runs.
    start_sweeping: bool,
}

struct Table {
    clients: HashMap<IpAddr, Bucket>,
    /// The clients the table has no room for.
    others: Bucket,
    /// Everyone together.
    all: Bucket,
    /// The summary task runs.
    sweeping: bool,
}

/// The per-client buckets.
struct Limiter {
    policy: Policy,
    table: Mutex<Table>,
}

impl Limiter {
    fn new(policy: Policy) -> Self {
        let now = Instant::now();
        Limiter {
            policy,
            table: Mutex::new(Table {
                clients: HashMap::new(),
                others: Bucket::full(policy.burst, now),
                all: Bucket::full(policy.all_burst, now),
                sweeping: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a line from the client's bucket and the common one.
    fn admit(&self, key: IpAddr, now: Instant) -> Verdict {
        let p = self.policy;
        let mut table = self.lock();
        let Table {
            clients,
            others,
            all,
            sweeping,
        } = &mut *table;
        let bucket = match clients.len() < p.clients || clients.contains_key(&key) {
            true => clients
                .entry(key)
                .or_insert_with(|| Bucket::full(p.burst, now)),
            false => others,
        };
        let log =
            bucket.take(p.burst, p.per_second, now) && all.take(p.all_burst, p.all_per_second, now);
        if !log {
            bucket.suppressed += 1;
        }
        Verdict {
            log,
            start_sweeping: !std::mem::replace(sweeping, true),
        }
    }

    /// The summary lines of what was suppressed since the last sweep (the
    /// busiest clients by name, the rest together), forgetting quiet
    /// clients; and whether anyone is left to sweep for later.
    fn sweep(&self, now: Instant) -> (Vec<String>, bool) {
        let p = self.policy;
        let mut table = self.lock();
        let mut counts: Vec<(u64, String)> = Vec::new();
        for (key, bucket) in &mut table.clients {
            if bucket.suppressed > 0 {
                counts.push((std::mem::take(&mut bucket.suppressed), shown(*key)));
            }
        }
        table.clients.retain(|_, b| !b.quiet(&p, now));
        let others = std::mem::take(&mut table.others.suppressed);
        let more = !table.clients.is_empty();
        table.sweeping = more;
        drop(table);
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let rest = counts.split_off(counts.len().min(p.summaries));
        let mut lines: Vec<String> = counts
            .into_iter()
            .map(|(n, client)| format!("{n} more refusals from {client} suppressed"))
            .collect();
        let rest_count: u64 = rest.iter().map(|(n, _)| n).sum::<u64>() + others;
        if rest_count > 0 {
            lines.push(format!(
                "{rest_count} more refusals from other clients suppressed"
            ));
        }
        (lines, more)
    }
}

/// A client key as summaries name it: the address, or the IPv6 /64.
fn shown(key: IpAddr) -> String {
    match key {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/{}", super::caps::IPV6_CLIENT_PREFIX),
    }
}

#[cfg(test)]
#[path = "refusal_log_tests.rs"]
mod tests;
