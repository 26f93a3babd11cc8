//! The user from a login in front of the proxy: `auth-request` asks an auth
//! service about each request, `trusted-user-header` believes what a trusted
//! front end says. Either applies to page requests and upgrades alike, and
//! its user then meets the same per-user rules (`allowed-users`,
//! `[users.NAME]`) as an `auth-file` login.

use std::net::IpAddr;

use http::header::HOST;
use http::{HeaderMap, StatusCode, Uri};
use log::Level;

use super::forward_auth::{Asked, ForwardAuth, Verdict, NOT_SIGNED_IN};
use super::{forwarded, refusal_log, ConnInfo, Gate, Logins, Refusal};

impl Gate {
    /// Whether a front login is set up (`auth-request`, `trusted-user-header`).
    pub fn front_login(&self) -> bool {
        self.forward_auth.is_some() || self.trusted_user.is_some()
    }

    /// The user the front login names for this request, or its refusal
    /// (logged, and counted in `guard`'s metrics); `None` when there is no
    /// front login.
    pub(super) async fn front_user(
        &self,
        logins: &Logins,
        uri: &Uri,
        headers: &HeaderMap,
        conn: &ConnInfo,
        client: &str,
    ) -> Option<Result<Option<String>, Refusal>> {
        let key = self.client_key(conn, headers);
        let found = if let Some(fa) = &self.forward_auth {
            self.forward_user(fa, uri, headers, conn, (client, key))
                .await
        } else {
            let trusted = self.trusts(&conn.peer);
            let tu = self.trusted_user.as_ref()?;
            tu.user(headers, trusted, client, key)
        };
        if found.is_err() {
            logins.metrics().refused("auth");
        }
        Some(found)
    }

    /// `auth-request`'s verdict as a user or a refusal: 401 (sign in), 403,
    /// or 503 when the auth service gave no usable answer.
    async fn forward_user(
        &self,
        fa: &ForwardAuth,
        uri: &Uri,
        headers: &HeaderMap,
        conn: &ConnInfo,
        (client, key): (&str, IpAddr),
    ) -> Result<Option<String>, Refusal> {
        let asked = Asked {
            headers,
            uri,
            host: self.original_host(headers, conn),
            proto: self.original_proto(headers, conn),
            client_ip: self.client_ip(conn, headers),
        };
        let (level, why, refusal) = match fa.check(&asked).await {
            Ok(Verdict::Allowed(user)) => return Ok(user),
            Ok(Verdict::SignIn) => (
                Level::Info,
                "401: not signed in (auth-request answered 401)".to_owned(),
                Refusal::new(StatusCode::UNAUTHORIZED, NOT_SIGNED_IN),
            ),
            Ok(Verdict::NotInGroups(user, groups)) => (
                Level::Info,
                format!(
                    "403: user {} is in none of auth-request-allowed-groups (groups: {})",
                    user.as_deref().map_or("(none)".into(), super::users::shown),
                    shown_groups(&groups)
                ),
                Refusal::forbidden("Forbidden"),
            ),
            Ok(Verdict::Denied) => (
                Level::Info,
                "403: auth-request answered 403".to_owned(),
                Refusal::forbidden("Forbidden"),
            ),
            Err(e) => (
                Level::Warn,
                format!("503: auth-request {}: {e}", fa.origin()),
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "authentication service unavailable",
                ),
            ),
        };
        refusal_log::log(key, level, format_args!("{client}: refused: {why}"));
        Err(refusal)
    }

    /// Where a page request refused with `r` is sent to sign in: the
    /// `auth-request-signin` URL with the page's own URL as `rd=`.
    pub fn sign_in_location(
        &self,
        r: &Refusal,
        uri: &Uri,
        headers: &HeaderMap,
        conn: &ConnInfo,
    ) -> Option<String> {
        let fa = self.forward_auth.as_ref()?;
        if r.reason != NOT_SIGNED_IN {
            return None;
        }
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let original = self.original_host(headers, conn).map(|host| {
            let proto = self.original_proto(headers, conn);
            format!("{proto}://{host}{target}")
        });
        fa.sign_in_url(original.as_deref())
    }

    /// The host the browser asked for: a trusted proxy's report, else `Host`.
    fn original_host(&self, headers: &HeaderMap, conn: &ConnInfo) -> Option<String> {
        let reported = self
            .trusts(&conn.peer)
            .then(|| forwarded::forwarded_host(headers))
            .flatten();
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        reported.or_else(|| host.map(str::to_owned))
    }

    /// `http` or `https`, as the browser used: a trusted proxy's report,
    /// else whether this connection is TLS.
    fn original_proto(&self, headers: &HeaderMap, conn: &ConnInfo) -> String {
        let reported = self
            .trusts(&conn.peer)
            .then(|| forwarded::forwarded_proto(headers))
            .flatten()
            .filter(|p| p == "http" || p == "https");
        reported.unwrap_or_else(|| if conn.tls { "https" } else { "http" }.to_owned())
    }
}

/// Groups as a log line shows them: escaped, at most a few.
fn shown_groups(groups: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut shown: Vec<String> = groups
        .iter()
        .take(SHOWN)
        .map(|g| super::users::shown(g))
        .collect();
    if groups.len() > SHOWN {
        shown.push(format!("and {} more", groups.len() - SHOWN));
    }
    if shown.is_empty() {
        return "none".into();
    }
    shown.join(", ")
}
