//! The report: reads the `SYSTEM<TAB>metric<TAB>value` lines (and `meta`
//! lines) that `scripts/bench` and the measurements recorded, and renders
//! the Markdown table of every system side by side, then the goals that
//! compare websockify-rs with the references of the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// Known systems in column order, with their display names.
const SYSTEMS: &[(&str, &str)] = &[
    ("direct", "direct TCP"),
    ("socat", "socat"),
    ("python", "Python websockify 0.13.0"),
    ("ours", "websockify-rs"),
];

/// system → metric → every recorded value (one per round).
type Results = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

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
    ("connections/s", Row::ConnRate),
    ("PSS KiB per idle session", Row::PssPerSession),
    ("proxy PSS KiB before → after", Row::PssBeforeAfter),
];

/// A goal of websockify-rs, in table order.
enum Goal {
    /// `ours / reference >= min_ratio` on `metric`: (name, metric, reference
    /// system, min_ratio).
    Ratio(&'static str, &'static str, &'static str, f64),
    /// Added p50 latency no more than socat's.
    AddedLatency,
    /// PSS per idle session within budget, every session alive.
    IdlePss,
}

const GOALS: &[Goal] = &[
    Goal::Ratio(
        "target→client 1 conn ≥ 1.0× socat",
        "down_c1_mbps",
        "socat",
        1.0,
    ),
    Goal::Ratio(
        "target→client 64 conns ≥ 1.0× socat",
        "down_c64_mbps",
        "socat",
        1.0,
    ),
    Goal::Ratio(
        "client→target 4 KiB ≥ 0.8× socat",
        "up_4096B_mbps",
        "socat",
        0.8,
    ),
    Goal::Ratio(
        "64-byte msgs/s ≥ 500× Python websockify",
        "up_64B_msgs",
        "python",
        500.0,
    ),
    Goal::AddedLatency,
    Goal::Ratio(
        "connections/s ≥ 0.9× direct TCP",
        "conn_rate",
        "direct",
        0.9,
    ),
    Goal::IdlePss,
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
     same before opening them, divided by the sessions opened.\n";

pub fn report(input: &Path, output: Option<&Path>) -> Result<()> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("read {}", input.display()))?;
    let (res, meta) = parse(&text);
    let md = render(&res, &meta);
    print!("{md}");
    if let Some(out) = output {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(())
}

/// The recorded results, and the `meta` lines in order.
fn parse(text: &str) -> (Results, Vec<(String, String)>) {
    let mut res: Results = BTreeMap::new();
    let mut meta: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(sys), Some(key), Some(val)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if sys == "meta" {
            meta.push((key.to_string(), val.to_string()));
        } else if let Ok(v) = val.trim().parse::<f64>() {
            res.entry(sys.to_string())
                .or_default()
                .entry(key.to_string())
                .or_default()
                .push(v);
        }
    }
    (res, meta)
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

fn fmt_num(v: f64) -> String {
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

fn render(res: &Results, meta: &[(String, String)]) -> String {
    let t = Table { res };
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
    for (label, row) in ROWS {
        let _ = write!(md, "| {label} |");
        for (sys, _) in &cols {
            let _ = write!(md, " {} |", t.cell(*row, sys));
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "\n## Goals (websockify-rs, same run)\n");
    let _ = writeln!(md, "| goal | websockify-rs | reference | ratio | result |");
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    for g in GOALS {
        t.goal(&mut md, g);
    }
    let _ = writeln!(md, "{FOOTNOTE}");
    md
}

/// The recorded results, read the way the table reads them.
struct Table<'a> {
    res: &'a Results,
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
    fn get(&self, sys: &str, key: &str) -> Option<f64> {
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

    fn added(&self, sys: &str, key: &str) -> Option<f64> {
        Some(self.get(sys, key)? - self.get("direct", key)?)
    }

    /// The known systems present, in their order, then any others.
    fn columns(&self) -> Vec<(String, String)> {
        let mut cols: Vec<(String, String)> = SYSTEMS
            .iter()
            .filter(|(k, _)| self.res.contains_key(*k))
            .map(|(k, l)| (k.to_string(), l.to_string()))
            .collect();
        for k in self.res.keys() {
            if !SYSTEMS.iter().any(|(s, _)| s == k) {
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

    fn pss_per_session(&self, sys: &str) -> String {
        let Some(v) = self.get(sys, "pss_per_session_kib") else {
            return "—".into();
        };
        let req = self.get(sys, "idle_requested").unwrap_or(0.0);
        let alive = self.get(sys, "idle_alive_after").unwrap_or(0.0);
        let cap = if req < 9500.0 { ", capped" } else { "" };
        format!("{} ({alive}/{req} alive{cap})", fmt_num(v))
    }

    fn goal(&self, md: &mut String, goal: &Goal) {
        match *goal {
            Goal::Ratio(name, key, reference, min_ratio) => {
                self.ratio_goal(md, name, key, reference, min_ratio)
            }
            Goal::AddedLatency => self.added_latency_goal(md),
            Goal::IdlePss => self.idle_pss_goal(md),
        }
    }

    /// Added latency: a difference, compared directly (it can be ~0).
    fn added_latency_goal(&self, md: &mut String) {
        let (o, s) = (
            self.added("ours", "rtt_p50_us"),
            self.added("socat", "rtt_p50_us"),
        );
        let (ratio, ok) = match (o, s) {
            (Some(o), Some(s)) => (
                if s > 0.0 {
                    format!("{:.2}×", o / s)
                } else {
                    "n/a".into()
                },
                o <= s,
            ),
            _ => ("n/a".into(), false),
        };
        let ours = format!("{} µs", o.map_or("—".into(), fmt_num));
        let socat = format!("{} µs", s.map_or("—".into(), fmt_num));
        goal_row(md, "added p50 latency ≤ socat's", &ours, &socat, &ratio, ok);
    }

    fn idle_pss_goal(&self, md: &mut String) {
        let pss = self.get("ours", "pss_per_session_kib");
        let req = self.get("ours", "idle_requested").unwrap_or(0.0);
        let alive = self.get("ours", "idle_alive_after").unwrap_or(-1.0);
        let verified = self.get("ours", "idle_verified").unwrap_or(-1.0);
        let all_alive = req > 0.0 && alive == req && verified == req;
        let ok = all_alive && pss.is_some_and(|p| p <= 24.0);
        let ours = format!(
            "{} KiB ({verified}/{req} verified, {alive}/{req} alive after)",
            pss.map_or("—".into(), fmt_num)
        );
        let ratio = pss.map_or("n/a".into(), |p| format!("{:.2}×", p / 24.0));
        let name = "≤ 24 KiB PSS per idle session, every session alive";
        goal_row(md, name, &ours, "24 KiB", &ratio, ok);
    }

    /// One goal row: `ours / reference >= min_ratio`.
    fn ratio_goal(&self, md: &mut String, name: &str, key: &str, reference: &str, min_ratio: f64) {
        let (ours, reference) = (self.get("ours", key), self.get(reference, key));
        let (ratio, ok) = match (ours, reference) {
            (Some(o), Some(r)) if r > 0.0 => (format!("{:.2}×", o / r), o / r >= min_ratio),
            _ => ("n/a".into(), false),
        };
        let ours = ours.map_or("—".into(), fmt_num);
        let reference = reference.map_or("—".into(), fmt_num);
        goal_row(md, name, &ours, &reference, &ratio, ok);
    }
}

/// One row of the goals table.
fn goal_row(md: &mut String, name: &str, ours: &str, reference: &str, ratio: &str, ok: bool) {
    let result = if ok { "PASS" } else { "MISS" };
    let _ = writeln!(md, "| {name} | {ours} | {reference} | {ratio} | {result} |");
}
