//! Who may open a session, and to where: the real client address (trusted
//! proxies only), the Origin policy, the auth plugin and token routing
//! (`Gate`), and how many at once (`caps`). Each refusal is a status and a
//! fixed reason, with a log line; the HTTP layer turns it into the answer.

pub mod auth;
pub mod caps;
mod failures;
pub mod forward_auth;
mod forward_cache;
pub mod forwarded;
mod front_login;
pub mod hosts;
mod logins;
pub mod oidc;
pub mod origin;
mod password;
mod refusal;
pub mod refusal_log;
mod salted;
pub mod token;
pub mod trusted_user;
pub mod users;
pub mod vnc_password;

pub use logins::Logins;
pub use password::Guard;
pub use refusal::Refusal;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::HOST;
use http::{HeaderMap, StatusCode, Uri};
use ipnet::IpNet;
use log::Level;

use crate::listen::Peer;
use crate::metrics::Metrics;
use auth::AuthPlugin;
use origin::OriginPolicy;
use token::{redact, Destination, TokenError, TokenPlugin};

/// Where sessions go: one fixed target, or wherever a token says.
#[derive(Debug, Clone)]
pub enum Route {
    /// `target` / `unix-target`, with `vnc-password-file`'s password: the
    /// instance's VNC password belongs to this target only.
    Fixed(Destination),
    /// `[users.NAME]` without `target`: each user's own entry, nothing else.
    PerUser,
    /// `token-plugin`: the token from `?token=`, or the Host header.
    Token {
        /// The lookup.
        plugin: TokenPlugin,
        /// Take the token from the Host header (`host-token`).
        host: bool,
    },
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Fixed(d) => d.target.fmt(f),
            Route::PerUser => write!(f, "each user's own target ([users])"),
            Route::Token {
                plugin,
                host: false,
            } => write!(f, "tokens ({plugin})"),
            Route::Token { plugin, host: true } => write!(f, "Host-header tokens ({plugin})"),
        }
    }
}

/// The access rules of one config.
#[derive(Debug)]
pub struct Gate {
    /// Where sessions go.
    pub route: Route,
    /// `auth-plugin` / `auth-file`.
    pub auth: Option<Arc<AuthPlugin>>,
    /// Apply `auth` to static files too.
    pub web_auth: bool,
    /// Which `Origin`s may open sessions.
    pub origins: OriginPolicy,
    /// Which host names the instance answers to.
    pub hosts: hosts::HostPolicy,
    /// Peers whose X-Forwarded-For / Forwarded / PROXY headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// User ids of unix-socket peers believed likewise (`trusted-unix-peers`);
    /// any other local user could forge the client address.
    pub trusted_unix_peers: Vec<u32>,
    /// Which users may come in, and where each goes.
    pub users: users::Users,
    /// `auth-request`: an auth service names the user (`front_login.rs`).
    pub forward_auth: Option<Arc<forward_auth::ForwardAuth>>,
    /// `trusted-user-header`: a trusted front end names the user.
    pub trusted_user: Option<trusted_user::TrustedUser>,
    /// `oidc-issuer`: the user comes from the OpenID login cookie.
    pub oidc: Option<Arc<oidc::Oidc>>,
}

/// What the access rules grant one WebSocket request: who it is and where
/// its session goes. Worked out once, carried by the session to its end.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The client as logs show it (after trusted proxies).
    pub client: String,
    /// The authenticated user, when the auth plugin names one.
    pub user: Option<String>,
    /// The target and its VNC password.
    pub dest: Destination,
}

/// What is known about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The socket peer (after a PROXY protocol header from a trusted peer).
    pub peer: Peer,
    /// The connection is TLS.
    pub tls: bool,
    /// CN of the verified TLS client certificate.
    pub client_cn: Option<String>,
}

impl Gate {
    /// Whether the socket peer may speak for the client: a TCP peer in
    /// `trusted_proxies`, a unix peer whose uid is in `trusted_unix_peers`.
    pub fn trusts(&self, peer: &Peer) -> bool {
        match peer {
            Peer::Tcp(a) => forwarded::is_trusted(a.ip(), &self.trusted_proxies),
            Peer::Unix(uid) => uid.is_some_and(|uid| self.trusted_unix_peers.contains(&uid)),
        }
    }

    /// The client's address after trusted proxies; a unix peer no proxy
    /// spoke for is 127.0.0.1.
    fn client_ip(&self, conn: &ConnInfo, headers: &HeaderMap) -> IpAddr {
        let ip = conn.peer.ip();
        match &conn.peer {
            _ if !self.trusts(&conn.peer) => ip,
            Peer::Tcp(_) => forwarded::client_addr(ip, headers, &self.trusted_proxies),
            Peer::Unix(_) => forwarded::client_addr(ip, headers, &[IpNet::from(ip)]),
        }
    }

    /// The client as logs and caps should see it.
    pub fn client(&self, conn: &ConnInfo, headers: &HeaderMap) -> String {
        let ip = self.client_ip(conn, headers);
        match &conn.peer {
            Peer::Tcp(a) if ip == a.ip() => a.to_string(),
            Peer::Unix(_) if !self.trusts(&conn.peer) || ip == conn.peer.ip() => {
                conn.peer.to_string()
            }
            peer => format!("{ip} (via {peer})"),
        }
    }

    /// The client's address as failures and refusal lines are counted
    /// (IPv6 per /64).
    pub fn client_key(&self, conn: &ConnInfo, headers: &HeaderMap) -> IpAddr {
        caps::client_key(self.client_ip(conn, headers))
    }

    /// Counts the connection under the per-client cap for the client of its
    /// first request (or for its peer, counted at once when no trusted proxy
    /// speaks for it): 503, with a log line naming the client, when that
    /// client already has its maximum of connections.
    pub fn count_client(
        &self,
        metrics: &Metrics,
        permit: &caps::ConnPermit,
        conn: &ConnInfo,
        headers: &HeaderMap,
        client: &str,
    ) -> Result<(), Refusal> {
        permit
            .count_client(self.client_ip(conn, headers))
            .map_err(|cap| {
                metrics.refused("caps");
                refusal_log::log(
                    self.client_key(conn, headers),
                    Level::Warn,
                    format_args!("{client}: refused: the client has its maximum of {cap} connections (max-connections-per-client)"),
                );
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many connections from this client",
                )
            })
    }

    /// Who the request authenticated as (`None` without an auth plugin, or
    /// with one that names no user; a front login's user when there is
    /// one, see `front_login.rs`), after the per-user rules: 429 for a
    /// client locked out after too many wrong passwords, 403 for a user
    /// this instance is not for; password hashes on a bounded set of
    /// blocking threads (503 when none frees up in time). Refusals are
    /// counted and logged here, with the user name that was tried.
    pub async fn authenticate(
        &self,
        logins: &Logins,
        uri: &Uri,
        headers: &HeaderMap,
        conn: &ConnInfo,
        client: &str,
    ) -> Result<Option<String>, Refusal> {
        let key = self.client_key(conn, headers);
        if let Some(found) = self.front_user(logins, uri, headers, conn, client).await {
            let user = found?;
            return self
                .admit_user(logins, user.as_deref(), client, key)
                .map(|()| user);
        }
        if let Some(oidc) = &self.oidc {
            return self.oidc_user(logins, oidc, headers, client, key);
        }
        let Some(auth) = &self.auth else {
            return self.admit_user(logins, None, client, key).map(|()| None);
        };
        let cn = conn.client_cn.as_deref();
        let verdict = logins.passwords.check(auth, headers, cn, client, key).await;
        match verdict {
            Ok(user) => self
                .admit_user(logins, user.as_deref(), client, key)
                .map(|()| user),
            Err(r) => {
                logins.metrics().refused("auth");
                match auth::presented_user(headers) {
                    Some(tried) => {
                        let tried = users::shown(&tried);
                        log_auth_refusal(
                            key,
                            &r,
                            format_args!("{client}: refused: {r} (user {tried})"),
                        )
                    }
                    None => log_auth_refusal(key, &r, format_args!("{client}: refused: {r}")),
                }
                Err(r)
            }
        }
    }

    /// 400 for two `Host` headers, 421 for a name this instance does not
    /// answer to (DNS rebinding), with a (rate-limited) log line.
    pub fn check_host(
        &self,
        metrics: &Metrics,
        headers: &HeaderMap,
        conn: &ConnInfo,
        client: &str,
    ) -> Result<(), Refusal> {
        self.hosts
            .check(headers, self.trusts(&conn.peer))
            .inspect_err(|r| {
                metrics.refused("bad_request");
                let key = self.client_key(conn, headers);
                let named = headers
                    .get(HOST)
                    .map(|h| format!("{h:?}"))
                    .unwrap_or_default();
                refusal_log::log(
                    key,
                    Level::Info,
                    format_args!("{client}: refused: {r} (Host {named})"),
                );
            })
    }

    /// The per-user rules for an authenticated `user`.
    /// The user of the OpenID login cookie, or 401 (page requests are sent
    /// to the provider instead by the HTTP layer).
    fn oidc_user(
        &self,
        logins: &Logins,
        oidc: &oidc::Oidc,
        headers: &HeaderMap,
        client: &str,
        key: IpAddr,
    ) -> Result<Option<String>, Refusal> {
        let Some(user) = oidc.user(&logins.oidc, headers) else {
            logins.metrics().refused("auth");
            refusal_log::log(
                key,
                Level::Info,
                format_args!("{client}: refused: no valid login cookie"),
            );
            return Err(Refusal::new(StatusCode::UNAUTHORIZED, "Login required"));
        };
        self.admit_user(logins, Some(&user), client, key)
            .map(|()| Some(user))
    }

    fn admit_user(
        &self,
        logins: &Logins,
        user: Option<&str>,
        client: &str,
        key: IpAddr,
    ) -> Result<(), Refusal> {
        self.users.admit(user).map_err(|(r, why)| {
            logins.metrics().refused("auth");
            refusal_log::log(
                key,
                Level::Info,
                format_args!("{client}: refused: {r}: {why}"),
            );
            r
        })
    }

    /// Origin, auth and route for a WebSocket upgrade: who the client is
    /// and where its session goes, or the refusal.
    pub async fn admit(
        &self,
        logins: &Logins,
        uri: &Uri,
        headers: &HeaderMap,
        conn: &ConnInfo,
        client: String,
    ) -> Result<Grant, Refusal> {
        let key = self.client_key(conn, headers);
        if let Err(r) = self
            .origins
            .check(headers, conn.tls, self.trusts(&conn.peer))
        {
            logins.metrics().refused("origin");
            refusal_log::log(key, Level::Info, format_args!("{client}: refused: {r}"));
            return Err(r);
        }
        let user = self
            .authenticate(logins, uri, headers, conn, &client)
            .await?;
        let dest = self
            .route(uri, headers, user.as_deref(), (&client, key))
            .await
            .inspect_err(|_| logins.metrics().refused("token"))?;
        Ok(Grant { client, user, dest })
    }

    /// Where the session of `user` goes: the user's own entry, the fixed
    /// target, or the token's.
    async fn route(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        user: Option<&str>,
        (client, key): (&str, IpAddr),
    ) -> Result<Destination, Refusal> {
        if let Some(dest) = self.users.destination(user) {
            return Ok(dest.clone());
        }
        let (plugin, host) = match &self.route {
            Route::Fixed(dest) => return Ok(dest.clone()),
            // `users` let in only users with an entry, answered above.
            Route::PerUser => return Err(Refusal::forbidden("Forbidden")),
            Route::Token { plugin, host } => (plugin, *host),
        };
        let token = if host {
            host_token(headers)
        } else {
            query_token(uri)
        };
        let Some(token) = token else {
            refusal_log::log(
                key,
                Level::Info,
                format_args!("{client}: refused: no token in the request"),
            );
            return Err(Refusal::new(StatusCode::FORBIDDEN, "Token not present"));
        };
        route_token(plugin, &token, client, key).await
    }

    /// Why a live session of `user` to `target` may not go on under these
    /// rules (the user is gone from the auth source, from `allowed-users`,
    /// or mapped elsewhere); `None` when it may.
    pub fn revoked(&self, user: &str, target: &str) -> Option<String> {
        if let Some(auth) = &self.auth {
            if !auth.knows(user) {
                return Some(format!("user {} was removed", users::shown(user)));
            }
        }
        self.users.revoked(user, target)
    }
}

/// Logs an auth refusal: a wrong password is a failed login, always logged
/// (the lockout bounds how many); any other (no credentials, locked out,
/// no check free) is a refusal line like the others, rate-limited.
pub fn log_auth_refusal(key: IpAddr, r: &Refusal, line: fmt::Arguments<'_>) {
    if r.reason == auth::WRONG_CREDENTIALS {
        log::info!("{line}");
    } else {
        refusal_log::log(key, Level::Info, line);
    }
}

/// The target a token names, or the refusal (403/404/502/503) with a log
/// line that never shows the whole token (nor a password: errors hold none).
async fn route_token(
    plugin: &TokenPlugin,
    token: &str,
    client: &str,
    key: IpAddr,
) -> Result<Destination, Refusal> {
    match plugin.lookup(token).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => {
            let token = redact(token);
            refusal_log::log(
                key,
                Level::Info,
                format_args!("{client}: refused: unknown token {token}"),
            );
            Err(Refusal::new(StatusCode::NOT_FOUND, "Token not found"))
        }
        Err(e) => {
            let token = redact(token);
            refusal_log::log(
                key,
                Level::Warn,
                format_args!("{client}: token {token} could not be looked up: {e}"),
            );
            Err(match e {
                TokenError::Unsupported(_) => {
                    Refusal::new(StatusCode::FORBIDDEN, "Token not supported")
                }
                TokenError::BadData { .. } => {
                    Refusal::new(StatusCode::BAD_GATEWAY, "Token entry unusable")
                }
                TokenError::Unavailable { .. } => {
                    Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "Token lookup failed")
                }
            })
        }
    }
}

/// `?token=...` as Python reads it: the first `token` value, decoded, with
/// trailing newlines removed.
fn query_token(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("token=")?;
        let value = value.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&value)
            .decode_utf8()
            .ok()?;
        let token = decoded.trim_end_matches('\n').to_owned();
        (!token.is_empty()).then_some(token)
    })
}

/// The Host header without its port (`--host-token`).
fn host_token(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(HOST)?.to_str().ok()?;
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn tokens_from_query_and_host() {
        let uri: Uri = "/websockify?a=1&token=ab%20c%0A&token=second"
            .parse()
            .unwrap();
        assert_eq!(query_token(&uri).as_deref(), Some("ab c"));
        assert_eq!(query_token(&"/websockify".parse().unwrap()), None);
        assert_eq!(query_token(&"/?token=".parse().unwrap()), None);
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("desk1.example.com:6080"));
        assert_eq!(host_token(&h).as_deref(), Some("desk1.example.com"));
        h.insert(HOST, HeaderValue::from_static("[::1]:6080"));
        assert_eq!(host_token(&h).as_deref(), Some("::1"));
    }
}
