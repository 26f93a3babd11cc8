//! The sockets the daemon serves: systemd's, stdin's (`--inetd`), or bound
//! from the settings; and `-D`, which must come after binding.

use std::net::IpAddr;

use anyhow::{bail, Context, Result};

use crate::addr::ListenAddr;
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

/// The metrics listeners (`metrics-listen`), bound like the others; one on
/// every address is warned about.
pub(super) fn open_metrics(settings: &Settings) -> Result<Vec<OpenSocket>> {
    for warning in metrics_warnings(settings) {
        log::warn!("{warning}");
    }
    let mut all = Vec::new();
    for addr in &settings.metrics_listen {
        match addr {
            MetricsListen::Tcp(a) => all.extend(listen::bind(a).context("metrics-listen")?),
            MetricsListen::Unix(path) => all.push(listen::bind_unix(path, 0o660)?),
        }
    }
    Ok(all)
}

/// A warning for each metrics listener on every address (a bare port,
/// `0.0.0.0` or `[::]`): `/metrics` and `/readyz` tell about sessions and
/// the target, so they are kept to loopback or a private network.
pub(super) fn metrics_warnings(settings: &Settings) -> Vec<String> {
    let wildcard = |a: &ListenAddr| match &a.host {
        None => true,
        Some(h) => h.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()),
    };
    let warn = |a: &ListenAddr| {
        format!(
            "metrics-listen {a} listens on every address: /metrics, /healthz and /readyz \
             are open to anyone who can reach this host; to keep them on this host, \
             give 127.0.0.1:{} (or a firewall rule)",
            a.port
        )
    };
    (settings.metrics_listen.iter())
        .filter_map(|m| match m {
            MetricsListen::Tcp(a) if wildcard(a) => Some(warn(a)),
            _ => None,
        })
        .collect()
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
