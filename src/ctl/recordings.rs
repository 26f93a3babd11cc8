//! `websockifyctl recordings NAME [--user U] [--since YYYY-MM-DD]`: the
//! recordings of `record-sessions`, read from `index.jsonl` in the
//! instance's `record-dir` (else where the unit puts it,
//! `/var/lib/websockify/NAME/recordings`), one aligned line each.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

use super::pick::record_dir;
use super::Ctx;
use crate::session::record::INDEX;

/// `recordings` options.
#[derive(Args)]
pub struct RecordingsArgs {
    /// The instance.
    pub name: String,
    /// Only this user's sessions.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only sessions started on or after this day (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<String>,
}

/// Lists an instance's recordings.
pub fn run(ctx: &Ctx, args: RecordingsArgs) -> Result<ExitCode> {
    if let Some(day) = &args.since {
        check_day(day)?;
    }
    let dir = record_dir(ctx, &args.name)?;
    let path = dir.join(INDEX);
    let text = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "no recordings of websockify@{} ({} does not exist)",
                args.name,
                path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        read => read.with_context(|| format!("cannot read {}", path.display()))?,
    };
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| wanted(v, &args))
        .map(|v| row(&v, &dir))
        .collect();
    if rows.is_empty() {
        println!("no recordings of websockify@{} match", args.name);
        return Ok(ExitCode::SUCCESS);
    }
    use super::table::{render, Align::*};
    let header = [
        ("START", Left),
        ("USER", Left),
        ("CLIENT", Left),
        ("DURATION", Right),
        ("SIZE", Right),
        ("FILE", Left),
    ];
    print!("{}", render(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD`, or why not.
fn check_day(day: &str) -> Result<()> {
    let ok = humantime::parse_rfc3339(&format!("{day}T00:00:00Z")).is_ok();
    if !ok || day.len() != 10 {
        bail!("--since {day:?}: give a day as YYYY-MM-DD");
    }
    Ok(())
}

fn wanted(v: &Value, args: &RecordingsArgs) -> bool {
    let user_ok = args
        .user
        .as_deref()
        .is_none_or(|u| v["user"].as_str() == Some(u));
    // RFC 3339 UTC times sort as text.
    let since_ok = args
        .since
        .as_deref()
        .is_none_or(|d| v["start"].as_str().is_some_and(|s| s >= d));
    user_ok && since_ok
}

/// One line: start, user, client, duration, size, file (marked when
/// `record-max-total` or `record-max-age` removed it since).
fn row(v: &Value, dir: &Path) -> Vec<String> {
    let text = |key: &str, or: &str| safe(v[key].as_str().unwrap_or(or));
    let file = text("file", "?");
    let shown = match dir.join(&file).exists() {
        true => file,
        false => format!("{file} (removed)"),
    };
    vec![
        text("start", "?"),
        text("user", "-"),
        text("client", "?"),
        duration(v),
        v["size"]
            .as_u64()
            .map_or_else(|| "?".into(), |n| n.to_string()),
        shown,
    ]
}

/// A cell as is, or quoted with its control characters escaped when it has
/// any: a user name is whatever a client typed, and must not drive the
/// administrator's terminal.
fn safe(cell: &str) -> String {
    match cell.chars().any(char::is_control) {
        true => crate::access::users::shown(cell),
        false => cell.to_owned(),
    }
}

/// `end - start` in whole seconds, as `1h02m03s`.
fn duration(v: &Value) -> String {
    let at = |key: &str| {
        v[key]
            .as_str()
            .and_then(|s| humantime::parse_rfc3339(s).ok())
    };
    let (Some(start), Some(end)) = (at("start"), at("end")) else {
        return "?".into();
    };
    let secs = end.duration_since(start).map_or(0, |d| d.as_secs());
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, safe};

    #[test]
    fn a_user_name_cannot_drive_the_terminal() {
        assert_eq!(safe("alice"), "alice");
        assert_eq!(safe("a\u{1b}[2J"), "\"a\\u{1b}[2J\"");
    }

    #[test]
    fn durations_read_as_time() {
        let v = |s: &str, e: &str| serde_json::json!({"start": s, "end": e});
        assert_eq!(
            duration(&v("2026-12-07T14:00:00Z", "2026-12-07T14:00:09Z")),
            "9s"
        );
        assert_eq!(
            duration(&v("2026-12-07T14:00:00Z", "2026-12-07T15:02:03Z")),
            "1h02m03s"
        );
        assert_eq!(duration(&serde_json::json!({})), "?");
    }
}
