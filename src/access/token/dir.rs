//! What the directory-backed plugins (`TokenFileName`,
//! `UnixDomainSocketDirectory`) share: the directory checked at start, a
//! lookup run off the event loop (it touches the file system), and one
//! spelling of "the source is unavailable".

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{TokenError, TokenTarget};

/// A token directory.
#[derive(Clone, Debug)]
pub(super) struct TokenDir {
    path: PathBuf,
}

impl TokenDir {
    /// The directory must exist now, as Python's constructors demand, so a
    /// typo is reported at start rather than as every token being unknown.
    pub(super) fn new(plugin: &str, source: &str) -> anyhow::Result<Self> {
        let meta = fs::metadata(source)
            .with_context(|| format!("{plugin} needs a directory: {source}"))?;
        if !meta.is_dir() {
            bail!("{plugin} needs a directory: {source} is not one");
        }
        Ok(Self {
            path: source.into(),
        })
    }

    /// The directory as configured.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `resolve(token)` on a blocking thread.
    pub(super) async fn lookup<F>(
        &self,
        token: &str,
        resolve: F,
    ) -> Result<Option<TokenTarget>, TokenError>
    where
        F: FnOnce(&str) -> Result<Option<TokenTarget>, TokenError> + Send + 'static,
    {
        let token = token.to_owned();
        tokio::task::spawn_blocking(move || resolve(&token))
            .await
            .map_err(|e| self.unavailable(io::Error::other(e)))?
    }

    /// The directory cannot be read: 503 for the client, a warning in the log.
    pub(super) fn unavailable(&self, e: io::Error) -> TokenError {
        TokenError::Unavailable {
            origin: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }
}
