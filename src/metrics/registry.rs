//! The metric families and the calls that bump them, in the Prometheus /
//! OpenMetrics text format of the `prometheus-client` crate.

use std::sync::atomic::AtomicU64;
use std::sync::{LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

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
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
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
        };
        m.register();
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
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
        self.session_seconds.observe(secs);
    }

    /// A connection or upgrade was refused: `bad_request`, `origin`, `auth`,
    /// `token`, `caps` or `tls`.
    pub fn refused(&self, reason: &'static str) {
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
