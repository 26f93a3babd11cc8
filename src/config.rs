//! The validated settings the server runs with, built from the merged
//! command-line and conf-file options.
//!
//! Everything that can be wrong (addresses, files, option combinations) is
//! found here, before any socket is bound, with an error naming where the
//! value came from (`FILE:LINE: key` or `command line: key`) and what is wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::addr::{ListenAddr, TargetAddr};
use crate::auth::{AuthPlugin, OriginPolicy};
use crate::gate::{Gate, Route};
use crate::limits;
use crate::options::{Merged, OneOrMany, Options};
use crate::target::Target;
use crate::tls;
use crate::token::TokenPlugin;
use crate::web::Web;

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

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// From accept to a complete TLS handshake and HTTP request head.
    pub handshake_timeout: Duration,
    /// Per resolved target address.
    pub connect_timeout: Duration,
    /// Largest client message and frame.
    pub max_message_size: usize,
    /// Largest HTTP request head.
    pub max_header_size: usize,
}

/// Connection caps; `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// All connections.
    pub global: Option<usize>,
    /// Connections from one client address.
    pub per_client: Option<usize>,
    /// Sessions to one target.
    pub per_target: Option<usize>,
}

/// Everything a connection needs, shared by all connections. A reload
/// builds a new one; sessions keep the one they started with.
#[derive(Debug)]
pub struct Config {
    /// Where sessions go and who may open them.
    pub gate: Gate,
    /// Trusted proxies send a PROXY protocol header first.
    pub proxy_protocol: bool,
    /// Connection and session caps.
    pub caps: Caps,
    /// The static file server, if `web` is set.
    pub web: Option<Web>,
    /// Canonical web root, for the start-up log line.
    pub web_root: Option<PathBuf>,
    /// TLS settings when a certificate was given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// TLS to the target (`ssl-target`).
    pub target_tls: Option<Arc<rustls::ClientConfig>>,
    /// Refuse clients that do not start with a TLS handshake.
    pub ssl_only: bool,
    /// Ping interval; `None` when heartbeats are off.
    pub heartbeat: Option<Duration>,
    /// Per-connection limits.
    pub limits: Limits,
    /// Print frame symbols (`--traffic`).
    pub traffic: bool,
    /// Record sessions to `FILE.N` (`--record`).
    pub record: Option<PathBuf>,
}

/// A unix socket to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixListen {
    /// Its path (an existing file there is replaced).
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
        for (option, why) in REFUSED {
            if o.is_set(option) {
                return Err(Unsupported {
                    origin: m.origin(option).to_string(),
                    option,
                    why,
                }
                .into());
            }
        }
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
            shutdown_grace: Duration::from_secs(
                o.shutdown_grace.unwrap_or(limits::SHUTDOWN_GRACE.as_secs()),
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

/// The per-connection part, also rebuilt on reload.
fn config(m: &Merged) -> Result<Config> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let web_root = match &o.web {
        Some(dir) => Some(web_root(dir).with_context(|| at("web"))?),
        None => None,
    };
    let heartbeat = o.heartbeat.unwrap_or(limits::HEARTBEAT_SECS);
    Ok(Config {
        gate: gate(m)?,
        proxy_protocol: o.proxy_protocol == Some(true),
        caps: Caps {
            global: o.max_connections,
            per_client: o.max_connections_per_client,
            per_target: o.max_sessions_per_target,
        },
        web: web_root.clone().map(Web::new),
        web_root,
        tls: tls(m)?,
        target_tls: match o.ssl_target {
            Some(true) => {
                Some(Arc::new(tls::client_config().with_context(|| {
                    format!("{}: ssl-target", m.origin("ssl-target"))
                })?))
            }
            _ => None,
        },
        ssl_only: o.ssl_only.unwrap_or(false),
        heartbeat: (heartbeat > 0).then(|| Duration::from_secs(heartbeat)),
        limits: connection_limits(m)?,
        traffic: o.traffic == Some(true),
        record: o.record.clone(),
    })
}

fn gate(m: &Merged) -> Result<Gate> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let words = |v: &Option<OneOrMany>| -> Vec<String> {
        v.clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .flat_map(|s| {
                s.split([' ', ',', '\t'])
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let origins = match &o.allowed_origins {
        Some(_) => OriginPolicy::from_list(&words(&o.allowed_origins))
            .with_context(|| at("allowed-origins"))?,
        None => OriginPolicy::same_origin(),
    };
    let trusted = match &o.trusted_proxies {
        Some(_) => words(&o.trusted_proxies),
        None => vec!["127.0.0.0/8".to_owned(), "::1".to_owned()],
    };
    let trusted_proxies =
        crate::forwarded::parse_trusted(&trusted).with_context(|| at("trusted-proxies"))?;
    let auth = match (&o.auth_plugin, &o.auth_file) {
        (Some(_), Some(_)) => bail!(
            "{}: give either `auth-plugin` or `auth-file`, not both",
            at("auth-file")
        ),
        (Some(plugin), None) => Some(
            AuthPlugin::new(plugin, o.auth_source.as_deref()).with_context(|| at("auth-plugin"))?,
        ),
        (None, Some(file)) => Some(AuthPlugin::htpasswd(file).with_context(|| at("auth-file"))?),
        (None, None) if o.auth_source.is_some() => {
            bail!("{}: `auth-source` needs `auth-plugin`", at("auth-source"))
        }
        (None, None) => None,
    };
    if o.web_auth == Some(true) && (auth.is_none() || o.web.is_none()) {
        bail!(
            "{}: `web-auth` needs `web` and `auth-plugin` or `auth-file`",
            at("web-auth")
        );
    }
    Ok(Gate {
        route: route(m)?,
        auth: auth.map(Arc::new),
        web_auth: o.web_auth == Some(true),
        origins,
        trusted_proxies,
    })
}

fn route(m: &Merged) -> Result<Route> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let plugin = match (&o.token_plugin, &o.target_config) {
        (Some(_), Some(_)) => bail!(
            "{}: give either `token-plugin` or `target-config`, not both",
            at("target-config")
        ),
        (Some(p), None) => {
            let source = o.token_source.as_deref().with_context(|| {
                format!(
                    "{}: `token-plugin` needs `token-source`",
                    at("token-plugin")
                )
            })?;
            Some(TokenPlugin::new(p, source).with_context(|| at("token-plugin"))?)
        }
        (None, Some(file)) => {
            let source = file.to_str().with_context(|| at("target-config"))?;
            Some(TokenPlugin::new("TokenFile", source).with_context(|| at("target-config"))?)
        }
        (None, None) => None,
    };
    if plugin.is_none() && (o.token_source.is_some() || o.host_token == Some(true)) {
        let key = if o.token_source.is_some() {
            "token-source"
        } else {
            "host-token"
        };
        bail!("{}: `{key}` needs `token-plugin`", at(key));
    }
    match plugin {
        Some(plugin) if o.target.is_none() && o.unix_target.is_none() => Ok(Route::Token {
            plugin,
            host: o.host_token == Some(true),
        }),
        Some(_) => bail!(
            "{}: a token plugin chooses the target: drop `target`",
            at("token-plugin")
        ),
        None => target(m).map(Route::Fixed),
    }
}

fn target(m: &Merged) -> Result<Target> {
    let o = &m.options;
    match (&o.target, &o.unix_target) {
        (Some(_), Some(_)) => bail!(
            "{}: target: give either `target` or `unix-target`, not both",
            m.origin("target")
        ),
        (Some(t), None) => Ok(Target::Tcp(
            TargetAddr::parse(t).with_context(|| format!("{}: target", m.origin("target")))?,
        )),
        (None, Some(path)) => Ok(Target::Unix(path.clone())),
        (None, None) => bail!(
            "{}: no target: give TARGET_ADDR:TARGET_PORT, --unix-target, or `target` in the conf file",
            m.conf().map_or("command line".into(), |c| c.path.display().to_string())
        ),
    }
}

fn tls(m: &Merged) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let o: &Options = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let cert = o
        .cert
        .as_deref()
        .map(credential)
        .transpose()
        .with_context(|| at("cert"))?;
    let key = o
        .key
        .as_deref()
        .map(credential)
        .transpose()
        .with_context(|| at("key"))?;
    let profile = tls::Profile {
        min_version: o.ssl_version.clone(),
        ciphers: o.ssl_ciphers.clone(),
        verify_client: o.verify_client == Some(true),
        client_ca: o.cafile.clone(),
    };
    if profile.verify_client && cert.is_none() {
        bail!("{}: `verify-client` needs `cert`", at("verify-client"));
    }
    match (&cert, &key) {
        (Some(cert), key) => Ok(Some(Arc::new(
            tls::server_config(cert, key.as_deref(), &profile).with_context(|| at("cert"))?,
        ))),
        (None, Some(_)) => bail!("{}: `key` needs `cert`", at("key")),
        (None, None) if o.ssl_only == Some(true) => {
            bail!("{}: `ssl-only` needs `cert`", at("ssl-only"))
        }
        (None, None) => Ok(None),
    }
}

fn connection_limits(m: &Merged) -> Result<Limits> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let secs = |key: &str, v: Option<u64>, default: Duration| -> Result<Duration> {
        match v {
            Some(0) => bail!("{}: must be at least 1", at(key)),
            Some(v) => Ok(Duration::from_secs(v)),
            None => Ok(default),
        }
    };
    let max_header_size = o.max_header_size.unwrap_or(limits::MAX_HEADER_SIZE);
    if max_header_size < 8192 {
        bail!("{}: must be at least 8192 bytes", at("max-header-size"));
    }
    let max_message_size = o.max_message_size.unwrap_or(limits::MAX_MESSAGE_SIZE);
    if max_message_size == 0 {
        bail!("{}: must be at least 1 byte", at("max-message-size"));
    }
    Ok(Limits {
        handshake_timeout: secs(
            "handshake-timeout",
            o.handshake_timeout,
            limits::HANDSHAKE_TIMEOUT,
        )?,
        connect_timeout: secs(
            "connect-timeout",
            o.connect_timeout,
            limits::CONNECT_TIMEOUT,
        )?,
        max_message_size,
        max_header_size,
    })
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

/// `credential:NAME` is the file systemd's `LoadCredential=NAME:...` made
/// for this service: how a key that only root may read (Let's Encrypt's)
/// reaches a daemon running as an unprivileged user.
fn credential(path: &Path) -> Result<PathBuf> {
    let Some(name) = path.to_str().and_then(|p| p.strip_prefix("credential:")) else {
        return Ok(path.to_owned());
    };
    if name.is_empty() || name.contains('/') {
        bail!("{name:?}: a credential name is a plain file name");
    }
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => Ok(Path::new(&dir).join(name)),
        None => bail!(
            "credential:{name} needs systemd's LoadCredential={name}:FILE (CREDENTIALS_DIRECTORY is not set)"
        ),
    }
}

fn web_root(dir: &Path) -> Result<PathBuf> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    if !root.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    Ok(root)
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
