//! SIGHUP: re-read the conf file (with the command line on top) and, if it
//! is valid, hand new connections the new config; live sessions keep theirs.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::watch;

use super::serve::web_note;
use crate::addr::ListenAddr;
use crate::config::options::{ConfFile, Merged, Options};
use crate::config::{Config, Settings};
use crate::session::table::table;
use crate::systemd::notify;

/// What a reload re-reads: the conf file, with the command line on top.
pub(super) struct Reload {
    conf: Option<PathBuf>,
    cli: Options,
}

impl Reload {
    /// Reloads read `conf` (absolute) with `cli` on top.
    pub(super) fn new(conf: Option<PathBuf>, cli: Options) -> Self {
        Self { conf, cli }
    }

    /// Builds and installs a new config; on any error the old one stays.
    pub(super) fn apply(
        &self,
        config: &watch::Sender<Arc<Config>>,
        listen: &[ListenAddr],
        socket_activated: bool,
        sessions: usize,
    ) {
        notify::reloading();
        log::info!("SIGHUP: reloading {}", self.describe());
        match self.load() {
            Ok(new) => {
                if !socket_activated && new.listen != listen {
                    log::warn!(
                        "reload: `listen` changed; the new addresses take effect after a restart"
                    );
                }
                log::info!(
                    "reload: relaying new sessions to {}{}",
                    new.config.gate.route,
                    web_note(&new.config)
                );
                let status = notify::status_line(sessions, &new.config.gate.route);
                let gate = &new.config.gate;
                let revoked = table().revoke(|user, target| gate.revoked(user, target));
                if revoked > 0 {
                    log::info!("reload: closed {revoked} sessions whose access was taken away");
                }
                config.send_replace(Arc::new(new.config));
                notify::ready(&status);
            }
            Err(e) => {
                log::error!("reload failed, the previous settings stay in force: {e:#}");
                let status = format!(
                    "reload failed ({e:#}); previous settings in force; {}",
                    notify::status_line(sessions, &config.borrow().gate.route)
                );
                notify::ready(&status);
            }
        }
    }

    fn load(&self) -> Result<Settings> {
        let conf = self.conf.as_deref().map(ConfFile::read).transpose()?;
        Settings::from_merged(&Merged::new(conf, self.cli.clone()))
    }

    fn describe(&self) -> String {
        self.conf
            .as_ref()
            .map_or("certificates and web root".into(), |p| {
                p.display().to_string()
            })
    }
}
