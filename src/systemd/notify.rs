//! Telling systemd what the daemon is doing (sd_notify). Every call is a
//! no-op when `NOTIFY_SOCKET` is unset, so the daemon behaves the same by hand.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;

use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Config;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::warn!("cannot notify systemd: {e}");
    }
}

/// Why the last reload failed, until one succeeds: every status line leads
/// with it, so a session opening or closing does not hide it from
/// `systemctl status`.
static RELOAD_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// A reload was refused for `why` (one line), or (`None`) one succeeded.
pub fn set_reload_failure(why: Option<&str>) {
    *RELOAD_FAILURE
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = why.map(str::to_owned);
}

/// The `STATUS=` line shown by `systemctl status`.
pub fn status_line(sessions: usize, target: &dyn std::fmt::Display) -> String {
    let s = if sessions == 1 { "" } else { "s" };
    let line = format!("{sessions} session{s}; target {target}");
    match &*RELOAD_FAILURE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some(why) => format!("reload failed ({why}); previous settings in force; {line}"),
        None => line,
    }
}

/// Every listener accepts: `READY=1` with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A new status line.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A reload begins, of a conf already found valid: `READY=1` follows at
/// once. `MONOTONIC_USEC` lets systemd 253+ match it to `systemctl reload`.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown begins; the drain may take up to `drain`, so ask for that much
/// more than the unit's stop timeout.
pub fn stopping(drain: Duration) {
    let usec = u32::try_from(drain.as_micros()).unwrap_or(u32::MAX);
    send(&[
        NotifyState::Stopping,
        NotifyState::ExtendTimeoutUsec(usec),
        NotifyState::Status("stopping: closing sessions"),
    ]);
}

/// Sends `WATCHDOG=1` at half the interval systemd asked for, from the
/// event loop itself, so a wedged loop stops the pings and gets restarted.
pub async fn watchdog() {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tick.tick().await;
        send(&[NotifyState::Watchdog]);
    }
}

/// Keeps `STATUS=` up to date with the number of live sessions, and with
/// the ACME certificate's expiry and last error when `acme-domain` is set.
/// Without a `NOTIFY_SOCKET` (by hand) nobody reads the line: the task then
/// sleeps instead of waking on every session's open and close to format a
/// line that goes nowhere (a few microseconds of each short session).
pub async fn track_sessions(
    mut sessions: watch::Receiver<crate::session::SessionCount>,
    mut config: watch::Receiver<Arc<Config>>,
) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return std::future::pending().await;
    }
    let mut acme = acme_status(&config);
    loop {
        tokio::select! {
            changed = sessions.changed() => if changed.is_err() {
                return std::future::pending().await;
            },
            Ok(()) = config.changed() => {
                // The reload sends its own READY=1 with a status line.
                acme = acme_status(&config);
                continue;
            }
            Some(()) = changed(&mut acme) => {}
        }
        let n = sessions.borrow_and_update().live;
        let mut line = status_line(n, &config.borrow().gate.route);
        if let Some(acme) = &acme {
            line = format!("{line}; {}", *acme.borrow());
        }
        status(&line);
    }
}

type AcmeStatus = watch::Receiver<crate::tls::acme::Status>;

/// A new configuration's ACME status, marked changed so it is shown at once.
fn acme_status(config: &watch::Receiver<Arc<Config>>) -> Option<AcmeStatus> {
    let mut rx = config.borrow().tls.as_ref().and_then(|t| t.acme_status())?;
    rx.mark_changed();
    Some(rx)
}

/// When the ACME status changes; never without ACME.
async fn changed(acme: &mut Option<AcmeStatus>) -> Option<()> {
    match acme {
        Some(rx) => rx.changed().await.ok(),
        None => std::future::pending().await,
    }
}
