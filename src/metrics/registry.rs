//! The metric families and the calls that bump them, in the Prometheus /
//! OpenMetrics text format of the `prometheus-client` crate.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The close codes counted by number: those of RFC 6455 and the IANA
/// registry a session can end with. Every other code is grouped
/// (`close_label`), so clients cannot make a series per code they choose.
const CLOSE_CODES: [u16; 15] = [
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
];

/// The groups of the other close codes.
const CLOSE_GROUPS: [&str; 3] = ["3xxx", "4xxx", "other"];

/// Why a connection or upgrade was refused (`refused`).
const REFUSAL_REASONS: [&str; 6] = ["bad_request", "origin", "auth", "token", "caps", "tls"];

/// Why a target connection failed (`target_failed`).
const CONNECT_FAILURES: [&str; 3] = ["refused", "timeout", "other"];

/// Which way payload bytes went.
const DIRECTIONS: [&str; 2] = ["to_target", "to_client"];

/// The `code` label for a close code: the registered codes by number, the
/// application ranges as `3xxx` (IANA-registered) and `4xxx` (private),
/// anything else `other`.
fn close_label(code: u16) -> String {
    match code {
        _ if CLOSE_CODES.contains(&code) => code.to_string(),
        3000..=3999 => CLOSE_GROUPS[0].into(),
        4000..=4999 => CLOSE_GROUPS[1].into(),
        _ => CLOSE_GROUPS[2].into(),
    }
}

/// `family`'s series for each of `values` of `label`, created at 0, so
/// that the first scrape shows every family and `rate()` starts from 0.
fn at_zero<V: ToString>(family: &Family<Labels, Counter>, label: &'static str, values: &[V]) {
    for v in values {
        let _ = family.get_or_create(&vec![(label, v.to_string())]);
    }
}

/// The process's start time and build, set once.
fn register_process(r: &mut Registry) {
    let start: Gauge<u64, AtomicU64> = Gauge::default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    start.set(now);
    r.register(
        "process_start_time_seconds",
        "Start time of the process (Unix time)",
        start,
    );
    let info: Family<Labels, Gauge> = Family::default();
    info.get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_owned())])
        .set(1);
    r.register("build_info", "The running build", info);
}

/// Every metric of the process.
pub struct Metrics {
    registry: Mutex<Registry>,
    sessions_active: Gauge,
    sessions_total: Counter,
    bytes: Family<Labels, Counter>,
    closes: Family<Labels, Counter>,
    refusals: Family<Labels, Counter>,
    connect_seconds: Histogram,
    connect_failures: Family<Labels, Counter>,
    session_seconds: Histogram,
    password_hashes: Counter,
    recording_failures: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Counters at zero, registered; the daemon makes one for the process
    /// and hands it to the server, the metrics endpoint and the password
    /// checks (a test may run several servers, each with its own).
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("websockify")),
            sessions_active: Gauge::default(),
            sessions_total: Counter::default(),
            bytes: Family::default(),
            closes: Family::default(),
            refusals: Family::default(),
            // 1 ms to ~16 s.
            connect_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            connect_failures: Family::default(),
            // 1 s to ~9 days.
            session_seconds: Histogram::new(exponential_buckets(1.0, 3.0, 14)),
            password_hashes: Counter::default(),
            recording_failures: Counter::default(),
        };
        m.register();
        at_zero(&m.bytes, "direction", &DIRECTIONS);
        at_zero(&m.closes, "code", &CLOSE_CODES);
        at_zero(&m.closes, "code", &CLOSE_GROUPS);
        at_zero(&m.refusals, "reason", &REFUSAL_REASONS);
        at_zero(&m.connect_failures, "reason", &CONNECT_FAILURES);
        m
    }

    fn register(&self) {
        let mut r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        r.register(
            "sessions_active",
            "WebSocket sessions open now",
            self.sessions_active.clone(),
        );
        r.register(
            "sessions",
            "WebSocket sessions opened",
            self.sessions_total.clone(),
        );
        r.register(
            "bytes",
            "Payload bytes relayed, by direction",
            self.bytes.clone(),
        );
        r.register(
            "session_close",
            "Sessions ended, by close code",
            self.closes.clone(),
        );
        r.register(
            "handshake_failures",
            "Upgrades and connections refused, by reason",
            self.refusals.clone(),
        );
        r.register(
            "target_connect_seconds",
            "Time to connect the target",
            self.connect_seconds.clone(),
        );
        r.register(
            "target_connect_failures",
            "Target connections that failed, by reason",
            self.connect_failures.clone(),
        );
        r.register(
            "session_duration_seconds",
            "How long sessions lasted",
            self.session_seconds.clone(),
        );
        r.register(
            "password_hashes",
            "Password hashes computed for logins (auth-file); remembered logins need none",
            self.password_hashes.clone(),
        );
        r.register(
            "recording_failures",
            "Recordings stopped or not started: a write error, a full disk, a slow disk",
            self.recording_failures.clone(),
        );
        register_process(&mut r);
    }

    /// A login's password hash was computed.
    pub fn password_hashed(&self) {
        self.password_hashes.inc();
    }

    /// A recording could not be made or was cut short by the disk.
    pub fn recording_failed(&self) {
        self.recording_failures.inc();
    }

    /// A session was opened (the 101 went out).
    pub fn session_opened(&self) {
        self.sessions_active.inc();
        self.sessions_total.inc();
    }

    /// A session is gone (also when its task panicked or was cancelled).
    pub fn session_gone(&self) {
        self.sessions_active.dec();
    }

    /// A session ended with `code` after `secs`, having relayed these bytes.
    pub fn session_closed(&self, to_target: u64, to_client: u64, code: u16, secs: f64) {
        let dir = |d: &str| vec![("direction", d.to_owned())];
        self.bytes
            .get_or_create(&dir("to_target"))
            .inc_by(to_target);
        self.bytes
            .get_or_create(&dir("to_client"))
            .inc_by(to_client);
        self.closes
            .get_or_create(&vec![("code", close_label(code))])
            .inc();
        self.session_seconds.observe(secs);
    }

    /// A connection or upgrade was refused: `bad_request`, `origin`, `auth`,
    /// `token`, `caps` or `tls` (`REFUSAL_REASONS`).
    pub fn refused(&self, reason: &'static str) {
        debug_assert!(REFUSAL_REASONS.contains(&reason), "{reason}");
        self.refusals
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// The target accepted after `secs`.
    pub fn target_connected(&self, secs: f64) {
        self.connect_seconds.observe(secs);
    }

    /// The target could not be reached: `refused`, `timeout` or `other`.
    pub fn target_failed(&self, reason: &'static str) {
        debug_assert!(CONNECT_FAILURES.contains(&reason), "{reason}");
        self.connect_failures
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = encode(&mut out, &r) {
            log::warn!("metrics: cannot encode: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn close_labels_are_a_bounded_set() {
        let labels: HashSet<String> = (0..=u16::MAX).map(close_label).collect();
        let codes = CLOSE_CODES.iter().map(u16::to_string);
        let known: HashSet<String> = codes.chain(CLOSE_GROUPS.map(String::from)).collect();
        assert_eq!(labels, known);
        assert_eq!(
            [1000, 1004, 1011, 2999, 3000, 3999, 4000, 4999, 5000].map(close_label),
            ["1000", "other", "1011", "other", "3xxx", "3xxx", "4xxx", "4xxx", "other"]
        );
    }
}
