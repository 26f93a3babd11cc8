//! Confinement where `openat2` is not available (a seccomp filter that does
//! not know it answers ENOSYS, as some systemd versions' `@system-service`
//! does): the path is walked one name at a time, each opened relative to the
//! directory fd before it with `O_NOFOLLOW`, and every symlink is resolved
//! here, within the root. Nothing is ever opened by a path the kernel would
//! resolve on its own, so no symlink or rename can lead outside: the same
//! guarantee as `RESOLVE_BENEATH`, at the cost of a few more system calls.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

/// Symlinks followed in one walk before it counts as a loop (as `ELOOP`).
const MAX_LINKS: usize = 40;

/// Opens `relative` beneath `root` for reading: a regular file, or a
/// directory (so the caller can look for its index file). `EXDEV` when the
/// path or a symlink on it would leave the root, `ELOOP` for a symlink loop.
pub(super) fn open_beneath(root: &OwnedFd, relative: &Path) -> io::Result<File> {
    let mut dirs: Vec<OwnedFd> = vec![root.try_clone()?];
    let mut names: VecDeque<OsString> = components(relative)?;
    let mut links = 0;
    while let Some(name) = names.pop_front() {
        if name == ".." {
            if dirs.len() == 1 {
                return Err(Errno::EXDEV.into());
            }
            dirs.pop();
            continue;
        }
        let dir = dirs.last().ok_or(Errno::EXDEV)?;
        let fd = openat(
            dir.as_fd(),
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        match kind(&fd)? {
            SFlag::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::ELOOP.into());
                }
                let target = readlinkat(dir.as_fd(), name.as_os_str())?;
                prepend(&mut names, components(Path::new(&target))?);
            }
            SFlag::S_IFDIR => dirs.push(fd),
            _ if names.is_empty() => return read_only(dir, &name),
            _ => return Err(Errno::ENOTDIR.into()),
        }
    }
    let last = dirs.last().ok_or(Errno::EXDEV)?;
    read_only(last, OsStr::new("."))
}

/// The names of a relative path ("" and "." dropped, ".." kept); an absolute
/// path would leave the root.
fn components(path: &Path) -> io::Result<VecDeque<OsString>> {
    let mut out = VecDeque::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push_back(name.to_owned()),
            Component::ParentDir => out.push_back(OsString::from("..")),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(Errno::EXDEV.into()),
        }
    }
    Ok(out)
}

fn prepend(names: &mut VecDeque<OsString>, first: VecDeque<OsString>) {
    for name in first.into_iter().rev() {
        names.push_front(name);
    }
}

fn kind(fd: &OwnedFd) -> io::Result<SFlag> {
    let st = fstat(fd)?;
    Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

/// Opens `name` in `dir` for reading, not following a symlink; non-blocking,
/// so a FIFO cannot hang the open.
fn read_only(dir: &OwnedFd, name: &OsStr) -> io::Result<File> {
    debug_assert!(!name.as_bytes().contains(&b'/'));
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_CLOEXEC
        | OFlag::O_NOCTTY
        | OFlag::O_NONBLOCK;
    Ok(File::from(openat(dir.as_fd(), name, flags, Mode::empty())?))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::os::unix::fs::symlink;

    use super::*;

    /// root/{a.txt, sub/index.html, inner -> sub/index.html, up -> ../outside.txt,
    /// abs -> /etc/hostname, loop -> loop, dots -> sub/../a.txt, dirlink -> sub}
    fn tree() -> (std::path::PathBuf, OwnedFd) {
        let base = std::env::temp_dir().join(format!("walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(base.join("outside.txt"), "secret").unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("sub/index.html"), "index").unwrap();
        symlink("sub/index.html", root.join("inner")).unwrap();
        symlink("../outside.txt", root.join("up")).unwrap();
        symlink("/etc/hostname", root.join("abs")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("sub/../a.txt", root.join("dots")).unwrap();
        symlink("sub", root.join("dirlink")).unwrap();
        let fd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        (base, fd)
    }

    fn read(fd: &OwnedFd, path: &str) -> io::Result<String> {
        let mut s = String::new();
        open_beneath(fd, Path::new(path))?.read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn symlinks_inside_work_and_every_way_out_is_refused() {
        let (base, root) = tree();
        assert_eq!(read(&root, "a.txt").unwrap(), "a");
        assert_eq!(read(&root, "inner").unwrap(), "index");
        assert_eq!(read(&root, "dots").unwrap(), "a");
        assert_eq!(read(&root, "dirlink/index.html").unwrap(), "index");
        let code = |p: &str| {
            open_beneath(&root, Path::new(p))
                .unwrap_err()
                .raw_os_error()
        };
        assert_eq!(code("up"), Some(Errno::EXDEV as i32));
        assert_eq!(code("abs"), Some(Errno::EXDEV as i32));
        assert_eq!(code("../outside.txt"), Some(Errno::EXDEV as i32));
        assert_eq!(code("loop"), Some(Errno::ELOOP as i32));
        assert_eq!(code("a.txt/x"), Some(Errno::ENOTDIR as i32));
        assert!(open_beneath(&root, Path::new(""))
            .unwrap()
            .metadata()
            .unwrap()
            .is_dir());
        let _ = std::fs::remove_dir_all(base);
    }
}
