//! The process-wide settings (listeners, lifetime, logging, daemon mode)
//! validated from merged options, with the per-connection `Config` inside.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::build::config;
use super::options::{Merged, OneOrMany};
use super::Config;
use crate::addr::ListenAddr;
use crate::defaults;

/// An option this build recognises but does not carry out: the process
/// exits with status 2 naming it, never ignoring it silently.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {option}: {why}")]
pub struct Unsupported {
    /// Where it was given.
    pub origin: String,
    /// The option's name.
    pub option: &'static str,
    /// Why, and what to do instead.
    pub why: &'static str,
}

/// Options accepted for compatibility that are refused, with the reason.
const REFUSED: &[(&str, &str)] = &[
    ("key-password", "encrypted keys are not supported: decrypt the key (openssl pkey -in enc.pem -out key.pem) and protect it with file permissions"),
    ("wrap-mode", "wrap mode (LD_PRELOAD rebind.so) is not supported: start the program separately and give its address as the target"),
];

/// A unix socket to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixListen {
    /// Its path (a socket left there is replaced; anything else is refused).
    pub path: PathBuf,
    /// Permission bits.
    pub mode: u32,
}

/// When the whole server ends by itself (Python's server-lifetime options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Exit after the first WebSocket session ends.
    pub run_once: bool,
    /// Stop accepting this long after start, exit once sessions end.
    pub timeout: Option<Duration>,
    /// Exit after this long with no live session.
    pub idle_timeout: Option<Duration>,
}

/// What the process needs beyond `Config`.
#[derive(Debug)]
pub struct Settings {
    /// TCP addresses to bind when no sockets are passed in by systemd.
    pub listen: Vec<ListenAddr>,
    /// A unix socket to bind as well.
    pub unix_listen: Option<UnixListen>,
    /// Take the listening socket from standard input.
    pub inetd: bool,
    /// The per-connection settings.
    pub config: Config,
    /// Grace period for live sessions after SIGTERM.
    pub shutdown_grace: Duration,
    /// Where metrics and health are served.
    pub metrics_listen: Vec<MetricsListen>,
    /// How long health checks fail before the listeners close on SIGTERM.
    pub drain_delay: Duration,
    /// Where `websockifyctl` finds this instance.
    pub control_socket: Option<PathBuf>,
    /// When the server ends by itself.
    pub lifetime: Lifetime,
    /// Detach from the terminal.
    pub daemon: bool,
    /// Debug logging.
    pub verbose: bool,
    /// Also log to this file.
    pub log_file: Option<PathBuf>,
    /// Also log to syslog here.
    pub syslog: Option<String>,
    /// RFC 3164 instead of RFC 5424.
    pub legacy_syslog: bool,
}

impl Settings {
    /// Validates merged options.
    pub fn from_merged(m: &Merged) -> Result<Settings> {
        let o = &m.options;
        let at = |key: &str| format!("{}: {key}", m.origin(key));
        refuse_unsupported(m)?;
        super::bounds::check(m)?;
        if o.legacy_syslog == Some(true) && o.syslog.is_none() {
            bail!("{}: `legacy-syslog` needs `syslog`", at("legacy-syslog"));
        }
        let listen = o
            .listen
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|l| ListenAddr::parse(l).with_context(|| at("listen")))
            .collect::<Result<Vec<_>>>()?;
        let unix_listen = match &o.unix_listen {
            Some(path) => Some(UnixListen {
                path: path.clone(),
                mode: parse_mode(o.unix_listen_mode.as_deref())
                    .with_context(|| at("unix-listen-mode"))?,
            }),
            None => None,
        };
        // 0 means "never", as in Python.
        let secs = |v: Option<u64>| v.filter(|s| *s > 0).map(Duration::from_secs);
        Ok(Settings {
            listen,
            unix_listen,
            inetd: o.inetd == Some(true),
            config: config(m)?,
            metrics_listen: metrics_listen(o.metrics_listen.clone())
                .with_context(|| at("metrics-listen"))?,
            drain_delay: Duration::from_secs(o.drain_delay.unwrap_or(0)),
            control_socket: o.control_socket.clone(),
            shutdown_grace: Duration::from_secs(
                o.shutdown_grace
                    .unwrap_or(defaults::SHUTDOWN_GRACE.as_secs()),
            ),
            lifetime: Lifetime {
                run_once: o.run_once == Some(true),
                timeout: secs(o.timeout),
                idle_timeout: secs(o.idle_timeout),
            },
            daemon: o.daemon == Some(true),
            verbose: o.verbose == Some(true),
            log_file: o.log_file.clone(),
            syslog: o.syslog.clone(),
            legacy_syslog: o.legacy_syslog == Some(true),
        })
    }
}

/// A metrics listener: TCP, or a unix socket (a path starting with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsListen {
    /// `host:port`.
    Tcp(ListenAddr),
    /// A unix socket path (mode 0660).
    Unix(PathBuf),
}

fn metrics_listen(given: Option<OneOrMany>) -> Result<Vec<MetricsListen>> {
    let given = given.map(OneOrMany::into_vec).unwrap_or_default();
    given
        .iter()
        .map(|a| match a.starts_with('/') {
            true => Ok(MetricsListen::Unix(a.into())),
            false => Ok(MetricsListen::Tcp(ListenAddr::parse(a)?)),
        })
        .collect()
}

/// Exit status 2 for an option that is accepted but not carried out.
fn refuse_unsupported(m: &Merged) -> Result<(), Unsupported> {
    for (option, why) in REFUSED {
        if m.options.is_set(option) {
            return Err(Unsupported {
                origin: m.origin(option).to_string(),
                option,
                why,
            });
        }
    }
    Ok(())
}

/// Octal permission bits; Python's default is 0600.
fn parse_mode(mode: Option<&str>) -> Result<u32> {
    let Some(text) = mode else { return Ok(0o600) };
    let digits = text.trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => bail!("{text:?} is not an octal mode like 0600"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_mode;

    #[test]
    fn modes() {
        assert_eq!(parse_mode(None).unwrap(), 0o600);
        assert_eq!(parse_mode(Some("0660")).unwrap(), 0o660);
        assert_eq!(parse_mode(Some("660")).unwrap(), 0o660);
        assert!(parse_mode(Some("0999")).is_err());
        assert!(parse_mode(Some("07777")).is_err());
    }
}
