//! Opens the file a request names, confined beneath the web root. Every open
//! is `openat2(RESOLVE_BENEATH)` relative to a directory fd of the root taken
//! once, so no `..`, no symlink leading out (absolute or relative) and no
//! rename between a check and the open can reach a file outside the root.
//! The files the server picks itself (`dir/index.html`, `vnc.html` at `/`)
//! go through the same open: the check is the open, and the open is what is served.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

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
    /// Opens `dir` (canonical) and checks that `openat2` works here, so a
    /// kernel without it (Linux < 5.6, or a seccomp filter) fails at start
    /// rather than on every request.
    pub fn open(dir: &Path) -> io::Result<Root> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = Root(nix::fcntl::open(dir, flags, Mode::empty())?);
        root.open_beneath(Path::new(""))
            .map_err(|e| io::Error::new(e.kind(), format!("openat2 beneath the web root: {e}")))?;
        Ok(root)
    }

    /// The regular file to serve for `relative` (plain names only): the file
    /// itself, or for a directory its `index.html`, and at the root `vnc.html`
    /// when there is no `index.html` (noVNC ships no `index.html`). `None`
    /// for anything else. Blocking: run it off the event loop.
    pub fn resolve(&self, relative: &Path) -> Option<Opened> {
        let (file, meta) = self.open_logged(relative)?;
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
            let (file, meta) = self.open_logged(&name)?;
            meta.is_file().then_some(Opened { file, meta, name })
        })
    }

    /// Opens and stats `relative`; a path that leads outside is logged.
    fn open_logged(&self, relative: &Path) -> Option<(File, Metadata)> {
        let opened = self
            .open_beneath(relative)
            .and_then(|file| Ok((file.metadata()?, file)));
        match opened {
            Ok((meta, file)) => Some((file, meta)),
            Err(e) if e.raw_os_error() == Some(Errno::EXDEV as i32) => {
                log::warn!(
                    "refused {}: it leads outside the web root",
                    relative.display()
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
