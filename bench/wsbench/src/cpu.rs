//! CPU time of a proxy, from `/proc/PID/stat`: user and system time of the
//! process and of its children it has waited for (socat and Python websockify
//! fork a process per connection, and reap it when it ends).
//!
//! While connections are open, socat's and Python websockify's children are
//! alive and not reaped yet: [`tree_cpu_secs`] adds the CPU of every process
//! of the tree (a child that ends meanwhile moves into its parent's
//! `cutime`/`cstime`, so it is counted once either way).
//!
//! Why: connections/s on a shared 2-core machine mostly measures who got the
//! CPU; the CPU a proxy spends per connection does not depend on the load
//! around it, so it compares proxies' set-up cost fairly.

use anyhow::{anyhow, Context, Result};
use nix::unistd::{sysconf, SysconfVar};

/// Seconds of CPU (utime + stime + cutime + cstime) used by `pid` so far.
pub fn cpu_secs(pid: u32) -> Result<f64> {
    stat_cpu_secs(&format!("/proc/{pid}/stat"))
}

/// Seconds of CPU used by this process (the load client) so far.
pub fn own_cpu_secs() -> Result<f64> {
    stat_cpu_secs("/proc/self/stat")
}

/// Seconds of CPU used by `root` and every live descendant so far: the
/// proxy's cost while per-connection children are still running.
pub fn tree_cpu_secs(root: u32) -> Result<f64> {
    let children = crate::pss::children_by_parent()?;
    let mut total = cpu_secs(root)?;
    let mut stack: Vec<u32> = children.get(&root).cloned().unwrap_or_default();
    let mut seen = std::collections::HashSet::from([root]);
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        // A child may end while we scan: its time is then in the parent's.
        if let Ok(s) = cpu_secs(pid) {
            total += s;
        }
        if let Some(c) = children.get(&pid) {
            stack.extend(c);
        }
    }
    Ok(total)
}

fn stat_cpu_secs(path: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
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
