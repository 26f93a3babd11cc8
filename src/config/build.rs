//! Builds the per-connection `Config` from merged options: the access rules,
//! the target, TLS, the static site and the limits. Run at start and on every
//! reload, so a bad edit is refused before it replaces a working config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::options::{Merged, OneOrMany, Options};
use super::RfbPolicy as Policy;
use super::{Config, Limits};
use crate::access::auth::AuthPlugin;
use crate::access::caps::Maximums;
use crate::access::forward_auth::ForwardAuth;
use crate::access::forwarded::parse_trusted;
use crate::access::hosts::HostPolicy;
use crate::access::origin::OriginPolicy;
use crate::access::token::Destination;
use crate::access::token::TokenPlugin;
use crate::access::trusted_user::TrustedUser;
use crate::access::users::Users;
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
    let mut rfb = rfb(m)?;
    let gate = gate(m, rfb.password.take())?;
    Ok(Config {
        gate,
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
        record_max_size: o.record_max_size.map_or(defaults::RECORD_MAX_SIZE, |n| n.0),
        recordings: recordings(m)?,
        rfb,
    })
}

/// `record-sessions` and its settings; its folder is `record-dir`, else
/// the state directory systemd made for the instance.
fn recordings(m: &Merged) -> Result<Option<super::Recordings>> {
    let o = &m.options;
    if o.record_sessions != Some(true) {
        return Ok(None);
    }
    if o.record.is_some() {
        bail!(
            "{}: record: not with record-sessions, which records every session \
             already; leave record out",
            m.origin("record")
        );
    }
    let state = std::env::var_os("STATE_DIRECTORY");
    // systemd lists several directories with `:`; the instance's is first.
    let state = state.as_ref().and_then(|s| std::env::split_paths(s).next());
    let dir = match (&o.record_dir, state) {
        (Some(dir), _) => dir.clone(),
        (None, Some(state)) if state.is_absolute() => state.join("recordings"),
        _ => bail!(
            "{}: record-sessions: give record-dir (outside systemd there is no \
             state directory to default to)",
            m.origin("record-sessions")
        ),
    };
    let days = o
        .record_max_age
        .map_or(defaults::RECORD_MAX_AGE_DAYS, |n| n.0);
    Ok(Some(super::Recordings {
        dir,
        input: o.record_input == Some(true),
        max_total: o
            .record_max_total
            .map_or(defaults::RECORD_MAX_TOTAL, |n| n.0),
        max_age: (days > 0).then(|| Duration::from_secs(days * 24 * 3600)),
    }))
}

/// `require-rfb` and `vnc-password-file` (whose password `gate` gives to
/// the fixed target, the only one it belongs to).
fn rfb(m: &Merged) -> Result<Policy> {
    let o = &m.options;
    let password = match &o.vnc_password_file {
        Some(file) => Some(vnc_password(m, file, "vnc-password-file")?),
        None => None,
    };
    Ok(Policy {
        require_rfb: o.require_rfb == Some(true),
        password,
    })
}

/// A VNC password file, given at conf key `key`.
fn vnc_password(m: &Merged, file: &Path, key: &str) -> Result<VncPassword> {
    let at = || format!("{}: {key}", m.origin(key));
    let path = credential(file).with_context(at)?;
    VncPassword::load(&path).with_context(at)
}

/// A VNC password lets whoever reaches its target through the proxy into
/// the VNC server, so it needs a check of who the client is in front:
/// a login that names users (`auth-file`, `BasicHTTPAuth`,
/// `ClientCertCNAuth`) or `verify-client`. `BasePlugin` lets everyone in and
/// `ExpectOrigin` trusts a header any client can write: neither counts.
fn guard_vnc_passwords(m: &Merged, gate: &Gate) -> Result<()> {
    let o = &m.options;
    let has_password = match &gate.route {
        Route::Fixed(dest) => dest.vnc_password.is_some(),
        Route::Token { .. } | Route::PerUser => false,
    } || gate.users.map.values().any(|d| d.vnc_password.is_some());
    let names_users = gate.oidc.is_some()
        || gate.auth.as_ref().is_some_and(|a| a.names_users())
        || gate.front_login();
    if has_password && !names_users && o.verify_client != Some(true) {
        let key = if o.vnc_password_file.is_some() {
            "vnc-password-file"
        } else {
            "users"
        };
        bail!(
            "{}: {key}: a VNC password lets every client into the VNC server without it: \
             set up a login first (`auth-file`, `auth-plugin = \"BasicHTTPAuth\"` or \
             `\"ClientCertCNAuth\"`, `auth-request`, `trusted-user-header`, or `verify-client`); `BasePlugin` and `ExpectOrigin` \
             do not check who the client is",
            m.origin(key)
        );
    }
    Ok(())
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
pub(super) fn words(v: &Option<OneOrMany>) -> Vec<String> {
    let given = v.clone().map(OneOrMany::into_vec).unwrap_or_default();
    given
        .iter()
        .flat_map(|s| s.split([' ', ',', '\t']).filter(|w| !w.is_empty()))
        .map(str::to_owned)
        .collect()
}

/// The access rules; `password` is `vnc-password-file`'s, for the fixed target.
fn gate(m: &Merged, password: Option<VncPassword>) -> Result<Gate> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let origins = match &o.allowed_origins {
        Some(_) => OriginPolicy::from_list(&words(&o.allowed_origins))
            .with_context(|| at("allowed-origins"))?,
        None => OriginPolicy::same_origin(),
    };
    let (trusted_proxies, trusted_unix_peers) = trusted_peers(m)?;
    let auth = auth(m)?;
    let (forward_auth, trusted_user) = front_login(m, auth.is_some())?;
    let front = forward_auth.is_some() || trusted_user.is_some();
    if trusted_user.is_some() && trusted_proxies.is_empty() && trusted_unix_peers.is_empty() {
        bail!(
            "{}: trusted-user-header needs `trusted-proxies` (or `trusted-unix-peers`): \
             the header is believed only from them",
            at("trusted-user-header")
        );
    }
    if o.web_auth == Some(true) && ((auth.is_none() && !front) || o.web.is_none()) {
        bail!(
            "{}: `web-auth` needs `web` and `auth-plugin` or `auth-file`",
            at("web-auth")
        );
    }
    let hosts = server_names(m, &trusted_proxies, &trusted_unix_peers)?;
    let gate = Gate {
        hosts,
        route: route(m, password)?,
        users: users(m, auth.as_ref(), front || o.oidc_issuer.is_some())?,
        auth: auth.map(Arc::new),
        web_auth: o.web_auth == Some(true),
        origins,
        trusted_proxies,
        trusted_unix_peers,
        forward_auth,
        trusted_user,
        oidc: super::oidc::oidc(m)?.map(Arc::new),
    };
    if o.proxy_protocol == Some(true)
        && gate.trusted_proxies.is_empty()
        && gate.trusted_unix_peers.is_empty()
    {
        bail!(
            "{}: proxy-protocol needs `trusted-proxies` (or `trusted-unix-peers`): the \
             PROXY header is believed only from them, and no address is trusted by default \
             (loopback was, up to 0.2.0)",
            at("proxy-protocol")
        );
    }
    guard_vnc_passwords(m, &gate)?;
    warn_shared_users(m, &gate);
    Ok(gate)
}

/// `server-names`, or its default: the names of the certificate and of
/// `acme-domain`, this host's name and `localhost` (an address is always
/// answered). Any name behind trusted proxies (the front end chooses the
/// names) or with `host-token` (the names are the tokens).
fn server_names(m: &Merged, proxies: &[ipnet::IpNet], unix_peers: &[u32]) -> Result<HostPolicy> {
    let o = &m.options;
    if o.server_names.is_some() {
        return HostPolicy::from_list(&words(&o.server_names))
            .with_context(|| format!("{}: server-names", m.origin("server-names")));
    }
    if !proxies.is_empty() || !unix_peers.is_empty() || o.host_token == Some(true) {
        return Ok(HostPolicy::any());
    }
    let mut names = vec!["localhost".to_owned()];
    if let Ok(host) = nix::unistd::gethostname() {
        names.extend(host.to_str().map(str::to_owned));
    }
    names.extend(words(&o.acme_domain));
    // The certificate's own errors are `tls`'s to report.
    let cert = o.cert.as_deref().map(credential).and_then(Result::ok);
    if let Some(info) = cert.and_then(|c| crate::tls::info::info(&c).ok()) {
        names.extend(info.names);
    }
    names.retain(|n| n.parse::<std::net::IpAddr>().is_err());
    // Names a certificate may hold that no Host header can (`*` alone).
    names.retain(|n| HostPolicy::from_list(&[n]).is_ok());
    HostPolicy::from_list(&names).context("server-names")
}

/// `allowed-users` and the `[users.NAME]` tables; both need a login that
/// names users (`front`: `auth-request`, `trusted-user-header` or
/// `oidc-issuer` does).
fn users(m: &Merged, auth: Option<&AuthPlugin>, front: bool) -> Result<Users> {
    let o = &m.options;
    let allowed = o
        .allowed_users
        .as_ref()
        .map(|_| words(&o.allowed_users).into_iter().collect());
    let mut map = BTreeMap::new();
    for (user, entry) in o.users.iter().flatten() {
        let at = || format!("{}: users.{user}", m.origin("users"));
        let target = crate::access::token::parse_target(&entry.target)
            .map_err(|e| anyhow::anyhow!("{}: target: {e}", at()))?;
        let vnc_password = match &entry.vnc_password_file {
            Some(file) => Some(vnc_password(m, file, "users").with_context(at)?),
            None => None,
        };
        map.insert(
            user.clone(),
            Destination {
                target,
                vnc_password,
            },
        );
    }
    let users = Users { allowed, map };
    if users.restricts() && !front && !auth.is_some_and(AuthPlugin::names_users) {
        let key = if o.allowed_users.is_some() {
            "allowed-users"
        } else {
            "users"
        };
        bail!(
            "{}: {key}: needs a login that names users (`auth-file`, `auth-plugin` \
             BasicHTTPAuth or ClientCertCNAuth, `auth-request` or `trusted-user-header`)",
            m.origin(key)
        );
    }
    if !users.map.is_empty() && (o.token_plugin.is_some() || o.target_config.is_some()) {
        bail!(
            "{}: users: a user map and a token plugin both choose the target: use one \
             (the user map gives each login its own desktop; a token anyone may hold \
             would bypass it)",
            m.origin("users")
        );
    }
    Ok(users)
}

/// The start-up (and `--check`) warning when every user of a shared
/// password file may open this instance.
fn warn_shared_users(m: &Merged, gate: &Gate) {
    let Some(file) = &m.options.auth_file else {
        return;
    };
    let Some(AuthPlugin::Htpasswd(users)) = gate.auth.as_deref() else {
        return;
    };
    if !gate.users.restricts() && users.len() > 1 {
        log::warn!(
            "{}: auth-file: every one of the {} users in {} may open this instance (and every \
             other instance that uses this file): name the ones who may in `allowed-users`",
            m.origin("auth-file"),
            users.len(),
            file.display()
        );
    }
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

/// `auth-request` (with `auth-request-signin`, `-user-header`,
/// `trusted-proxies` and `trusted-unix-peers`. No proxy is trusted unless
/// named, loopback included: any local user could otherwise forge the
/// client address (and dodge the lockout).
fn trusted_peers(m: &Merged) -> Result<(Vec<ipnet::IpNet>, Vec<u32>)> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let proxies =
        parse_trusted(&words(&o.trusted_proxies)).with_context(|| at("trusted-proxies"))?;
    let unix_peers = words(&o.trusted_unix_peers)
        .iter()
        .map(|w| uid(w))
        .collect::<Result<_>>()
        .with_context(|| at("trusted-unix-peers"))?;
    Ok((proxies, unix_peers))
}

/// `-groups-header`, `-allowed-groups`) or `trusted-user-header`: a login in front of the proxy. One way in: not
/// both, nor with `auth-plugin`/`auth-file` (`has_auth`).
fn front_login(
    m: &Merged,
    has_auth: bool,
) -> Result<(Option<Arc<ForwardAuth>>, Option<TrustedUser>)> {
    one_way_in(m, has_auth)?;
    let trusted_user = match &m.options.trusted_user_header {
        Some(name) => Some(TrustedUser::new(name).with_context(|| {
            format!("{}: trusted-user-header", m.origin("trusted-user-header"))
        })?),
        None => None,
    };
    Ok((forward_auth(m)?, trusted_user))
}

/// At most one login: `auth-request`, `trusted-user-header`, `oidc-issuer`
/// or `auth-plugin`/`auth-file` (`has_auth`).
fn one_way_in(m: &Merged, has_auth: bool) -> Result<()> {
    let o = &m.options;
    let given = [
        o.auth_request.is_some(),
        o.trusted_user_header.is_some(),
        o.oidc_issuer.is_some(),
        has_auth,
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        let key = ["auth-request", "trusted-user-header", "oidc-issuer"]
            .into_iter()
            .find(|k| o.is_set(k))
            .unwrap_or("auth-request");
        bail!(
            "{}: {key}: give one way in: `auth-request`, `trusted-user-header`, `oidc-issuer`, \
             or `auth-plugin`/`auth-file`",
            m.origin(key),
        );
    }
    Ok(())
}

/// `auth-request` with its `auth-request-*` keys, which need it.
fn forward_auth(m: &Merged) -> Result<Option<Arc<ForwardAuth>>> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    Ok(match &o.auth_request {
        Some(url) => Some(Arc::new(
            ForwardAuth::new(
                url,
                o.auth_request_signin.as_deref(),
                o.auth_request_user_header.as_deref(),
            )
            .and_then(|fa| {
                let allowed = o
                    .auth_request_allowed_groups
                    .as_ref()
                    .map(|_| words(&o.auth_request_allowed_groups));
                fa.with_groups(o.auth_request_groups_header.as_deref(), allowed)
            })
            .and_then(|fa| match o.auth_request_timeout {
                Some(secs) => fa.with_timeout(Duration::from_secs(secs)),
                None => Ok(fa),
            })
            .with_context(|| at("auth-request"))?,
        )),
        None => {
            let keys = [
                "auth-request-signin",
                "auth-request-user-header",
                "auth-request-groups-header",
                "auth-request-allowed-groups",
                "auth-request-timeout",
            ];
            m.refuse_without(&keys, "auth-request")?;
            None
        }
    })
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

/// Where sessions go; `password` (`vnc-password-file`'s) belongs to the
/// fixed target only: with a token plugin it is not used, and said so.
fn route(m: &Merged, password: Option<VncPassword>) -> Result<Route> {
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
    if plugin.is_some() && password.is_some() {
        log::warn!(
            "{}: vnc-password-file is the password of `target` and is not used with a token \
             plugin (it would be answered to every token's server): give each token entry its \
             own `vnc_password`",
            m.origin("vnc-password-file")
        );
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
        None if o.target.is_none() && o.unix_target.is_none() && o.users.is_some() => {
            Ok(Route::PerUser)
        }
        None => {
            let target = target(m)?;
            Ok(Route::Fixed(Destination {
                target,
                vnc_password: password,
            }))
        }
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

fn tls(m: &Merged) -> Result<Option<tls::TlsServer>> {
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
    if let (Some(_), Some(key)) = (&cert, &key) {
        // Here, so that a wrong key file is blamed on the `key` line.
        tls::pem::load_key(key).with_context(|| at("key"))?;
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
pub(super) fn credential(path: &Path) -> Result<PathBuf> {
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
