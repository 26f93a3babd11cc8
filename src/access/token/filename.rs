//! `TokenFileName`: the token names a file in a directory, and that file
//! holds `host:port` (or `unix_socket:/path`).

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::{parse_target, redact, TokenError, TokenTarget};

/// More than any `host:port` needs; stops a token from making us read a big file.
const MAX_TARGET_FILE: u64 = 4096;

#[derive(Clone)]
pub(super) struct TokenFileName {
    dir: PathBuf,
}

impl TokenFileName {
    /// The directory must exist, as Python's constructor demands.
    pub(super) fn new(source: &str) -> anyhow::Result<Self> {
        let meta = fs::metadata(source)
            .with_context(|| format!("TokenFileName needs a directory: {source}"))?;
        if !meta.is_dir() {
            bail!("TokenFileName needs a directory: {source} is not one");
        }
        Ok(Self { dir: source.into() })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        let this = self.clone();
        let token = token.to_owned();
        tokio::task::spawn_blocking(move || this.read(&token))
            .await
            .map_err(|e| self.unavailable(io::Error::other(e)))?
    }

    fn read(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        // Python's `os.path.basename`: only the last path component counts,
        // so `../x` and `/etc/x` both mean the file `x` in the directory.
        let name = token.rsplit('/').next().unwrap_or_default();
        if matches!(name, "" | "." | "..") || name.contains('\0') {
            return Ok(None);
        }
        let path = self.dir.join(name);
        // Stat before opening: opening a FIFO someone left there would block.
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.dir.is_dir() {
                    return Err(self.unavailable(e));
                }
                return Ok(None);
            }
            Err(e) => return Err(self.unavailable(e)),
        };
        if !meta.is_file() {
            log::debug!(
                "{}: token {} is not a regular file",
                self.dir.display(),
                redact(token)
            );
            return Ok(None);
        }
        let file = fs::File::open(&path).map_err(|e| self.unavailable(e))?;
        let mut text = String::new();
        let bad = |reason: String| TokenError::BadData {
            origin: self.dir.display().to_string(),
            token: redact(token),
            reason,
        };
        file.take(MAX_TARGET_FILE)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("cannot read the file: {e}")))?;
        parse_target(&text).map(Some).map_err(bad)
    }

    fn unavailable(&self, e: io::Error) -> TokenError {
        TokenError::Unavailable {
            origin: self.dir.display().to_string(),
            reason: e.to_string(),
        }
    }
}

impl fmt::Display for TokenFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenFileName {}", self.dir.display())
    }
}
