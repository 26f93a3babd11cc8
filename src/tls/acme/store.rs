//! What ACME keeps under `acme-state`: the account (`account.json`) and the
//! last certificate with its key (`cert.pem`, `key.pem`), each mode 0600,
//! each written to a temporary file, fsynced and renamed over the old one
//! (`atomic_file`), so a crash never leaves half a key or a certificate
//! without its key's match: the key is renamed first and a mismatched pair
//! is ignored at the next start, which orders anew.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::atomic_file::{create_temp, parent, sync_dir, temp_name, write_synced, RemoveOnDrop};

/// The files of one `acme-state` directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// `account.json`: the ACME account and the directory it belongs to.
#[derive(Serialize, Deserialize)]
pub struct StoredAccount {
    /// The ACME directory URL the account was made on.
    pub directory: String,
    /// instant-acme's credentials: account URL and private key.
    pub credentials: instant_acme::AccountCredentials,
}

impl Store {
    /// The state directory `dir`; created (mode 0700) when first written.
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_owned(),
        }
    }

    /// The directory, for messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored account, if it was made on `directory`.
    pub fn account(&self, directory: &str) -> Option<StoredAccount> {
        let text = std::fs::read(self.dir.join("account.json")).ok()?;
        let stored: StoredAccount = serde_json::from_slice(&text).ok()?;
        (stored.directory == directory).then_some(stored)
    }

    /// Keeps the account (mode 0600).
    pub fn save_account(&self, account: &StoredAccount) -> Result<()> {
        let json = serde_json::to_vec_pretty(account).context("account to JSON")?;
        self.write("account.json", &json)
    }

    /// Forgets the account (the server no longer knows it).
    pub fn drop_account(&self) {
        let _ = std::fs::remove_file(self.dir.join("account.json"));
    }

    /// The last certificate chain and key (PEM), when both are there.
    pub fn certificate(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let chain = std::fs::read(self.dir.join("cert.pem")).ok()?;
        let key = std::fs::read(self.dir.join("key.pem")).ok()?;
        Some((chain, key))
    }

    /// Keeps a new certificate and its key (mode 0600 each), key first.
    pub fn save_certificate(&self, chain: &[u8], key: &[u8]) -> Result<()> {
        self.write("key.pem", key)?;
        self.write("cert.pem", chain)
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.dir.join(name);
        let tmp = temp_name(&path);
        let _cleanup = RemoveOnDrop(&tmp);
        write_synced(create_temp(&tmp, 0o600)?, &tmp, data)?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        sync_dir(parent(&path))
    }
}
