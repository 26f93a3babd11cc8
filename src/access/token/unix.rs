//! `UnixDomainSocketDirectory`: the token names a unix socket inside a
//! directory.
//!
//! Python 0.13 checks `abspath(join(dir, token)).startswith(dir)`, which a
//! sibling directory sharing the prefix (`/srv/socks-evil` for `/srv/socks`)
//! and symlinks defeat (and its master branch stopped normalising `..`). Here
//! both paths are canonicalised (symlinks and `..` resolved) and compared by
//! whole components, so no token reaches a socket outside the directory.

use std::fmt;
use std::fs;
use std::os::unix::fs::FileTypeExt;

use super::dir::TokenDir;
use super::{redact, TokenError, TokenTarget};

#[derive(Clone)]
pub(super) struct SocketDirectory {
    dir: TokenDir,
}

impl SocketDirectory {
    pub(super) fn new(source: &str) -> anyhow::Result<Self> {
        Ok(Self {
            dir: TokenDir::new("UnixDomainSocketDirectory", source)?,
        })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        let this = self.clone();
        self.dir.lookup(token, move |t| this.resolve(t)).await
    }

    fn resolve(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        if token.is_empty() || token.contains('\0') {
            return Ok(None);
        }
        // Resolved on every lookup: the directory may be recreated (tmpfs
        // under /run) or be a symlink that an administrator re-points.
        let dir = fs::canonicalize(self.dir.path()).map_err(|e| self.dir.unavailable(e))?;
        let path = match fs::canonicalize(dir.join(token)) {
            Ok(path) => path,
            // Missing, a path through a non-directory, a loop, no permission:
            // all just "no such socket" to a client that asked for it.
            Err(e) => {
                log::debug!(
                    "{}: token {}: {e}",
                    self.dir.path().display(),
                    redact(token)
                );
                return Ok(None);
            }
        };
        if path == dir || !path.starts_with(&dir) {
            log::warn!(
                "{}: token {} points outside the directory; refused",
                self.dir.path().display(),
                redact(token)
            );
            return Ok(None);
        }
        match fs::metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => Ok(Some(TokenTarget::Unix(path))),
            Ok(_) => {
                log::debug!(
                    "{}: token {} is not a socket",
                    self.dir.path().display(),
                    redact(token)
                );
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }
}

impl fmt::Display for SocketDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixDomainSocketDirectory {}", self.dir.path().display())
    }
}
