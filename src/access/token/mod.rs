//! Token routing (`--token-plugin`, `--token-source`): maps the token of a
//! WebSocket request to the target to connect to, with Python websockify
//! 0.13's plugins and their source formats.
//!
//! The plugins read files, directories, HTTP APIs, signed JWTs or Redis; each
//! lives in its own file. Every lookup answers one of three things: a target,
//! "unknown token" (`Ok(None)`: the caller refuses the request), or a
//! [`TokenError`] when the source itself is unusable, so that an outage is
//! not reported to the browser (or the log) as a bad token.

pub(super) mod api;
mod dir;
mod file;
mod filename;
mod jwt;
mod jwt_ring;
mod redis;
mod unix;

#[cfg(fuzzing)]
pub(crate) use file::parse_file;

use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use serde_json::Value;

use super::vnc_password::VncPassword;
/// Where a token leads: the same as any target (`host:port` or a unix socket).
pub use crate::addr::Target as TokenTarget;
use crate::addr::TargetAddr;
/// Puts jsonwebtoken's signatures on ring for this process (done by the
/// JWTTokenApi plugin; callers that sign tokens themselves, as tests do,
/// call it first).
pub use jwt_ring::install as install_jwt_crypto;

/// A lookup that could not say whether the token is known. Messages never
/// hold a whole token, a password or a key.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The source could not be asked: a token file or directory gone or
    /// unreadable, an API or Redis server that refused, timed out or
    /// answered with a server error. Fits HTTP 503.
    #[error("token source {origin} unavailable: {reason}")]
    Unavailable {
        /// Which source, without secrets (path, `scheme://host:port`, Redis address).
        origin: String,
        /// What went wrong.
        reason: String,
    },
    /// The source knows the token but its entry is not a usable target (a
    /// Redis value or API answer that is not `host:port`, a signed JWT
    /// without `host`/`port`). Fits HTTP 502.
    #[error("token source {origin} has a bad entry for token {token}: {reason}")]
    BadData {
        /// Which source, without secrets.
        origin: String,
        /// The token, redacted with [`redact`].
        token: String,
        /// What is wrong with the entry.
        reason: String,
    },
    /// A token form this build cannot check (encrypted JWTs). Fits HTTP 403
    /// with the message as the reason.
    #[error("{0}")]
    Unsupported(String),
}

/// Where a session goes: the target, and the target's VNC password when
/// the token's entry carries one (`"vnc_password"` in a `JSONTokenApi`
/// answer or a `TokenRedis` JSON value), which the session answers the VNC
/// server with instead of `vnc-password-file`'s. `Debug` shows no byte of
/// the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The target to connect to.
    pub target: TokenTarget,
    /// This target's VNC password, from the token source.
    pub vnc_password: Option<VncPassword>,
}

/// A target without a password of its own (fixed targets, plain-text
/// token sources).
impl From<TokenTarget> for Destination {
    fn from(target: TokenTarget) -> Self {
        Self {
            target,
            vnc_password: None,
        }
    }
}

/// Python's plugin class names, as `--token-plugin` accepts them.
pub const PLUGIN_NAMES: [&str; 8] = [
    "ReadOnlyTokenFile",
    "TokenFile",
    "TokenFileName",
    "BaseTokenAPI",
    "JSONTokenApi",
    "JWTTokenApi",
    "TokenRedis",
    "UnixDomainSocketDirectory",
];

/// The module path Python prepends to a bare class name.
const PYTHON_MODULE: &str = "websockify.token_plugins.";

/// A configured token plugin. Clones share their state (loaded token table,
/// HTTP client, Redis connection), so one can be handed to every session.
#[derive(Clone)]
pub struct TokenPlugin {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    File(file::TokenFile),
    FileName(filename::TokenFileName),
    // Boxed: the HTTPS client is large (hyper with HTTP/2, which
    // instant-acme's client brings into the build), the others small.
    Api(Box<api::TokenApi>),
    Jwt(jwt::JwtTokenApi),
    Redis(redis::TokenRedis),
    UnixDir(unix::SocketDirectory),
}

impl TokenPlugin {
    /// `plugin` is Python's class name (`TokenFile`, `ReadOnlyTokenFile`,
    /// `TokenFileName`, `BaseTokenAPI`, `JSONTokenApi`, `JWTTokenApi`,
    /// `TokenRedis`, `UnixDomainSocketDirectory`), bare or with the
    /// `websockify.token_plugins.` prefix. `source` is checked here, not at
    /// the first connection, so that a typo stops the daemon at start with a
    /// message naming it: files and directories must exist, URLs must parse,
    /// the JWT key must load, the Redis source must parse (Redis itself is
    /// reached at the first lookup, and again after any failure).
    pub fn new(plugin: &str, source: &str) -> anyhow::Result<Self> {
        let name = plugin.strip_prefix(PYTHON_MODULE).unwrap_or(plugin);
        let inner = match name {
            "TokenFile" => Inner::File(file::TokenFile::new(source, true)?),
            "ReadOnlyTokenFile" => Inner::File(file::TokenFile::new(source, false)?),
            "TokenFileName" => Inner::FileName(filename::TokenFileName::new(source)?),
            "BaseTokenAPI" => Inner::Api(Box::new(api::TokenApi::new(source, api::Answer::Text)?)),
            "JSONTokenApi" => Inner::Api(Box::new(api::TokenApi::new(source, api::Answer::Json)?)),
            "JWTTokenApi" => Inner::Jwt(jwt::JwtTokenApi::new(source)?),
            "TokenRedis" => Inner::Redis(redis::TokenRedis::new(source)?),
            "UnixDomainSocketDirectory" => Inner::UnixDir(unix::SocketDirectory::new(source)?),
            _ if plugin.contains('.') => bail!(
                "token plugin {plugin:?}: only websockify's own plugins are built in \
                 (Python classes from other modules cannot be loaded); one of: {}",
                PLUGIN_NAMES.join(", ")
            ),
            _ => bail!(
                "unknown token plugin {plugin:?}: expected one of {}",
                PLUGIN_NAMES.join(", ")
            ),
        };
        Ok(Self { inner })
    }

    /// The target for `token`, with its VNC password if the source holds
    /// one; `Ok(None)` when the token is unknown (or, for JWTs, not validly
    /// signed or outside its `nbf`/`exp` window).
    pub async fn lookup(&self, token: &str) -> Result<Option<Destination>, TokenError> {
        let target = match &self.inner {
            Inner::Api(p) => return p.lookup(token).await,
            Inner::Redis(p) => return p.lookup(token).await,
            Inner::File(p) => p.lookup(token).await,
            Inner::FileName(p) => p.lookup(token).await,
            Inner::Jwt(p) => p.lookup(token),
            Inner::UnixDir(p) => p.lookup(token).await,
        };
        target.map(|found| found.map(Destination::from))
    }
}

/// For startup logs: the plugin and its source, without passwords or URL
/// credentials (e.g. `TokenRedis redis.local:6379 db 0`).
impl fmt::Display for TokenPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::File(p) => p.fmt(f),
            Inner::FileName(p) => p.fmt(f),
            Inner::Api(p) => p.fmt(f),
            Inner::Jwt(p) => p.fmt(f),
            Inner::Redis(p) => p.fmt(f),
            Inner::UnixDir(p) => p.fmt(f),
        }
    }
}

/// Same as `Display`: a `{:?}` of the config must not print secrets.
impl fmt::Debug for TokenPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenPlugin({self})")
    }
}

/// A token as logs may show it: never whole. Up to 4 leading characters
/// (fewer for short tokens, so that at most a quarter is shown), escaped,
/// and the length: `"secr…(18 chars)"`. Enough to find the entry in a token
/// file, not enough to use it.
pub fn redact(token: &str) -> String {
    let len = token.chars().count();
    let shown: String = token
        .chars()
        .take((len / 4).min(4))
        .flat_map(char::escape_default)
        .collect();
    format!("{shown}…({len} chars)")
}

/// Parses a target as the token plugins write it: `host:port` split at the
/// last colon (so `::1:5900` and `[::1]:5900` are IPv6), or
/// `unix_socket:/path`. Surrounding whitespace is ignored.
pub(crate) fn parse_target(text: &str) -> anyhow::Result<TokenTarget> {
    let text = text.trim();
    if let Some(path) = text.strip_prefix("unix_socket:") {
        if path.is_empty() {
            return Err(anyhow::anyhow!("unix_socket: needs a path"));
        }
        return Ok(TokenTarget::Unix(PathBuf::from(path)));
    }
    let addr = TargetAddr::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    check_host(&addr.host)?;
    Ok(TokenTarget::Tcp(addr))
}

/// Builds a target from separate `host` and `port` values (JSON API answers,
/// JWT claims). The port may be a number or a numeric string; a host of
/// `unix_socket` makes the "port" the socket path, as in Python.
fn target_from_pair(host: &Value, port: &Value) -> anyhow::Result<TokenTarget> {
    let host = host
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("\"host\" is missing or not a string"))?;
    if host == "unix_socket" {
        return match port.as_str() {
            Some(path) if !path.is_empty() => Ok(TokenTarget::Unix(PathBuf::from(path))),
            _ => Err(anyhow::anyhow!(
                "\"port\" must be the socket path when \"host\" is unix_socket"
            )),
        };
    }
    let port = match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| anyhow::anyhow!("\"port\" {port} is not a port number"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(anyhow::anyhow!("\"host\" is empty"));
    }
    check_host(host)?;
    Ok(TokenTarget::Tcp(TargetAddr {
        host: host.to_owned(),
        port,
    }))
}

/// The `"vnc_password"` field of a JSON entry: absent or `null` is none, a
/// string is the password (its first 8 bytes, as VNC uses). Messages never
/// show the value.
fn vnc_password_field(entry: &Value) -> anyhow::Result<Option<VncPassword>> {
    match entry.get("vnc_password") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => VncPassword::from_text(text.as_bytes())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("\"vnc_password\" is unusable: {e}")),
        Some(_) => Err(anyhow::anyhow!("\"vnc_password\" is not a string")),
    }
}

/// A host name never holds whitespace or control characters; one that does
/// is a typo better reported where it is written than at connect time.
fn check_host(host: &str) -> anyhow::Result<()> {
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(anyhow::anyhow!("host {host:?} contains whitespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tcp(host: &str, port: u16) -> TokenTarget {
        TokenTarget::tcp(host, port)
    }

    #[test]
    fn redaction_never_shows_the_whole_token() {
        assert_eq!(redact("secret-token-value"), "secr…(18 chars)");
        assert_eq!(redact("abcdefgh"), "ab…(8 chars)");
        assert_eq!(redact("abc"), "…(3 chars)");
        assert_eq!(redact(""), "…(0 chars)");
        assert_eq!(redact("a\nbcdefgh"), "a\\n…(9 chars)");
        let long = "x".repeat(200);
        assert_eq!(redact(&long), "xxxx…(200 chars)");
        for t in ["Q", "QZ", "QZXW", "QZXWVUTS", "0123456789ABCDEF"] {
            assert!(!redact(t).contains(t), "{t}");
        }
    }

    #[test]
    fn targets_in_python_forms() {
        let parse_target = |t: &str| super::parse_target(t).map_err(|e| e.to_string());
        assert_eq!(parse_target("host:5900"), Ok(tcp("host", 5900)));
        assert_eq!(parse_target(" host:5900\t"), Ok(tcp("host", 5900)));
        assert_eq!(parse_target("::1:5900"), Ok(tcp("::1", 5900)));
        assert_eq!(parse_target("[::1]:5900"), Ok(tcp("::1", 5900)));
        assert_eq!(
            parse_target("unix_socket:/run/vnc.sock"),
            Ok(TokenTarget::Unix("/run/vnc.sock".into()))
        );
        for bad in [
            "host",
            "host:port",
            "host:70000",
            "unix_socket:",
            "a b:1",
            "",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn targets_from_json_pairs() {
        let target_from_pair =
            |h: &Value, p: &Value| super::target_from_pair(h, p).map_err(|e| e.to_string());
        assert_eq!(
            target_from_pair(&json!("h"), &json!(5901)),
            Ok(tcp("h", 5901))
        );
        assert_eq!(
            target_from_pair(&json!("[::1]"), &json!("5901")),
            Ok(tcp("::1", 5901))
        );
        assert_eq!(
            target_from_pair(&json!("unix_socket"), &json!("/s")),
            Ok(TokenTarget::Unix("/s".into()))
        );
        for (h, p) in [
            (json!(null), json!(1)),
            (json!("h"), json!(null)),
            (json!("h"), json!(-1)),
            (json!("h"), json!(65536)),
            (json!("h"), json!(1.5)),
            (json!(""), json!(1)),
            (json!("unix_socket"), json!(1)),
        ] {
            assert!(target_from_pair(&h, &p).is_err(), "{h} {p}");
        }
    }

    #[test]
    fn plugin_names() {
        let dir = std::env::temp_dir();
        let dir = dir.to_str().unwrap();
        assert!(TokenPlugin::new("TokenFileName", dir).is_ok());
        assert!(TokenPlugin::new("websockify.token_plugins.TokenFileName", dir).is_ok());
        let err = TokenPlugin::new("TokenFileNames", dir)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TokenFileNames") && err.contains("TokenRedis"),
            "{err}"
        );
        let err = TokenPlugin::new("mymod.Plugin", dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mymod.Plugin"), "{err}");
    }
}
