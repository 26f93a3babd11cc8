//! The report: reads the `SYSTEM<TAB>metric<TAB>value` lines (and `meta`
//! lines) that `scripts/bench` and the measurements recorded, and renders
//! the Markdown table of every system side by side, then the goals
//! ([`crate::goals`]) that compare websockify-rs with the references of the
//! same run. A `SYSTEM<TAB>error<TAB>text` line (a reference that could not
//! be installed or started) shows in that system's column.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// Known systems in column order, with their display names.
const SYSTEMS: &[(&str, &str)] = &[
    ("direct", "direct TCP"),
    ("socat", "socat -b 65536"),
    ("websocat", "websocat 1.14.1"),
    ("python", "Python websockify 0.13.0"),
    ("ours", "websockify-rs"),
];

/// system → metric → every recorded value (one per round).
type Results = BTreeMap<String, BTreeMap<String, Vec<f64>>>;
/// system → why it has no figures.
type Errors = BTreeMap<String, String>;

/// How a row's cell is computed from the recorded metrics.
#[derive(Clone, Copy)]
enum Row {
    /// Median with the spread and any errors of the same measurement.
    Plain(&'static str),
    /// Median minus direct TCP's.
    Added(&'static str),
    ConnRate,
    PssPerSession,
    PssBeforeAfter,
    /// Attack: total PSS growth in MiB, sessions held, bytes delivered.
    AttackTotal,
    /// Attack: bystander RTT p50 (max).
    Bystander,
    /// Huge message with this subprotocol: peak PSS growth and rates.
    Huge(&'static str),
    /// Load row: sessions held, failed, events lost.
    LoadSessions,
    /// Load row: proxy CPU seconds and % of one core.
    LoadCpu,
    /// Load row (`load` or `load_idle`): input round trip p50 / p99.
    LoadRtt(&'static str),
    /// Load row: p99 under load ÷ idle p99.
    LoadP99Ratio,
    /// Load row: MB/s delivered, and the load client's and target's CPU.
    LoadBench,
}

const ROWS: &[(&str, Row)] = &[
    ("target→client MB/s, 1 conn", Row::Plain("down_c1_mbps")),
    ("target→client MB/s, 64 conns", Row::Plain("down_c64_mbps")),
    (
        "client→target MB/s, 4 KiB msgs",
        Row::Plain("up_4096B_mbps"),
    ),
    ("client→target 64-byte msgs/s", Row::Plain("up_64B_msgs")),
    ("RTT p50 µs (16 B, pinned)", Row::Plain("rtt_p50_us")),
    ("RTT p99 µs (16 B, pinned)", Row::Plain("rtt_p99_us")),
    ("added p50 µs vs direct", Row::Added("rtt_p50_us")),
    ("added p99 µs vs direct", Row::Added("rtt_p99_us")),
    (
        "proxy CPU s per GB target→client, 1 conn",
        Row::Plain("down_c1_cpu_s_per_gb"),
    ),
    (
        "proxy CPU s per GB target→client, 64 conns",
        Row::Plain("down_c64_cpu_s_per_gb"),
    ),
    (
        "target→client MB/s, 1 conn, wss://",
        Row::Plain("down_tls_c1_mbps"),
    ),
    ("connections/s", Row::ConnRate),
    ("proxy CPU µs per connection", Row::Plain("conn_cpu_us")),
    (
        "load: sessions (failed, input events lost)",
        Row::LoadSessions,
    ),
    ("load: proxy CPU s (% of one core)", Row::LoadCpu),
    ("load: input RTT ms p50 / p99", Row::LoadRtt("load")),
    (
        "load idle (1 session): input RTT ms p50 / p99",
        Row::LoadRtt("load_idle"),
    ),
    ("load: input p99 ÷ idle p99", Row::LoadP99Ratio),
    (
        "load: MB/s delivered of offered; load client / target CPU %",
        Row::LoadBench,
    ),
    ("PSS KiB per idle session", Row::PssPerSession),
    ("proxy PSS KiB before → after", Row::PssBeforeAfter),
    ("attack: proxy PSS growth MiB", Row::AttackTotal),
    (
        "attack: PSS growth KiB per session",
        Row::Plain("attack_pss_per_session_kib"),
    ),
    ("attack: bystander 4 KiB RTT ms p50 (max)", Row::Bystander),
    (
        "1 GiB msg, `binary`: peak PSS growth KiB",
        Row::Huge("binary"),
    ),
    (
        "1 GiB msg, no subprotocol: peak PSS growth KiB",
        Row::Huge("none"),
    ),
    (
        "1 GiB msg, `base64`: peak PSS growth KiB",
        Row::Huge("base64"),
    ),
];

const FOOTNOTE: &str =
    "\nMB = 10^6 bytes. Throughput: median (min–max) of consecutive windows after a \
     warm-up, counted target→client at the client (payload bytes), client→target at \
     the target's sink. \
     For raw TCP (direct, socat) \"messages\" are the same bytes without framing, so \
     their msgs/s is bytes/s ÷ message size. Latency: ping-pong against the echo target, \
     client and proxy pinned to one CPU, target to another. connections/s: connect, \
     WebSocket handshake (proxies), one 16-byte round trip, close (WebSocket close \
     handshake), with the concurrency in the settings above. PSS: sum of Pss over the \
     proxy's process tree (smaps_rollup) after every session was verified, minus the \
     same before opening them, divided by the sessions opened. Attack: sessions each \
     send one masked binary frame header announcing a large message and part of its \
     payload to a sink target and are held open; PSS growth is measured once the \
     target has received every session's part (\"delivered\"), then a separate session \
     times 4 KiB echo round trips. 1 GiB msg: one message client→target (one frame, or \
     for `base64` a text frame and continuation frames) and 1 GiB target→client, each \
     checked by SHA-256 at the receiving end; the proxy's PSS sampled every 50 ms, \
     peak minus the value before; ↑ client→target, ↓ target→client MB/s. \
     Proxy CPU per GB: user + system time of the proxy's process tree \
     (/proc/PID/stat) over the throughput windows ÷ the payload GB the client \
     received in them. Load: many sessions at once shaped like VNC (the target \
     sends 64–256 KiB bursts every 50–200 ms, random per session, seeded; each \
     client sends 60 10-byte input events/s that the target echoes at once), \
     one system at a time; proxy CPU over the measured window (% of one core = \
     CPU s ÷ window s), round trip of the input events sent in it; \"idle\" is \
     one session without bursts; the load client's and the target's own CPU \
     show whether the bench itself was the limit.\n";

pub fn report(input: &Path, output: Option<&Path>) -> Result<()> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("read {}", input.display()))?;
    let (res, errors, meta) = parse(&text);
    let md = render(&res, &errors, &meta);
    print!("{md}");
    if let Some(out) = output {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(())
}

/// The recorded results, the errors, and the `meta` lines in order.
fn parse(text: &str) -> (Results, Errors, Vec<(String, String)>) {
    let mut res: Results = BTreeMap::new();
    let mut errors = Errors::new();
    let mut meta: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(sys), Some(key), Some(val)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if sys == "meta" {
            meta.push((key.to_string(), val.to_string()));
        } else if key == "error" {
            errors.insert(sys.to_string(), val.to_string());
        } else if let Ok(v) = val.trim().parse::<f64>() {
            res.entry(sys.to_string())
                .or_default()
                .entry(key.to_string())
                .or_default()
                .push(v);
        }
    }
    (res, errors, meta)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", a);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn render(res: &Results, errors: &Errors, meta: &[(String, String)]) -> String {
    let t = Table { res, errors };
    let cols = t.columns();
    let mut md = String::new();
    let _ = writeln!(md, "# websockify-rs benchmark\n");
    for (k, v) in meta {
        let _ = writeln!(md, "- {k}: {v}");
    }
    let _ = writeln!(md);
    let _ = write!(md, "| metric |");
    for (_, label) in &cols {
        let _ = write!(md, " {label} |");
    }
    let _ = write!(md, "\n|---|");
    for _ in &cols {
        let _ = write!(md, "---:|");
    }
    let _ = writeln!(md);
    for (i, (label, row)) in ROWS.iter().enumerate() {
        let _ = write!(md, "| {label} |");
        for (sys, _) in &cols {
            let cell = match (t.cell(*row, sys), t.errors.get(sys)) {
                (c, Some(e)) if c == "—" && i == 0 => format!("error: {e}"),
                (c, Some(_)) if c == "—" => "error".into(),
                (c, _) => c,
            };
            let _ = write!(md, " {cell} |");
        }
        let _ = writeln!(md);
    }
    crate::goals::render_goals(&t, &mut md);
    let _ = writeln!(md, "{FOOTNOTE}");
    md
}

/// The recorded results, read the way the table reads them.
pub struct Table<'a> {
    res: &'a Results,
    errors: &'a Errors,
}

impl Table<'_> {
    fn all(&self, sys: &str, key: &str) -> Vec<f64> {
        self.res
            .get(sys)
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    }

    /// Repeated rounds: the median; errors are summed instead.
    pub fn get(&self, sys: &str, key: &str) -> Option<f64> {
        let v = self.all(sys, key);
        if key.ends_with("_errors") && !v.is_empty() {
            return Some(v.iter().sum());
        }
        median(&v)
    }

    /// Spread over rounds (and over windows within a round).
    fn spread(&self, sys: &str, key: &str) -> Option<(f64, f64)> {
        let mut v = self.all(sys, key);
        v.extend(self.all(sys, &format!("{key}_min")));
        v.extend(self.all(sys, &format!("{key}_max")));
        let lo = v.iter().copied().reduce(f64::min)?;
        let hi = v.iter().copied().reduce(f64::max)?;
        (lo < hi).then_some((lo, hi))
    }

    pub fn added(&self, sys: &str, key: &str) -> Option<f64> {
        Some(self.get(sys, key)? - self.get("direct", key)?)
    }

    /// The known systems present (with figures or an error), in their
    /// order, then any others.
    fn columns(&self) -> Vec<(String, String)> {
        let present = |k: &str| self.res.contains_key(k) || self.errors.contains_key(k);
        let mut cols: Vec<(String, String)> = SYSTEMS
            .iter()
            .filter(|(k, _)| present(k))
            .map(|(k, l)| (k.to_string(), l.to_string()))
            .collect();
        for k in self.res.keys().chain(self.errors.keys()) {
            if !cols.iter().any(|(s, _)| s == k) {
                cols.push((k.clone(), k.clone()));
            }
        }
        cols
    }

    fn cell(&self, row: Row, sys: &str) -> String {
        match row {
            Row::Plain(key) => self.plain(sys, key),
            Row::Added(key) => self.added(sys, key).map_or("—".into(), fmt_num),
            Row::ConnRate => {
                let v = self.get(sys, "conn_rate").map_or("—".into(), fmt_num);
                match self.get(sys, "conn_errors") {
                    Some(e) if e > 0.0 => format!("{v} ({e} errors)"),
                    _ => v,
                }
            }
            Row::PssPerSession => self.pss_per_session(sys),
            Row::AttackTotal => self.attack_total(sys),
            Row::Bystander => match (
                self.get(sys, "attack_bystander_rtt_p50_ms"),
                self.get(sys, "attack_bystander_rtt_max_ms"),
            ) {
                (Some(p), Some(m)) => format!("{} ({})", fmt_num(p), fmt_num(m)),
                _ if self.get(sys, "attack_bystander_ok") == Some(0.0) => "FAILED".into(),
                _ => "—".into(),
            },
            Row::Huge(proto) => self.huge(sys, proto),
            Row::LoadSessions
            | Row::LoadCpu
            | Row::LoadRtt(_)
            | Row::LoadP99Ratio
            | Row::LoadBench => self.load(row, sys).unwrap_or_else(|| "—".into()),
            Row::PssBeforeAfter => {
                match (
                    self.get(sys, "pss_baseline_kib"),
                    self.get(sys, "pss_after_kib"),
                ) {
                    (Some(b), Some(a)) => format!(
                        "{} → {} ({} procs)",
                        fmt_num(b),
                        fmt_num(a),
                        self.get(sys, "pss_procs_after").unwrap_or(0.0)
                    ),
                    _ => "—".into(),
                }
            }
        }
    }

    fn plain(&self, sys: &str, key: &str) -> String {
        let mut v = self
            .get(sys, key)
            .map(fmt_num)
            .unwrap_or_else(|| "—".into());
        if let Some((lo, hi)) = self.spread(sys, key) {
            v = format!("{v} ({}–{})", fmt_num(lo), fmt_num(hi));
        }
        let err_key = format!("{}_errors", key.rsplit_once('_').map_or(key, |(a, _)| a));
        match self.get(sys, &err_key) {
            Some(e) if e > 0.0 => format!("{v} ({e} conn errors)"),
            _ => v,
        }
    }

    /// The cells of the load rows; `None` when the row did not run.
    fn load(&self, row: Row, sys: &str) -> Option<String> {
        let g = |k: &str| self.get(sys, k);
        let f = |k: &str| g(k).map_or("—".into(), fmt_num);
        Some(match row {
            Row::LoadSessions => format!(
                "{} ({} failed, {} lost)",
                g("load_sessions")?,
                g("load_failed").unwrap_or(0.0),
                g("load_lost_events").unwrap_or(0.0)
            ),
            Row::LoadCpu => format!(
                "{} ({} %)",
                fmt_num(g("load_proxy_cpu_s")?),
                f("load_proxy_cpu_pct")
            ),
            Row::LoadRtt(p) => format!(
                "{} / {}",
                fmt_num(g(&format!("{p}_rtt_p50_ms"))?),
                f(&format!("{p}_rtt_p99_ms"))
            ),
            Row::LoadP99Ratio => {
                format!("{:.2}×", g("load_rtt_p99_ms")? / g("load_idle_rtt_p99_ms")?)
            }
            Row::LoadBench => format!(
                "{} of {}; {} % / {} %",
                fmt_num(g("load_mbps")?),
                f("load_offered_mbps"),
                f("load_client_cpu_pct"),
                f("load_target_cpu_pct")
            ),
            _ => return None,
        })
    }

    fn attack_total(&self, sys: &str) -> String {
        let Some(kib) = self.get(sys, "attack_pss_growth_kib") else {
            return "—".into();
        };
        let g = |k: &str| self.get(sys, k).unwrap_or(0.0);
        let want = g("attack_opened") * g("attack_sent_mib");
        format!(
            "{} ({}/{} held, {} of {} MiB delivered, {} MiB announced each)",
            fmt_num(kib / 1024.0),
            g("attack_alive"),
            g("attack_sessions"),
            fmt_num(g("attack_delivered_mib")),
            fmt_num(want),
            g("attack_announced_mib")
        )
    }

    fn huge(&self, sys: &str, proto: &str) -> String {
        let Some(kib) = self.get(sys, &format!("huge_{proto}_peak_growth_kib")) else {
            return "—".into();
        };
        let dir = |d: &str| match self.get(sys, &format!("huge_{proto}_{d}_mbps")) {
            Some(r) if self.get(sys, &format!("huge_{proto}_{d}_ok")) == Some(1.0) => {
                format!("{} MB/s", fmt_num(r))
            }
            _ => "FAILED".into(),
        };
        format!("{} (↑ {}, ↓ {})", fmt_num(kib), dir("up"), dir("down"))
    }

    fn pss_per_session(&self, sys: &str) -> String {
        let Some(v) = self.get(sys, "pss_per_session_kib") else {
            return "—".into();
        };
        let req = self.get(sys, "idle_requested").unwrap_or(0.0);
        let alive = self.get(sys, "idle_alive_after").unwrap_or(0.0);
        let cap = if req < 9500.0 { ", capped" } else { "" };
        format!("{} ({alive}/{req} alive{cap})", fmt_num(v))
    }
}
