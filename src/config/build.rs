//! Builds the per-connection `Config` from merged options: the access rules,
//! the target, TLS, the static site and the limits. Run at start and on every
//! reload, so a bad edit is refused before it replaces a working config.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::options::{Merged, OneOrMany, Options};
use super::RfbPolicy as Policy;
use super::{Config, Limits};
use crate::access::auth::AuthPlugin;
use crate::access::caps::Maximums;
use crate::access::forwarded::parse_trusted;
use crate::access::origin::OriginPolicy;
use crate::access::token::TokenPlugin;
use crate::access::vnc_password::VncPassword;
use crate::access::{Gate, Route};
use crate::addr::{Target, TargetAddr};
use crate::defaults;
use crate::tls;
use crate::web::Web;

/// The per-connection part, also rebuilt on reload.
pub(super) fn config(m: &Merged) -> Result<Config> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let web_root = match &o.web {
        Some(dir) => Some(web_root(dir).with_context(|| at("web"))?),
        None => None,
    };
    let heartbeat = o.heartbeat.unwrap_or(defaults::HEARTBEAT_SECS);
    Ok(Config {
        gate: gate(m)?,
        proxy_protocol: o.proxy_protocol == Some(true),
        caps: Maximums {
            global: cap(o.max_connections, Some(defaults::max_connections())),
            per_client: cap(
                o.max_connections_per_client,
                Some(defaults::MAX_CONNECTIONS_PER_CLIENT),
            ),
            per_target: cap(o.max_sessions_per_target, None),
        },
        web: match &web_root {
            Some(root) => Some(Web::open(root).with_context(|| at("web"))?),
            None => None,
        },
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
        limits: connection_limits(m),
        traffic: o.traffic == Some(true),
        record: o.record.clone(),
        rfb: rfb(m)?,
    })
}

/// `require-rfb` and `vnc-password-file`. The password lets anyone who
/// reaches the proxy into the VNC server, so it needs access control.
fn rfb(m: &Merged) -> Result<Policy> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let password = match &o.vnc_password_file {
        Some(file) => {
            let guarded = o.auth_plugin.is_some()
                || o.auth_file.is_some()
                || o.token_plugin.is_some()
                || o.target_config.is_some()
                || o.verify_client == Some(true);
            if !guarded {
                bail!(
                    "{}: `vnc-password-file` lets every client into the VNC server without its password: \
                     set up access control first (`auth-file` or `auth-plugin`, `token-plugin` or \
                     `target-config`, or `verify-client`)",
                    at("vnc-password-file")
                );
            }
            let path = credential(file).with_context(|| at("vnc-password-file"))?;
            Some(VncPassword::load(&path).with_context(|| at("vnc-password-file"))?)
        }
        None => None,
    };
    Ok(Policy {
        require_rfb: o.require_rfb == Some(true),
        password,
    })
}

/// A cap as given (0: no cap), or its default.
fn cap(given: Option<usize>, default: Option<usize>) -> Option<usize> {
    match given {
        Some(0) => None,
        Some(n) => Some(n),
        None => default,
    }
}

/// A list option's words, split on spaces and commas as well.
fn words(v: &Option<OneOrMany>) -> Vec<String> {
    let given = v.clone().map(OneOrMany::into_vec).unwrap_or_default();
    given
        .iter()
        .flat_map(|s| s.split([' ', ',', '\t']).filter(|w| !w.is_empty()))
        .map(str::to_owned)
        .collect()
}

fn gate(m: &Merged) -> Result<Gate> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let origins = match &o.allowed_origins {
        Some(_) => OriginPolicy::from_list(&words(&o.allowed_origins))
            .with_context(|| at("allowed-origins"))?,
        None => OriginPolicy::same_origin(),
    };
    let trusted = match &o.trusted_proxies {
        Some(_) => words(&o.trusted_proxies),
        None => vec!["127.0.0.0/8".to_owned(), "::1".to_owned()],
    };
    let trusted_proxies = parse_trusted(&trusted).with_context(|| at("trusted-proxies"))?;
    let trusted_unix_peers = words(&o.trusted_unix_peers)
        .iter()
        .map(|w| uid(w))
        .collect::<Result<_>>()
        .with_context(|| at("trusted-unix-peers"))?;
    let auth = auth(m)?;
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
        trusted_unix_peers,
    })
}

/// A user id, given as a number or a user name (looked up now, and again
/// at each reload).
fn uid(word: &str) -> Result<u32> {
    if let Ok(uid) = word.parse() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(word) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => bail!("{word}: no such user"),
        Err(e) => bail!("{word}: cannot look up the user: {e}"),
    }
}

/// `auth-plugin` with `auth-source`, or `auth-file`, or none.
fn auth(m: &Merged) -> Result<Option<AuthPlugin>> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    Ok(match (&o.auth_plugin, &o.auth_file) {
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

fn tls(m: &Merged) -> Result<Option<tls::Server>> {
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
    if let Some(acme) = super::acme::settings(m)? {
        return Ok(Some(
            tls::acme_config(acme, &profile).with_context(|| at("acme-domain"))?,
        ));
    }
    if profile.verify_client && cert.is_none() {
        bail!(
            "{}: `verify-client` needs `cert` or `acme-domain`",
            at("verify-client")
        );
    }
    match (&cert, &key) {
        (Some(cert), key) => Ok(Some(
            tls::server_config(cert, key.as_deref(), &profile).with_context(|| at("cert"))?,
        )),
        (None, Some(_)) => bail!("{}: `key` needs `cert`", at("key")),
        (None, None) if o.ssl_only == Some(true) => {
            bail!(
                "{}: `ssl-only` needs `cert` or `acme-domain`",
                at("ssl-only")
            )
        }
        (None, None) => Ok(None),
    }
}

/// The per-connection limits; their ranges are checked by `bounds`.
fn connection_limits(m: &Merged) -> Limits {
    let o = &m.options;
    let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
    Limits {
        handshake_timeout: secs(o.handshake_timeout, defaults::HANDSHAKE_TIMEOUT),
        connect_timeout: secs(o.connect_timeout, defaults::CONNECT_TIMEOUT),
        // Messages stream through without being gathered, so there is no
        // limit unless one is set: it is policy, not memory protection.
        max_message_size: o.max_message_size.map(|n| n as u64),
        max_header_size: o.max_header_size.unwrap_or(defaults::MAX_HEADER_SIZE),
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
    #[test]
    fn unix_peers_by_uid_or_user_name() {
        assert_eq!(super::uid("1000").ok(), Some(1000));
        assert_eq!(super::uid("root").ok(), Some(0));
        let e = super::uid("no-such-user-here").expect_err("unknown user");
        assert!(e.to_string().contains("no such user"), "{e}");
    }
}
