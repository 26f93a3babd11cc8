//! `cert`/`key` files that change on disk (a certbot renewal, `websockifyctl
//! cert renew`) are picked up without SIGHUP: every [`POLL_INTERVAL`] the
//! files' identity (device, inode, size, mtime, ctime, following symlinks
//! as certbot's `live/` links need) is compared with what was loaded; when it
//! differs the pair is read again and, if it is a valid matching pair, new
//! handshakes get it. A broken pair (half written, key and certificate from
//! different renewals, unreadable) is logged and the previous certificate
//! kept; the next change of either file is tried again.
//!
//! Polling rather than inotify: it also sees a changed target behind a
//! symlink, a bind mount, or a directory replaced as a whole, costs two
//! `stat` calls per interval, and needs no extra crate.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use super::pem::{certified_key, Leaf};
use super::resolver::Certs;

/// How often the files are checked (websockify.conf(5), `cert`).
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// What identifies one version of a file.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// The certificate and key files of one TLS listener.
#[derive(Debug)]
pub struct CertFiles {
    cert: PathBuf,
    key: Option<PathBuf>,
    provider: Arc<CryptoProvider>,
    seen: Mutex<[Stamp; 2]>,
}

impl CertFiles {
    /// Loads the pair now (the start and every reload fail on a bad one).
    pub fn open(
        cert: &Path,
        key: Option<&Path>,
        provider: Arc<CryptoProvider>,
    ) -> Result<(CertFiles, CertifiedKey)> {
        let files = CertFiles {
            cert: cert.to_owned(),
            key: key.map(Path::to_owned),
            provider,
            seen: Mutex::new([None, None]),
        };
        let stamps = files.stamps();
        let first = files.load()?;
        *files.seen.lock().unwrap_or_else(|p| p.into_inner()) = stamps;
        Ok((files, first))
    }

    fn stamps(&self) -> [Stamp; 2] {
        [stamp(&self.cert), self.key.as_deref().and_then(stamp)]
    }

    fn load(&self) -> Result<CertifiedKey> {
        certified_key(&self.cert, self.key.as_deref(), &self.provider)
    }

    /// True once per change of either file since the last call.
    fn changed(&self) -> bool {
        let now = self.stamps();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }

    /// Checks the files every [`POLL_INTERVAL`] and puts a changed, valid
    /// pair into `certs`. Runs until dropped (the daemon aborts it when a
    /// reload brings a new configuration).
    pub async fn watch(&self, certs: &Certs) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if self.changed() {
                self.reload(certs);
            }
        }
    }

    fn reload(&self, certs: &Certs) {
        let cert = self.cert.display();
        match self.load() {
            Ok(next) => {
                let about = Leaf::of(&next).map_or_else(|e| e.to_string(), |l| l.to_string());
                certs.replace(next);
                log::info!("{cert}: changed on disk; new TLS handshakes get it ({about})");
            }
            Err(e) => log::warn!(
                "{cert}: changed on disk but not usable, kept the previous certificate: {e:#}"
            ),
        }
    }
}
