//! Creating `BASE.N` for a new recording, safely and without overwriting:
//! each file is created exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600),
//! so a symlink, FIFO or file planted at a name is skipped, never followed or
//! truncated; and numbering goes on after the highest `BASE.N` already there,
//! so a restarted proxy keeps the recordings of the previous run.
//!
//! Everything here blocks on the file system: callers run it off the event
//! loop (`spawn_blocking`).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Error, ErrorKind, Result};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use nix::fcntl::OFlag;

/// How many taken names are skipped before giving up on one session.
const TRIES: u64 = 1000;

/// The base in use and the next number to try; found by a directory scan the
/// first time a base is used (and again when a reload changes it).
static NEXT: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

/// Creates the next free `BASE.N` and returns its name and the open file.
pub(super) fn create_next(base: &Path) -> Result<(PathBuf, File)> {
    let mut next = NEXT.lock().unwrap_or_else(PoisonError::into_inner);
    let first = match &*next {
        Some((known, n)) if known == base => *n,
        _ => highest(base)?.saturating_add(1),
    };
    for n in first..first.saturating_add(TRIES) {
        let path = numbered(base, n);
        match create(&path) {
            Ok(file) => {
                *next = Some((base.to_owned(), n.saturating_add(1)));
                return Ok((path, file));
            }
            // Taken: a file from another process, or something planted there.
            Err(e) if is_taken(&e) => {
                log::debug!("{}: taken ({e}), trying the next", path.display())
            }
            Err(e) => return Err(e),
        }
    }
    *next = Some((base.to_owned(), first.saturating_add(TRIES)));
    Err(Error::new(
        ErrorKind::AlreadyExists,
        format!(
            "{TRIES} names from {} on are all taken",
            numbered(base, first).display()
        ),
    ))
}

/// `BASE.N`.
fn numbered(base: &Path, n: u64) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Creates `path` as a new file, never through a symlink.
pub(super) fn create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
}

/// `EEXIST` (anything at the name, symlinks included) or `ELOOP` (a symlink
/// met by `O_NOFOLLOW`).
pub(super) fn is_taken(e: &Error) -> bool {
    e.kind() == ErrorKind::AlreadyExists || e.raw_os_error() == Some(nix::libc::ELOOP)
}

/// The highest N of the `BASE.N` names in BASE's folder (0 when none).
fn highest(base: &Path) -> Result<u64> {
    let stem = base
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "the record base names no file"))?;
    let mut prefix = OsString::from(stem);
    prefix.push(".");
    let folder = match base.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut high = 0;
    for entry in std::fs::read_dir(folder)? {
        let name = entry?.file_name();
        if let Some(n) = number_after(name.as_bytes(), prefix.as_bytes()) {
            high = high.max(n);
        }
    }
    Ok(high)
}

/// N when `name` is `PREFIX` followed by decimal digits only.
fn number_after(name: &[u8], prefix: &[u8]) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{create_next, number_after};

    #[test]
    fn a_name_taken_after_the_scan_is_skipped_not_followed() {
        let dir = std::env::temp_dir().join(format!("record-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        std::fs::write(dir.join("s.4"), "earlier run").expect("write");
        let base = dir.join("s");
        let (first, _) = create_next(&base).expect("create");
        assert_eq!(first, dir.join("s.5"));
        // Planted between two sessions: a symlink at the next name.
        std::os::unix::fs::symlink(dir.join("victim"), dir.join("s.6")).expect("symlink");
        let (second, _) = create_next(&base).expect("create");
        assert_eq!(second, dir.join("s.7"));
        assert!(!dir.join("victim").exists(), "the symlink was followed");
        assert_eq!(
            std::fs::read_to_string(dir.join("s.4")).ok().as_deref(),
            Some("earlier run")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn numbers_only_plain_decimal_suffixes() {
        assert_eq!(number_after(b"session.12", b"session."), Some(12));
        assert_eq!(number_after(b"session.", b"session."), None);
        assert_eq!(number_after(b"session.1.bak", b"session."), None);
        assert_eq!(number_after(b"session.+3", b"session."), None);
        assert_eq!(number_after(b"other.3", b"session."), None);
        assert_eq!(
            number_after(b"session.99999999999999999999", b"session."),
            None
        );
    }
}
