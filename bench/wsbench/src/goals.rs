//! The goals of websockify-rs, judged on the figures of one run: mostly
//! ratios against a reference measured in the same run (socat, websocat),
//! and budgets for memory and the bystander's round trip. Owns the goal
//! list and the goals table under the report's main table.

use std::fmt::Write as _;

use crate::report::{fmt_num, Table};

/// The 64-byte messages/s of ours in the run of 2026-11-25 (the goal table of
/// docs/benchmark.md), which the streaming relay must not fall below.
const UP64_FLOOR: f64 = 5_958_210.0;
/// Budgets.
const ATTACK_MAX_KIB: f64 = 64.0 * 1024.0;
const BYSTANDER_MAX_MS: f64 = 50.0;
const HUGE_MAX_KIB: f64 = 2048.0;
/// Issue 25, goal 7: idle ≤ 8 KiB per session.
const IDLE_MAX_KIB: f64 = 8.0;

/// A goal, in table order. Names starting with `#25.N` are goal N of issue
/// 25; the others are earlier goals the product keeps.
enum Goal {
    /// `ours / reference >= min_ratio` on `metric`: (name, metric, reference
    /// system, min_ratio).
    Ratio(&'static str, &'static str, &'static str, f64),
    /// `ours / reference <= max_ratio` on a cost `metric` (CPU): (name,
    /// metric, reference system, max_ratio).
    RatioMax(&'static str, &'static str, &'static str, f64),
    /// `ours >= floor` on `metric`: (name, metric, floor).
    Floor(&'static str, &'static str, f64),
    /// Added p50 latency no more than socat's.
    AddedLatency,
    /// Ours over wss:// within 15 % of ours over ws:// (1 connection).
    TlsVsPlain,
    /// The load row: ours' proxy CPU ≤ 0.7× websocat's, every session held.
    LoadCpu,
    /// The load row: ours' input p99 under load ≤ 2× its idle p99.
    LoadP99,
    /// PSS growth under attack within budget, every session held and its
    /// part delivered.
    Attack,
    /// The bystander's p50 round trip under the budget.
    Bystander,
    /// Peak PSS growth during the huge messages of this subprotocol within
    /// budget, both directions byte-exact.
    Huge(&'static str),
    /// PSS per idle session within budget, every session alive.
    IdlePss,
}

/// A goal's outcome; a goal whose measure did not run is never met.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    Met,
    Short,
    NotMeasured,
}

impl Verdict {
    fn of(measured: bool, ok: bool) -> Self {
        match (measured, ok) {
            (false, _) => Verdict::NotMeasured,
            (true, true) => Verdict::Met,
            (true, false) => Verdict::Short,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Short => "short",
            Verdict::NotMeasured => "not measured",
        }
    }
}

const GOALS: &[Goal] = &[
    Goal::Ratio(
        "#25.1 target→client 1 conn, ws:// ≥ 1.5× socat",
        "down_c1_mbps",
        "socat",
        1.5,
    ),
    Goal::Ratio(
        "#25.2 target→client 1 conn, wss:// ≥ 1.2× socat's OPENSSL front",
        "down_tls_c1_mbps",
        "socat",
        1.2,
    ),
    Goal::TlsVsPlain,
    Goal::RatioMax(
        "#25.3 proxy CPU s per GB target→client (1 conn) ≤ 0.6× socat's",
        "down_c1_cpu_s_per_gb",
        "socat",
        0.6,
    ),
    Goal::Ratio(
        "#25.4 connections/s ≥ 1.2× websocat's",
        "conn_rate",
        "websocat",
        1.2,
    ),
    Goal::RatioMax(
        "#25.4 proxy CPU per connection ≤ websocat's",
        "conn_cpu_us",
        "websocat",
        1.0,
    ),
    Goal::Ratio(
        "#25.5 client→target 4 KiB ≥ 1.0× socat",
        "up_4096B_mbps",
        "socat",
        1.0,
    ),
    Goal::LoadCpu,
    Goal::LoadP99,
    Goal::Attack,
    Goal::Huge("binary"),
    Goal::Huge("none"),
    Goal::Huge("base64"),
    Goal::IdlePss,
    Goal::Ratio(
        "target→client 64 conns ≥ 1.0× socat",
        "down_c64_mbps",
        "socat",
        1.0,
    ),
    Goal::Floor(
        "64-byte msgs/s ≥ the 2026-11-25 run's",
        "up_64B_msgs",
        UP64_FLOOR,
    ),
    Goal::AddedLatency,
    Goal::Bystander,
];

pub fn render_goals(t: &Table, md: &mut String) {
    let _ = writeln!(md, "\n## Goals (websockify-rs, same run)\n");
    let _ = writeln!(md, "| goal | websockify-rs | reference | ratio | result |");
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    for g in GOALS {
        goal(t, md, g);
    }
}

fn goal(t: &Table, md: &mut String, goal: &Goal) {
    match *goal {
        Goal::Ratio(name, key, reference, min) => {
            let (o, r) = (t.get("ours", key), t.get(reference, key));
            let rs = r.map_or("—".into(), fmt_num);
            ratio_row(md, name, (o, r), &rs, |x| x >= min)
        }
        Goal::RatioMax(name, key, reference, max) => {
            let (o, r) = (t.get("ours", key), t.get(reference, key));
            let rs = r.map_or("—".into(), fmt_num);
            ratio_row(md, name, (o, r), &rs, |x| x <= max)
        }
        Goal::Floor(name, key, floor) => ratio_row(
            md,
            name,
            (t.get("ours", key), Some(floor)),
            &fmt_num(floor),
            |x| x >= 1.0,
        ),
        Goal::AddedLatency => added_latency(t, md),
        Goal::TlsVsPlain => tls_vs_plain(t, md),
        Goal::LoadCpu => load_cpu(t, md),
        Goal::LoadP99 => load_p99(t, md),
        Goal::Attack => attack(t, md),
        Goal::Bystander => bystander(t, md),
        Goal::Huge(proto) => huge(t, md, proto),
        Goal::IdlePss => idle_pss(t, md),
    }
}

/// `ok(ours / reference)`; not measured when either figure is missing.
fn ratio_row(
    md: &mut String,
    name: &str,
    (o, r): (Option<f64>, Option<f64>),
    rs: &str,
    ok: impl Fn(f64) -> bool,
) {
    let (ratio, v) = match (o, r) {
        (Some(o), Some(r)) if r > 0.0 => (format!("{:.2}×", o / r), Verdict::of(true, ok(o / r))),
        _ => ("n/a".into(), Verdict::NotMeasured),
    };
    goal_row(md, name, &o.map_or("—".into(), fmt_num), rs, &ratio, v);
}

/// `value <= budget` and `ok`, the ratio being value / budget; not measured
/// without a value.
fn budget_row(
    md: &mut String,
    name: &str,
    v: Option<f64>,
    shown: &str,
    budget: (f64, &str),
    ok: bool,
) {
    let ratio = v.map_or("n/a".into(), |v| format!("{:.2}×", v / budget.0));
    let verdict = Verdict::of(v.is_some(), ok && v.is_some_and(|v| v <= budget.0));
    goal_row(md, name, shown, budget.1, &ratio, verdict);
}

/// Added latency: a difference, compared directly (it can be ~0).
fn added_latency(t: &Table, md: &mut String) {
    let (o, s) = (
        t.added("ours", "rtt_p50_us"),
        t.added("socat", "rtt_p50_us"),
    );
    let (ratio, v) = match (o, s) {
        (Some(o), Some(s)) => (
            if s > 0.0 {
                format!("{:.2}×", o / s)
            } else {
                "n/a".into()
            },
            Verdict::of(true, o <= s),
        ),
        _ => ("n/a".into(), Verdict::NotMeasured),
    };
    let ours = format!("{} µs", o.map_or("—".into(), fmt_num));
    let socat = format!("{} µs", s.map_or("—".into(), fmt_num));
    goal_row(md, "added p50 latency ≤ socat's", &ours, &socat, &ratio, v);
}

/// Ours over wss:// against ours over ws://, one connection.
fn tls_vs_plain(t: &Table, md: &mut String) {
    let (tls, plain) = (
        t.get("ours", "down_tls_c1_mbps"),
        t.get("ours", "down_c1_mbps"),
    );
    let shown = format!("{} MB/s wss://", tls.map_or("—".into(), fmt_num));
    let rs = format!("{} MB/s ws://", plain.map_or("—".into(), fmt_num));
    let name = "#25.2 wss:// within 15 % of ws:// (ours, 1 conn)";
    let (ratio, v) = match (tls, plain) {
        (Some(a), Some(b)) if b > 0.0 => {
            (format!("{:.2}×", a / b), Verdict::of(true, a / b >= 0.85))
        }
        _ => ("n/a".into(), Verdict::NotMeasured),
    };
    goal_row(md, name, &shown, &rs, &ratio, v);
}

/// Sessions of the load row that failed (to open, or later), `None` if the
/// row did not run for `sys`.
fn load_failed(t: &Table, sys: &str) -> Option<f64> {
    t.get(sys, "load_sessions")?;
    Some(t.get(sys, "load_failed").unwrap_or(0.0))
}

fn load_cpu(t: &Table, md: &mut String) {
    let key = "load_proxy_cpu_s";
    let (o, w) = (t.get("ours", key), t.get("websocat", key));
    let failed = load_failed(t, "ours").unwrap_or(0.0);
    let shown = format!(
        "{} s ({failed} sessions failed)",
        o.map_or("—".into(), fmt_num)
    );
    let rs = format!("{} s", w.map_or("—".into(), fmt_num));
    let name = "#25.6 load: proxy CPU ≤ 0.7× websocat's, every session held";
    let (ratio, v) = match (o, w) {
        (Some(o), Some(w)) if w > 0.0 => (
            format!("{:.2}×", o / w),
            Verdict::of(true, o / w <= 0.7 && failed == 0.0),
        ),
        _ => ("n/a".into(), Verdict::NotMeasured),
    };
    goal_row(md, name, &shown, &rs, &ratio, v);
}

fn load_p99(t: &Table, md: &mut String) {
    let (l, i) = (
        t.get("ours", "load_rtt_p99_ms"),
        t.get("ours", "load_idle_rtt_p99_ms"),
    );
    let failed = load_failed(t, "ours").unwrap_or(0.0);
    let lost = t.get("ours", "load_lost_events").unwrap_or(0.0);
    let shown = format!(
        "{} ms under load ({failed} sessions failed, {lost} events lost)",
        l.map_or("—".into(), fmt_num)
    );
    let rs = format!("{} ms idle", i.map_or("—".into(), fmt_num));
    let name = "#25.6 load: input p99 ≤ 2× idle p99, every session held";
    let (ratio, v) = match (l, i) {
        (Some(l), Some(i)) if i > 0.0 => (
            format!("{:.2}×", l / i),
            Verdict::of(true, l / i <= 2.0 && failed == 0.0 && lost == 0.0),
        ),
        _ => ("n/a".into(), Verdict::NotMeasured),
    };
    goal_row(md, name, &shown, &rs, &ratio, v);
}

fn attack(t: &Table, md: &mut String) {
    let g = |k: &str| t.get("ours", k);
    let kib = g("attack_pss_growth_kib");
    let n = g("attack_sessions").unwrap_or(0.0);
    let held = n > 0.0 && g("attack_opened") == Some(n) && g("attack_alive") == Some(n);
    let want = n * g("attack_sent_mib").unwrap_or(0.0);
    let delivered = g("attack_delivered_mib").is_some_and(|d| d >= want);
    let shown = kib.map_or("—".into(), |k| {
        format!(
            "{} MiB ({}/{n} held, {} MiB delivered)",
            fmt_num(k / 1024.0),
            g("attack_alive").unwrap_or(0.0),
            g("attack_delivered_mib").map_or("—".into(), fmt_num)
        )
    });
    let name = "#25.7 attack: PSS growth ≤ 64 MiB, every session held, all sent delivered";
    budget_row(
        md,
        name,
        kib,
        &shown,
        (ATTACK_MAX_KIB, "64 MiB"),
        held && delivered,
    );
}

fn bystander(t: &Table, md: &mut String) {
    let p50 = t.get("ours", "attack_bystander_rtt_p50_ms");
    let max = t.get("ours", "attack_bystander_rtt_max_ms");
    let shown = match (p50, max) {
        (Some(p), Some(m)) => format!("{} ms (max {})", fmt_num(p), fmt_num(m)),
        _ => "—".into(),
    };
    let ok = p50.is_some_and(|p| p < BYSTANDER_MAX_MS);
    let name = "attack: bystander 4 KiB RTT p50 < 50 ms";
    budget_row(md, name, p50, &shown, (BYSTANDER_MAX_MS, "50 ms"), ok);
}

fn huge(t: &Table, md: &mut String, proto: &str) {
    let kib = t.get("ours", &format!("huge_{proto}_peak_growth_kib"));
    let ok_dir = |d: &str| t.get("ours", &format!("huge_{proto}_{d}_ok")) == Some(1.0);
    let exact = ok_dir("up") && ok_dir("down");
    let shown = match kib {
        None => "—".into(),
        Some(k) if exact => format!("{} KiB (SHA-256 equal both ways)", fmt_num(k)),
        Some(k) => format!("{} KiB (a transfer FAILED)", fmt_num(k)),
    };
    let name = format!("#25.7 1 GiB msg each way, `{proto}`: peak PSS growth ≤ 2 MiB, byte-exact");
    budget_row(md, &name, kib, &shown, (HUGE_MAX_KIB, "2,048 KiB"), exact);
}

fn idle_pss(t: &Table, md: &mut String) {
    let pss = t.get("ours", "pss_per_session_kib");
    let req = t.get("ours", "idle_requested").unwrap_or(0.0);
    let alive = t.get("ours", "idle_alive_after").unwrap_or(-1.0);
    let verified = t.get("ours", "idle_verified").unwrap_or(-1.0);
    let all_alive = req > 0.0 && alive == req && verified == req;
    let shown = pss.map_or("—".into(), |p| {
        format!(
            "{} KiB ({verified}/{req} verified, {alive}/{req} alive after)",
            fmt_num(p)
        )
    });
    let name = "#25.7 ≤ 8 KiB PSS per idle session, every session alive";
    budget_row(md, name, pss, &shown, (IDLE_MAX_KIB, "8 KiB"), all_alive);
}

/// One row of the goals table.
fn goal_row(md: &mut String, name: &str, ours: &str, reference: &str, ratio: &str, v: Verdict) {
    let _ = writeln!(
        md,
        "| {name} | {ours} | {reference} | {ratio} | {} |",
        v.word()
    );
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn a_goal_not_measured_is_never_met() {
        assert_eq!(Verdict::of(false, true), Verdict::NotMeasured);
        assert_eq!(Verdict::of(true, true), Verdict::Met);
        assert_eq!(Verdict::of(true, false), Verdict::Short);
    }
}
