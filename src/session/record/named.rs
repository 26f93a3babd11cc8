//! A `record-sessions` recording's file: `record-dir` made mode 0700 if
//! missing, old recordings pruned, then a new file (exclusive, mode 0600)
//! named by the UTC time, the session id and the user:
//! `20261207T144101Z-s17-alice.rec`. Runs off the event loop.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::config::Recordings;

/// How many `-N` suffixes are tried when a name is taken.
const TRIES: u32 = 100;

/// Creates the recording of session `id` of `user`.
pub(super) fn create(
    settings: &Recordings,
    id: u64,
    user: Option<&str>,
    start: SystemTime,
) -> std::io::Result<(PathBuf, File)> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.dir)?;
    warn_if_open(&settings.dir);
    super::prune::prune(&settings.dir, settings.max_total, settings.max_age);
    let stem = format!("{}-s{id}-{}", stamp(start), file_safe(user.unwrap_or("-")));
    let mut last = None;
    for n in 1..=TRIES {
        let name = match n {
            1 => format!("{stem}.rec"),
            _ => format!("{stem}-{n}.rec"),
        };
        let path = settings.dir.join(name);
        match super::open::create(&path) {
            Ok(file) => {
                super::prune::started(&path);
                return Ok((path, file));
            }
            Err(e) if super::open::is_taken(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
}

/// Says once per process when `record-dir` (made by someone else) lets
/// other users in: recordings hold what users saw, and may hold what they
/// typed.
fn warn_if_open(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "{}: record-dir has mode {mode:o}: other users may read recordings; chmod 700 it",
            dir.display()
        );
    }
}

/// `20261207T144101Z`: sorts as time does, and has no `:` for tools
/// that take it for a host.
fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// A user name as a file name part: letters, digits, `.`, `_` and `-`
/// kept, anything else `_`, at most 64 characters, never `.` or `..`.
fn file_safe(user: &str) -> String {
    let safe: String = user
        .chars()
        .take(64)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    match safe.as_str() {
        "" | "." | ".." => "_".into(),
        _ => safe,
    }
}

#[cfg(test)]
mod tests {
    use super::{file_safe, stamp};

    #[test]
    fn user_names_cannot_leave_the_folder() {
        assert_eq!(file_safe("alice"), "alice");
        assert_eq!(file_safe("../etc/passwd"), ".._etc_passwd");
        assert_eq!(file_safe(".."), "_");
        assert_eq!(file_safe("bob smith@corp"), "bob_smith_corp");
        assert_eq!(file_safe("é"), "_");
        assert_eq!(file_safe(&"x".repeat(300)).len(), 64);
    }

    #[test]
    fn names_start_with_the_utc_time() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(stamp(t), "20231114T221320Z");
    }
}
