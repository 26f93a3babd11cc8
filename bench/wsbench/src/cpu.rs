//! CPU time of a proxy, from `/proc/PID/stat`: user and system time of the
//! process and of its children it has waited for (socat and Python websockify
//! fork a process per connection, and reap it when it ends).
//!
//! Why: connections/s on a shared 2-core machine mostly measures who got the
//! CPU; the CPU a proxy spends per connection does not depend on the load
//! around it, so it compares proxies' set-up cost fairly.

use anyhow::{anyhow, Context, Result};
use nix::unistd::{sysconf, SysconfVar};

/// Seconds of CPU (utime + stime + cutime + cstime) used by `pid` so far.
pub fn cpu_secs(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("{path}: no ')' after the command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14..=17 of stat(5); `rest` starts at field 3.
    let ticks: u64 = fields
        .get(11..15)
        .ok_or_else(|| anyhow!("{path}: too few fields"))?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()
        .with_context(|| format!("{path}: CPU times are not numbers"))?;
    let per_sec = sysconf(SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    Ok(ticks as f64 / per_sec)
}
