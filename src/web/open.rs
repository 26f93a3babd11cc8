//! Opens the file a request names, confined beneath the web root. Every open
//! is `openat2(RESOLVE_BENEATH)` relative to a directory fd of the root taken
//! once (or, where a seccomp filter refuses `openat2`, the same done by hand
//! in `walk`), so no `..`, no symlink leading out (absolute or relative) and no
//! rename between a check and the open can reach a file outside the root.
//! The files the server picks itself (`dir/index.html`, `vnc.html` at `/`)
//! go through the same open: the check is the open, and the open is what is served.

use std::fs::{File, Metadata};
use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::access::refusal_log;

/// ENOSYS or EPERM: the call itself is refused (seccomp, old kernel).
fn unavailable(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(Errno::ENOSYS as i32) || code == Some(Errno::EPERM as i32)
}

/// Set once `openat2` answered ENOSYS or EPERM (a seccomp filter that does
/// not know it): from then on every open walks the path (`walk`).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// The web root as an `O_PATH` directory fd that every open is relative to.
#[derive(Debug)]
pub struct Root(OwnedFd);

/// A regular file opened beneath the root.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub meta: Metadata,
    /// The path (relative to the root) its content type comes from: the
    /// index file's, when a directory was asked for.
    pub name: PathBuf,
}

impl Root {
    /// Opens `dir` (canonical) and checks that an open beneath it works, so
    /// a problem shows at start rather than on every request.
    pub fn open(dir: &Path) -> io::Result<Root> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = Root(nix::fcntl::open(dir, flags, Mode::empty())?);
        root.open_beneath(Path::new(""))
            .map_err(|e| io::Error::new(e.kind(), format!("open beneath the web root: {e}")))?;
        Ok(root)
    }

    /// The regular file to serve for `relative` (plain names only): the file
    /// itself, or for a directory its `index.html`, and at the root `vnc.html`
    /// when there is no `index.html` (noVNC ships no `index.html`). `None`
    /// for anything else; a path that leads outside is logged as a refusal
    /// of the client `key`. Blocking: run it off the event loop.
    pub fn resolve(&self, relative: &Path, key: IpAddr) -> Option<Opened> {
        let (file, meta) = self.open_logged(relative, key)?;
        if meta.is_file() {
            let name = relative.to_owned();
            return Some(Opened { file, meta, name });
        }
        if !meta.is_dir() {
            return None;
        }
        let mut candidates = vec![relative.join("index.html")];
        if relative.as_os_str().is_empty() {
            candidates.push(PathBuf::from("vnc.html"));
        }
        candidates.into_iter().find_map(|name| {
            let (file, meta) = self.open_logged(&name, key)?;
            meta.is_file().then_some(Opened { file, meta, name })
        })
    }

    /// Opens and stats `relative`; a path that leads outside is logged.
    fn open_logged(&self, relative: &Path, key: IpAddr) -> Option<(File, Metadata)> {
        let opened = self
            .open_beneath(relative)
            .and_then(|file| Ok((file.metadata()?, file)));
        match opened {
            Ok((meta, file)) => Some((file, meta)),
            Err(e) if e.raw_os_error() == Some(Errno::EXDEV as i32) => {
                let path = relative.display();
                refusal_log::log(
                    key,
                    log::Level::Warn,
                    format_args!("refused {path}: it leads outside the web root"),
                );
                None
            }
            Err(e) => {
                log::debug!("{}: {e}", relative.display());
                None
            }
        }
    }

    /// `openat2` beneath the root; "" is the root itself. Non-blocking, so a
    /// FIFO in the root cannot hang the open (it is then refused as not a
    /// regular file); no magic links (`/proc/self/fd/N`).
    fn open_beneath(&self, relative: &Path) -> io::Result<File> {
        if NO_OPENAT2.load(Ordering::Relaxed) {
            return super::walk::open_beneath(&self.0, relative);
        }
        match self.openat2(relative) {
            Err(e) if unavailable(&e) => {
                if !NO_OPENAT2.swap(true, Ordering::Relaxed) {
                    log::info!("openat2 is not available here ({e}): confining the web root by walking each path");
                }
                super::walk::open_beneath(&self.0, relative)
            }
            other => other,
        }
    }

    fn openat2(&self, relative: &Path) -> io::Result<File> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let path = match relative.as_os_str().is_empty() {
            true => Path::new("."),
            false => relative,
        };
        Ok(File::from(openat2(&self.0, path, how)?))
    }
}
