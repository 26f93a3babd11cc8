//! `record-max-age` and `record-max-total`: before a new recording starts,
//! recordings older than the age go, then the oldest until all of them take
//! less than the total. Each removal is logged. Recordings still being
//! written (another session's) are never removed. Runs off the event loop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The recordings being written now: pruning leaves them alone, or a
/// small `record-max-total` would unlink a live session's file under it.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// `path` is being written: not to be pruned until [`finished`].
pub(super) fn started(path: &Path) {
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.insert(path.to_owned());
}

/// `path` is complete: it may be pruned from now on.
pub(super) fn finished(path: &Path) {
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.remove(path);
}

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
    {
        let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        found.retain(|f| !live.contains(&f.path));
    }
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
