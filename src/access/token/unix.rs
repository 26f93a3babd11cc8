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
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::{redact, TokenError, TokenTarget};

#[derive(Clone)]
pub(super) struct SocketDirectory {
    dir: PathBuf,
}

impl SocketDirectory {
    /// The directory must exist now, so that a typo is reported at start
    /// rather than as every token being unknown.
    pub(super) fn new(source: &str) -> anyhow::Result<Self> {
        let meta = fs::metadata(source)
            .with_context(|| format!("UnixDomainSocketDirectory needs a directory: {source}"))?;
        if !meta.is_dir() {
            bail!("UnixDomainSocketDirectory needs a directory: {source} is not one");
        }
        Ok(Self { dir: source.into() })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        let this = self.clone();
        let token = token.to_owned();
        tokio::task::spawn_blocking(move || this.resolve(&token))
            .await
            .map_err(|e| self.unavailable(io::Error::other(e)))?
    }

    fn resolve(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        if token.is_empty() || token.contains('\0') {
            return Ok(None);
        }
        // Resolved on every lookup: the directory may be recreated (tmpfs
        // under /run) or be a symlink that an administrator re-points.
        let dir = fs::canonicalize(&self.dir).map_err(|e| self.unavailable(e))?;
        let path = match fs::canonicalize(dir.join(token)) {
            Ok(path) => path,
            // Missing, a path through a non-directory, a loop, no permission:
            // all just "no such socket" to a client that asked for it.
            Err(e) => {
                log::debug!("{}: token {}: {e}", self.dir.display(), redact(token));
                return Ok(None);
            }
        };
        if path == dir || !path.starts_with(&dir) {
            log::warn!(
                "{}: token {} points outside the directory; refused",
                self.dir.display(),
                redact(token)
            );
            return Ok(None);
        }
        match fs::metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => Ok(Some(TokenTarget::Unix(path))),
            Ok(_) => {
                log::debug!(
                    "{}: token {} is not a socket",
                    self.dir.display(),
                    redact(token)
                );
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    fn unavailable(&self, e: io::Error) -> TokenError {
        TokenError::Unavailable {
            origin: self.dir.display().to_string(),
            reason: e.to_string(),
        }
    }
}

impl fmt::Display for SocketDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixDomainSocketDirectory {}", self.dir.display())
    }
}
