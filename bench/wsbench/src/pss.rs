//! Memory of a proxy: the sum of `Pss` over a process tree, read from
//! `/proc`. A tree, not one process, because Python websockify and socat
//! fork a process per connection; PSS, not RSS, so pages shared between
//! those processes are counted once. [`PeakSampler`] follows the peak of
//! that sum while a measurement runs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

/// Sum of `Pss` over the process tree rooted at `root`, in KiB, and the
/// number of processes (Python websockify and socat fork per connection).
pub fn tree_pss_kib(root: u32) -> Result<(u64, usize)> {
    let children = children_by_parent()?;
    let mut stack = vec![root];
    let mut seen = HashSet::new();
    let (mut total, mut procs) = (0u64, 0usize);
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        match std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            Ok(s) => {
                let pss = pss_kib(&s)
                    .ok_or_else(|| anyhow!("no Pss line in /proc/{pid}/smaps_rollup"))?;
                total += pss;
                procs += 1;
            }
            Err(e) if pid == root => {
                return Err(e).with_context(|| format!("read /proc/{pid}/smaps_rollup"))
            }
            Err(_) => continue,
        }
        if let Some(c) = children.get(&pid) {
            stack.extend(c);
        }
    }
    Ok((total, procs))
}

/// Every process's children, by parent pid (also for [`crate::cpu`]).
pub fn children_by_parent() -> Result<HashMap<u32, Vec<u32>>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    Ok(children)
}

/// The parent pid from `/proc/PID/stat`; `None` if the process has exited
/// meanwhile.
fn parent_of(pid: u32) -> Option<u32> {
    // A process may exit while we scan.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = stat.rfind(')').map(|i| &stat[i + 1..])?;
    rest.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u32>().ok())
}

/// The `Pss:` value of a `smaps_rollup`, in KiB.
fn pss_kib(smaps_rollup: &str) -> Option<u64> {
    smaps_rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
}

/// Samples the PSS of a process tree on a thread of its own every `every`
/// until stopped, keeping the highest value.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, usize)>,
}

impl PeakSampler {
    pub fn start(root: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut peak, mut samples) = (0u64, 0usize);
            while !flag.load(Ordering::Relaxed) {
                if let Ok((kib, _)) = tree_pss_kib(root) {
                    peak = peak.max(kib);
                    samples += 1;
                }
                std::thread::sleep(every);
            }
            (peak, samples)
        });
        PeakSampler { stop, thread }
    }

    /// Stop; the peak PSS in KiB and the number of samples taken.
    pub fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}
