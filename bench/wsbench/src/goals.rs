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
const IDLE_MAX_KIB: f64 = 16.0;

/// A goal, in table order.
enum Goal {
    /// `ours / reference >= min_ratio` on `metric`: (name, metric, reference
    /// system, min_ratio).
    Ratio(&'static str, &'static str, &'static str, f64),
    /// `ours >= floor` on `metric`: (name, metric, floor).
    Floor(&'static str, &'static str, f64),
    /// Added p50 latency no more than socat's.
    AddedLatency,
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
    Goal::Floor(
        "64-byte msgs/s ≥ the 2026-11-25 run's",
        "up_64B_msgs",
        UP64_FLOOR,
    ),
    Goal::AddedLatency,
    Goal::Ratio("connections/s ≥ websocat's", "conn_rate", "websocat", 1.0),
    Goal::Attack,
    Goal::Bystander,
    Goal::Huge("binary"),
    Goal::Huge("none"),
    Goal::Huge("base64"),
    Goal::IdlePss,
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
            let r = t.get(reference, key);
            ratio_row(
                md,
                name,
                t.get("ours", key),
                r,
                &r.map_or("—".into(), fmt_num),
                min,
            )
        }
        Goal::Floor(name, key, floor) => ratio_row(
            md,
            name,
            t.get("ours", key),
            Some(floor),
            &fmt_num(floor),
            1.0,
        ),
        Goal::AddedLatency => added_latency(t, md),
        Goal::Attack => attack(t, md),
        Goal::Bystander => bystander(t, md),
        Goal::Huge(proto) => huge(t, md, proto),
        Goal::IdlePss => idle_pss(t, md),
    }
}

/// `ours / reference >= min`.
fn ratio_row(md: &mut String, name: &str, o: Option<f64>, r: Option<f64>, rs: &str, min: f64) {
    let (ratio, ok) = match (o, r) {
        (Some(o), Some(r)) if r > 0.0 => (format!("{:.2}×", o / r), o / r >= min),
        _ => ("n/a".into(), false),
    };
    goal_row(md, name, &o.map_or("—".into(), fmt_num), rs, &ratio, ok);
}

/// `value <= budget` and `ok`, the ratio being value / budget.
fn budget_row(
    md: &mut String,
    name: &str,
    v: Option<f64>,
    shown: &str,
    budget: (f64, &str),
    ok: bool,
) {
    let ratio = v.map_or("n/a".into(), |v| format!("{:.2}×", v / budget.0));
    let ok = ok && v.is_some_and(|v| v <= budget.0);
    goal_row(md, name, shown, budget.1, &ratio, ok);
}

/// Added latency: a difference, compared directly (it can be ~0).
fn added_latency(t: &Table, md: &mut String) {
    let (o, s) = (
        t.added("ours", "rtt_p50_us"),
        t.added("socat", "rtt_p50_us"),
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

fn attack(t: &Table, md: &mut String) {
    let g = |k: &str| t.get("ours", k);
    let kib = g("attack_pss_growth_kib");
    let n = g("attack_sessions").unwrap_or(0.0);
    let held = n > 0.0 && g("attack_opened") == Some(n) && g("attack_alive") == Some(n);
    let want = n * g("attack_sent_mib").unwrap_or(0.0);
    let delivered = g("attack_delivered_mib").is_some_and(|d| d >= want);
    let shown = format!(
        "{} MiB ({}/{n} held, {} MiB delivered)",
        kib.map_or("—".into(), |k| fmt_num(k / 1024.0)),
        g("attack_alive").unwrap_or(0.0),
        g("attack_delivered_mib").map_or("—".into(), fmt_num)
    );
    let name = "attack: PSS growth ≤ 64 MiB, every session held, all sent delivered";
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
    let shown = format!(
        "{} KiB ({})",
        kib.map_or("—".into(), fmt_num),
        if exact {
            "SHA-256 equal both ways"
        } else {
            "a transfer FAILED"
        }
    );
    let name = format!("1 GiB msg each way, `{proto}`: peak PSS growth ≤ 2 MiB, byte-exact");
    budget_row(md, &name, kib, &shown, (HUGE_MAX_KIB, "2,048 KiB"), exact);
}

fn idle_pss(t: &Table, md: &mut String) {
    let pss = t.get("ours", "pss_per_session_kib");
    let req = t.get("ours", "idle_requested").unwrap_or(0.0);
    let alive = t.get("ours", "idle_alive_after").unwrap_or(-1.0);
    let verified = t.get("ours", "idle_verified").unwrap_or(-1.0);
    let all_alive = req > 0.0 && alive == req && verified == req;
    let shown = format!(
        "{} KiB ({verified}/{req} verified, {alive}/{req} alive after)",
        pss.map_or("—".into(), fmt_num)
    );
    let name = "≤ 16 KiB PSS per idle session, every session alive";
    budget_row(md, name, pss, &shown, (IDLE_MAX_KIB, "16 KiB"), all_alive);
}

/// One row of the goals table.
fn goal_row(md: &mut String, name: &str, ours: &str, reference: &str, ratio: &str, ok: bool) {
    let result = if ok { "PASS" } else { "MISS" };
    let _ = writeln!(md, "| {name} | {ours} | {reference} | {ratio} | {result} |");
}
