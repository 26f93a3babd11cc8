//! Reload (SIGHUP, or `reload` on the control socket): re-read the conf file
//! (with the command line on top) and, if it is valid, hand new connections
//! the new config; live sessions keep theirs.
//!
//! systemd hears of a reload only once the new settings are valid:
//! `RELOADING=1`, the switch, then `READY=1`. A failed reload sends a
//! `STATUS=` line alone, so nothing tells systemd it reloaded; the control
//! socket's answer (what `systemctl reload` runs, `websockifyctl reload`)
//! carries the reason.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::{mpsc, oneshot, watch};

use super::web_note;
use crate::addr::ListenAddr;
use crate::config::options::{ConfFile, Merged, Options};
use crate::config::{Config, Settings};
use crate::session::table::Table;
use crate::systemd::notify;

/// What a reload re-reads: the conf file, with the command line on top.
pub(super) struct Reload {
    conf: Option<PathBuf>,
    cli: Options,
}

/// A reload's outcome: what new sessions get now, or why nothing changed.
pub(super) type ReloadOutcome = Result<String, ReloadRefused>;

/// Why a reload changed nothing (the conf's error, or a stopping server),
/// on one line: the control socket's answer and the status line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct ReloadRefused(String);

/// Asks the serving loop for a reload and waits for its outcome: how the
/// control socket reaches the reload that SIGHUP triggers.
#[derive(Clone)]
pub(super) struct Reloader(mpsc::Sender<oneshot::Sender<ReloadOutcome>>);

/// The serving loop's end of [`Reloader`].
pub(super) type Requests = mpsc::Receiver<oneshot::Sender<ReloadOutcome>>;

/// A reloader and the requests it sends, for the serving loop to answer.
pub(super) fn channel() -> (Reloader, Requests) {
    // Each control client waits for its answer before asking again.
    let (tx, rx) = mpsc::channel(4);
    (Reloader(tx), rx)
}

impl Reloader {
    /// Reloads as SIGHUP does; the outcome once the new settings are in
    /// force, or why they are not.
    pub(super) async fn reload(&self) -> ReloadOutcome {
        let (reply, outcome) = oneshot::channel();
        let stopping = || ReloadRefused("the server is stopping".to_owned());
        self.0.send(reply).await.map_err(|_| stopping())?;
        outcome.await.map_err(|_| stopping())?
    }
}

impl Reload {
    /// Reloads read `conf` (absolute) with `cli` on top.
    pub(super) fn new(conf: Option<PathBuf>, cli: Options) -> Self {
        Self { conf, cli }
    }

    /// Builds a new config and, only if it is valid, installs it; on any
    /// error the old one stays. `cause` (SIGHUP, control socket) is logged.
    pub(super) fn apply(
        &self,
        cause: &str,
        (config, table): (&watch::Sender<Arc<Config>>, &Table),
        listen: &[ListenAddr],
        socket_activated: bool,
        sessions: usize,
    ) -> ReloadOutcome {
        log::info!("{cause}: reloading {}", self.describe());
        let new = match self.load() {
            Ok(new) => new,
            Err(e) => {
                let why = one_line(&format!("{e:#}"));
                log::error!("reload failed, the previous settings stay in force: {why}");
                notify::set_reload_failure(Some(&why));
                notify::status(&notify::status_line(sessions, &config.borrow().gate.route));
                return Err(ReloadRefused(why));
            }
        };
        notify::reloading();
        if !socket_activated && new.listen != listen {
            log::warn!("reload: `listen` changed; the new addresses take effect after a restart");
        }
        let done = format!(
            "relaying new sessions to {}{}",
            new.config.gate.route,
            web_note(&new.config)
        );
        log::info!("reload: {done}");
        notify::set_reload_failure(None);
        let status = notify::status_line(sessions, &new.config.gate.route);
        // The new rules first, then the revocations: a client whose session
        // closes (noVNC reconnects at once) must meet the new rules.
        let new = Arc::new(new.config);
        config.send_replace(Arc::clone(&new));
        let revoked = table.revoke(|user, target| new.gate.revoked(user, target));
        if revoked > 0 {
            log::info!("reload: closed {revoked} sessions whose access was taken away");
        }
        notify::ready(&status);
        Ok(done)
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

/// The reason on one line: the control socket answers one line per command.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}
