//! `record-max-age` and `record-max-total`: before a new recording starts,
//! recordings older than the age go, then the oldest until all of them take
//! less than the total. Each removal is logged. Runs off the event loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One recording found in the folder.
struct Found {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

/// Removes what `max_age` and `max_total` (0: no cap) no longer allow.
pub(super) fn prune(dir: &Path, max_total: u64, max_age: Option<Duration>) {
    let mut found = match recordings(dir) {
        Ok(found) => found,
        Err(e) => return log::warn!("{}: cannot list recordings: {e}", dir.display()),
    };
    let now = SystemTime::now();
    let old = |f: &Found| {
        max_age.is_some_and(|age| now.duration_since(f.modified).is_ok_and(|d| d > age))
    };
    found.retain(|f| {
        if !old(f) {
            return true;
        }
        remove(f, "older than record-max-age");
        false
    });
    if max_total == 0 {
        return;
    }
    let mut total: u64 = found.iter().map(|f| f.size).sum();
    for f in &found {
        if total < max_total {
            break;
        }
        remove(f, "record-max-total reached");
        total = total.saturating_sub(f.size);
    }
}

fn remove(f: &Found, why: &str) {
    match std::fs::remove_file(&f.path) {
        Ok(()) => log::info!("{}: recording removed: {why}", f.path.display()),
        // Another session's prune got there first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("{}: cannot remove recording: {e}", f.path.display()),
    }
}

/// The regular `*.rec` files of `dir`, oldest first (their names start with
/// the UTC time they were started).
fn recordings(dir: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rec") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        found.push(Found {
            path,
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}
