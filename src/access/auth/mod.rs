//! Access control for the HTTP upgrade (and, with `--web-auth`, the static
//! pages): Python websockify's auth plugins and an `htpasswd` file.
//!
//! Everything here is synchronous and free of I/O except [`AuthPlugin::htpasswd`],
//! which reads its file. A check that verifies a password hash (bcrypt,
//! SHA-crypt, APR1) costs milliseconds of CPU, so callers run
//! [`AuthPlugin::check`] on a blocking thread when the plugin
//! [`verifies_hashes`](AuthPlugin::verifies_hashes).

mod basic;
mod htpasswd;
mod verified;

use std::path::Path;

use anyhow::{bail, Context};
use http::HeaderMap;

pub use super::refusal::Refusal;
pub use basic::BasicCredentials;
pub use htpasswd::Htpasswd;

/// Python's module path for the built-in plugins; `--auth-plugin` accepts the
/// class name alone or prefixed with it, as Python's `rsplit('.', 1)` does.
const PYTHON_MODULE: &str = "websockify.auth_plugins.";

/// Realm Python websockify sends in its Basic challenge; kept so browsers
/// that remember credentials per realm keep working after the switch.
pub const BASIC_REALM_HEADER: &str = "Basic realm=\"Websockify\"";

/// The reason of the 401 for a wrong user name or password (not for missing
/// credentials): the refusal that counts as a failed login.
pub const WRONG_CREDENTIALS: &str = "wrong user name or password";

/// One configured auth plugin. `Debug` never shows a user name or password.
#[derive(Debug)]
pub enum AuthPlugin {
    /// Python's `BasePlugin`: allows everything.
    AllowAll,
    /// Python's `BasicHTTPAuth`: one `user:password` from `--auth-source`.
    Basic(BasicCredentials),
    /// Ours (`auth-file`): users and password hashes from an `htpasswd` file.
    Htpasswd(Htpasswd),
    /// Python's `ExpectOrigin`: `Origin` must be exactly one of these.
    ExpectOrigin(Vec<String>),
    /// Python's `ClientCertCNAuth`: the verified client certificate's CN must be one of these.
    ClientCertCn(Vec<String>),
}

impl AuthPlugin {
    /// The plugin named by `--auth-plugin` with its `--auth-source`.
    ///
    /// Differs from Python on purpose where Python would start and then refuse
    /// every request: a missing or empty source is an error here, at start.
    /// The error never repeats the source, which may be a password.
    pub fn new(plugin: &str, source: Option<&str>) -> anyhow::Result<Self> {
        let name = plugin.strip_prefix(PYTHON_MODULE).unwrap_or(plugin);
        // Blank counts as missing; otherwise the source is used as given (a
        // password may end in a space).
        let source = source.filter(|s| !s.trim().is_empty());
        match name {
            "BasePlugin" => Ok(AuthPlugin::AllowAll),
            "BasicHTTPAuth" => {
                let source = source
                    .context("auth plugin BasicHTTPAuth needs --auth-source user:password")?;
                Ok(AuthPlugin::Basic(BasicCredentials::new(source)?))
            }
            "ExpectOrigin" => Ok(AuthPlugin::ExpectOrigin(words(
                source,
                "ExpectOrigin needs --auth-source with the allowed origins",
            )?)),
            "ClientCertCNAuth" => Ok(AuthPlugin::ClientCertCn(words(
                source,
                "ClientCertCNAuth needs --auth-source with the allowed certificate CNs",
            )?)),
            _ => bail!(
                "unknown auth plugin {plugin:?} (built in: BasicHTTPAuth, ExpectOrigin, \
                 ClientCertCNAuth, BasePlugin; Python plugin modules cannot be loaded)"
            ),
        }
    }

    /// Users from an Apache `htpasswd` file. Call again to re-read it on
    /// reload; on error the caller keeps the plugin it had.
    pub fn htpasswd(path: &Path) -> anyhow::Result<Self> {
        Ok(AuthPlugin::Htpasswd(Htpasswd::load(path)?))
    }

    /// True when [`check`](Self::check) may run a slow password hash and so
    /// belongs on a blocking thread.
    pub fn verifies_hashes(&self) -> bool {
        matches!(self, AuthPlugin::Htpasswd(_))
    }

    /// The user of credentials that passed a password hash a short while
    /// ago (`auth-file` only): no hash, no check thread.
    pub fn remembered(&self, headers: &HeaderMap) -> Option<String> {
        match self {
            AuthPlugin::Htpasswd(file) => file.remembered(headers),
            _ => None,
        }
    }

    /// The user the request authenticated as (`None` for plugins that name
    /// no user: `BasePlugin`, `ExpectOrigin`), or the HTTP refusal.
    /// `client_cn` is the CN of the TLS client certificate that rustls
    /// verified, if any; it is the user for `ClientCertCNAuth`. `SSL_*`
    /// request headers are never looked at (Python 0.13 deletes them for the
    /// same reason: the client could send them).
    pub fn check(
        &self,
        headers: &HeaderMap,
        client_cn: Option<&str>,
    ) -> Result<Option<String>, Refusal> {
        match self {
            AuthPlugin::AllowAll => Ok(None),
            AuthPlugin::Basic(creds) => creds.check(headers).map(Some),
            AuthPlugin::Htpasswd(file) => file.check(headers).map(Some),
            AuthPlugin::ExpectOrigin(allowed) => {
                let origin = headers
                    .get(http::header::ORIGIN)
                    .and_then(|v| v.to_str().ok());
                match origin {
                    Some(o) if allowed.iter().any(|a| a == o) => Ok(None),
                    _ => Err(Refusal::forbidden("Invalid Origin Header")),
                }
            }
            AuthPlugin::ClientCertCn(allowed) => match client_cn {
                Some(cn) if allowed.iter().any(|a| a == cn) => Ok(Some(cn.to_owned())),
                _ => Err(Refusal::forbidden("client certificate CN not allowed")),
            },
        }
    }

    /// Whether this plugin checks who the client is and names a user: the
    /// ones that can stand in front of a VNC password or a user map.
    /// `BasePlugin` lets everyone in and `ExpectOrigin` trusts a header any
    /// client can write.
    pub fn names_users(&self) -> bool {
        !matches!(self, AuthPlugin::AllowAll | AuthPlugin::ExpectOrigin(_))
    }

    /// Whether `user` can still authenticate here (for revocation at reload).
    pub fn knows(&self, user: &str) -> bool {
        match self {
            AuthPlugin::AllowAll | AuthPlugin::ExpectOrigin(_) => true,
            AuthPlugin::Basic(creds) => creds.names(user),
            AuthPlugin::Htpasswd(file) => file.contains(user),
            AuthPlugin::ClientCertCn(allowed) => allowed.iter().any(|a| a == user),
        }
    }
}

/// The user name of the request's Basic credentials, whether or not they
/// are right: for the log line of a refusal (never the password).
pub fn presented_user(headers: &HeaderMap) -> Option<String> {
    let presented = basic::presented(headers).ok()?;
    Some(String::from_utf8_lossy(presented.user()).into_owned())
}

/// Python splits these sources on any whitespace (`str.split()`).
fn words(source: Option<&str>, missing: &'static str) -> anyhow::Result<Vec<String>> {
    let list: Vec<String> = source
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    if list.is_empty() {
        bail!(missing);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use http::HeaderValue;
    use http::StatusCode;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("test header"));
        h
    }

    #[test]
    fn plugin_names_as_python_spells_them() {
        for name in ["BasicHTTPAuth", "websockify.auth_plugins.BasicHTTPAuth"] {
            assert!(matches!(
                AuthPlugin::new(name, Some("u:p")),
                Ok(AuthPlugin::Basic(_))
            ));
        }
        assert!(matches!(
            AuthPlugin::new("BasePlugin", None),
            Ok(AuthPlugin::AllowAll)
        ));
        let err = AuthPlugin::new("mymod.MyAuth", Some("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"mymod.MyAuth\""), "{err}");
        let err = AuthPlugin::new("websockify.auth_plugins.Nope", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Nope"), "{err}");
    }

    #[test]
    fn missing_sources_are_errors_at_start() {
        assert!(AuthPlugin::new("BasicHTTPAuth", None).is_err());
        assert!(AuthPlugin::new("ExpectOrigin", Some("  ")).is_err());
        assert!(AuthPlugin::new("ClientCertCNAuth", None).is_err());
    }

    #[test]
    fn source_never_in_errors_or_debug() {
        let err = AuthPlugin::new("BasicHTTPAuth", Some("alice-no-colon-s3cret")).unwrap_err();
        assert!(!format!("{err:#}").contains("s3cret"));
        let plugin = AuthPlugin::new("BasicHTTPAuth", Some("alice:s3cret")).expect("valid");
        let debug = format!("{plugin:?}");
        assert!(
            !debug.contains("alice") && !debug.contains("s3cret"),
            "{debug}"
        );
    }

    #[test]
    fn expect_origin_is_exact_and_requires_the_header() {
        let p = AuthPlugin::new(
            "ExpectOrigin",
            Some("https://a.example http://b.example:8080"),
        )
        .expect("valid");
        assert_eq!(
            p.check(&with("origin", "https://a.example"), None),
            Ok(None)
        );
        assert_eq!(
            p.check(&with("origin", "http://b.example:8080"), None),
            Ok(None)
        );
        for bad in [
            "https://a.example:443",
            "https://A.example",
            "http://a.example",
            "null",
        ] {
            let r = p.check(&with("origin", bad), None).unwrap_err();
            assert_eq!(
                (r.status, r.www_authenticate),
                (StatusCode::FORBIDDEN, false),
                "{bad}"
            );
        }
        // Python refuses a missing Origin with this plugin (unlike OriginPolicy).
        assert_eq!(
            p.check(&HeaderMap::new(), None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn client_cert_cn_list() {
        let p = AuthPlugin::new("ClientCertCNAuth", Some("alice\tbob")).expect("valid");
        assert_eq!(
            p.check(&HeaderMap::new(), Some("bob")),
            Ok(Some("bob".into()))
        );
        assert_eq!(
            p.check(&HeaderMap::new(), Some("carol"))
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            p.check(&HeaderMap::new(), None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        // A client-sent header is not a certificate.
        let spoof = with("ssl_client_s_dn_cn", "alice");
        assert_eq!(
            p.check(&spoof, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn basic_source_is_not_trimmed() {
        let p = AuthPlugin::new("BasicHTTPAuth", Some("u:pw ")).expect("valid");
        let enc = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            p.check(&with("authorization", &enc("u:pw ")), None),
            Ok(Some("u".into()))
        );
        assert!(p.check(&with("authorization", &enc("u:pw")), None).is_err());
    }

    #[test]
    fn allow_all_allows() {
        assert_eq!(
            AuthPlugin::AllowAll.check(&HeaderMap::new(), None),
            Ok(None)
        );
    }

    #[test]
    fn refusal_displays_status_and_reason() {
        assert_eq!(Refusal::forbidden("nope").to_string(), "403 nope");
    }
}
