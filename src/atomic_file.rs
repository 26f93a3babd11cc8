//! The pieces of writing a file so that nobody sees half of it, shared by the
//! generated certificate (`tls::cert`) and `websockifyctl`'s files: a
//! temporary file beside the target, created new with its mode, written and
//! fsynced, then linked or renamed by the caller, and the directory synced.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

/// The directory a file is in (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.NAME.tmp-PID-NANOS` beside `path`.
pub fn temp_name(path: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    parent(path).join(name)
}

/// Creates `tmp`, which must not exist, with `mode` (less the umask).
pub fn create_temp(tmp: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))
}

/// Writes `data` to the temporary file and fsyncs it.
pub fn write_synced(mut file: File, tmp: &Path, data: &[u8]) -> Result<()> {
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))
}

/// Fsyncs `dir`, so the new directory entry survives a crash too.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// Removes the temporary file when dropped, whatever happened.
pub struct RemoveOnDrop<'a>(pub &'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}
