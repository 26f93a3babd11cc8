//! `TokenFileName`: the token names a file in a directory, and that file
//! holds `host:port` (or `unix_socket:/path`).

use std::fmt;
use std::fs;
use std::io::{self, Read};

use super::dir::TokenDir;
use super::{parse_target, redact, TokenError, TokenTarget};

/// More than any `host:port` needs; stops a token from making us read a big file.
const MAX_TARGET_FILE: u64 = 4096;

#[derive(Clone)]
pub(super) struct TokenFileName {
    dir: TokenDir,
}

impl TokenFileName {
    pub(super) fn new(source: &str) -> anyhow::Result<Self> {
        Ok(Self {
            dir: TokenDir::new("TokenFileName", source)?,
        })
    }

    pub(super) async fn lookup(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        let this = self.clone();
        self.dir.lookup(token, move |t| this.read(t)).await
    }

    fn read(&self, token: &str) -> Result<Option<TokenTarget>, TokenError> {
        // Python's `os.path.basename`: only the last path component counts,
        // so `../x` and `/etc/x` both mean the file `x` in the directory.
        let name = token.rsplit('/').next().unwrap_or_default();
        if matches!(name, "" | "." | "..") || name.contains('\0') {
            return Ok(None);
        }
        let path = self.dir.path().join(name);
        // Stat before opening: opening a FIFO someone left there would block.
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.dir.path().is_dir() {
                    return Err(self.dir.unavailable(e));
                }
                return Ok(None);
            }
            Err(e) => return Err(self.dir.unavailable(e)),
        };
        if !meta.is_file() {
            log::debug!(
                "{}: token {} is not a regular file",
                self.dir.path().display(),
                redact(token)
            );
            return Ok(None);
        }
        let file = fs::File::open(&path).map_err(|e| self.dir.unavailable(e))?;
        let mut text = String::new();
        let bad = |reason: anyhow::Error| TokenError::BadData {
            origin: self.dir.path().display().to_string(),
            token: redact(token),
            reason: format!("{reason:#}"),
        };
        file.take(MAX_TARGET_FILE)
            .read_to_string(&mut text)
            .map_err(|e| bad(anyhow::anyhow!("cannot read the file: {e}")))?;
        parse_target(&text).map(Some).map_err(bad)
    }
}

impl fmt::Display for TokenFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenFileName {}", self.dir.path().display())
    }
}
