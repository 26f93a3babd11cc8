//! Writing files so that nobody sees half of one: a temporary file beside
//! the target, fsynced, then renamed over it (or linked, when an existing
//! file must not be replaced), with the mode (and group) it is created with.

use std::fs::{File, Metadata};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

pub use crate::atomic_file::parent;
use crate::atomic_file::{create_temp, sync_dir, temp_name, write_synced, RemoveOnDrop};

/// The group the services run as (sysusers makes it at installation).
pub const SERVICE_GROUP: &str = "websockify";

/// How [`write`] treats an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it.
    Replace,
    /// Fail, naming it.
    Refuse,
}

/// Writes `data` to `path` with `mode` and, when given, group `gid`.
pub fn write(
    path: &Path,
    data: &[u8],
    mode: u32,
    gid: Option<u32>,
    existing: Existing,
) -> Result<()> {
    let tmp = temp_name(path);
    let _guard = RemoveOnDrop(&tmp);
    write_temp(&tmp, data, mode, gid)?;
    match existing {
        Existing::Replace => std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?,
        Existing::Refuse => std::fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow!("{}: exists; refusing to overwrite it", path.display())
            } else {
                anyhow!("cannot create {}: {e}", path.display())
            }
        })?,
    }
    sync_dir(parent(path))
}

fn write_temp(tmp: &Path, data: &[u8], mode: u32, gid: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = create_temp(tmp, mode)?;
    if let Some(gid) = gid {
        std::os::unix::fs::fchown(&file, None, Some(gid))
            .with_context(|| format!("cannot give {} group {gid}", tmp.display()))?;
    }
    // The umask may have taken bits away; the mode is what was asked.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", tmp.display()))?;
    write_synced(file, tmp, data)
}

/// Opens `path`, a file websockifyctl is about to rewrite, for reading;
/// `None` when it does not exist. Opened with `O_NOFOLLOW` and refused
/// unless it is a regular file: through a symlink, the file it points to
/// (say /etc/shadow) would be copied into the new file, which the service's
/// group may read; a FIFO would block (hence `O_NONBLOCK` too).
pub fn open_regular(path: &Path) -> Result<Option<(File, Metadata)>> {
    use nix::libc::{O_NOFOLLOW, O_NONBLOCK};
    use std::os::unix::fs::OpenOptionsExt as _;
    let refused = |what: &str| {
        anyhow!(
            "{}: not a regular file ({what}): refusing to rewrite it",
            path.display()
        )
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW | O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(refused("a symbolic link"))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        return Err(refused("a directory, device, FIFO or socket"));
    }
    Ok(Some((file, meta)))
}

/// The text of `path` (see [`open_regular`]) and its metadata, for
/// rewriting it; `None` when it does not exist.
pub fn read_regular(path: &Path) -> Result<Option<(String, Metadata)>> {
    let Some((mut file, meta)) = open_regular(path)? else {
        return Ok(None);
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some((text, meta)))
}

/// The group id of [`SERVICE_GROUP`], if that group exists.
pub fn service_gid() -> Option<u32> {
    nix::unistd::Group::from_name(SERVICE_GROUP)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Creates directory `dir` with `mode` (and the service group) if missing.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        return Ok(());
    }
    if !parent(dir).is_dir() {
        bail!("{}: no such directory", parent(dir).display());
    }
    std::fs::DirBuilder::new()
        .mode(mode)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(gid) = service_gid() {
        std::os::unix::fs::chown(dir, None, Some(gid))
            .with_context(|| format!("cannot give {} group {SERVICE_GROUP}", dir.display()))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))
}

/// `PATH.removed-YYYYMMDDTHHMMSS` (UTC), with `-N` added if that exists.
pub fn aside_name(path: &Path) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let base = format!("{}.removed-{stamp}", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.symlink_metadata().is_ok() {
        n += 1;
        candidate = PathBuf::from(format!("{base}-{n}"));
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a regular file is read for rewriting; a FIFO is refused at
    /// once instead of blocking.
    #[test]
    fn only_regular_files_are_opened() {
        let dir = std::env::temp_dir().join(format!("ctl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "text\n").unwrap();
        let (text, _) = read_regular(&file).unwrap().unwrap();
        assert_eq!(text, "text\n");
        assert!(read_regular(&dir.join("missing")).unwrap().is_none());
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for refused in [&link, &fifo, &dir] {
            let e = read_regular(refused).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
