//! The sockets the daemon serves: systemd's, stdin's (`--inetd`), or bound
//! from the settings; and `-D`, which must come after binding.

use anyhow::{bail, Context, Result};

use crate::config::{MetricsListen, Settings};
use crate::listen::{self, OpenSocket};

/// `-D`: detach from the terminal (fork, new session, cwd `/`, stdio to
/// /dev/null), as Python's `--daemon` does.
pub(super) fn detach() -> Result<()> {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        bail!("--daemon under systemd (Type=notify) would lose the main process: drop it");
    }
    nix::unistd::daemon(false, false).context("--daemon")?;
    Ok(())
}

/// The metrics listeners (`metrics-listen`), bound like the others.
pub(super) fn open_metrics(settings: &Settings) -> Result<Vec<OpenSocket>> {
    let mut all = Vec::new();
    for addr in &settings.metrics_listen {
        match addr {
            MetricsListen::Tcp(a) => all.extend(listen::bind(a).context("metrics-listen")?),
            MetricsListen::Unix(path) => all.push(listen::bind_unix(path, 0o660)?),
        }
    }
    Ok(all)
}

/// The sockets to serve: systemd's, stdin's, or bound from the settings.
pub(super) fn open(settings: &Settings, activated: Vec<OpenSocket>) -> Result<Vec<OpenSocket>> {
    if !activated.is_empty() {
        return Ok(activated);
    }
    if settings.inetd {
        return Ok(vec![listen::take_inetd()?]);
    }
    let mut all = Vec::new();
    for addr in &settings.listen {
        all.extend(listen::bind(addr)?);
    }
    if let Some(u) = &settings.unix_listen {
        all.push(listen::bind_unix(&u.path, u.mode)?);
    }
    if all.is_empty() {
        bail!("no listen address: give [SOURCE_ADDR:]SOURCE_PORT, --unix-listen, or `listen` in the conf file");
    }
    Ok(all)
}
