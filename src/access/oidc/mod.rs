//! OpenID Connect login (`oidc-issuer`): the proxy as relying party, with
//! the authorization code flow and PKCE. A page request without a valid
//! login cookie is sent to the provider; `/oidc/callback` checks the state,
//! redeems the code, verifies the ID token, takes the user and the groups
//! from their claims and sets the cookie; the WebSocket upgrade is then let
//! in by that cookie, with the user it names (so `allowed-users`, `[users]`,
//! logs and revocation work as for passwords). `/oidc/logout` ends it.
//!
//! The protocol itself is the `openid` crate's (`provider.rs`); this file is
//! the flow, `cookie.rs` the sealed cookie, `pending.rs` the logins under way.

pub mod cookie;
mod pending;
mod provider;
mod reply;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::{COOKIE, HOST};
use http::{HeaderMap, Response, StatusCode, Uri};
use ring::rand::{SecureRandom as _, SystemRandom};

use super::users::shown;
use crate::response::Body;
use cookie::{CookieKeys, Login};
use pending::{Pending, PendingLogins};
use provider::{IdpError, Provider};
pub use settings::OidcSettings;

/// The callback path under the instance's address.
pub const CALLBACK_PATH: &str = "/oidc/callback";
/// The logout path.
pub const LOGOUT_PATH: &str = "/oidc/logout";

/// The login of one instance: settings, cookie keys, logins under way.
pub struct Oidc {
    /// The `oidc-*` keys.
    pub settings: OidcSettings,
    keys: CookieKeys,
    provider: Provider,
}

/// What outlives the `Oidc` a reload replaces, kept with the server's
/// other shared state (`access::Logins`): the logins under way, so a
/// reload does not fail the logins in flight, and when each user last
/// logged out (ms), so a reload does not bring logged-out cookies back.
#[derive(Debug, Default)]
pub struct LoginState {
    pending: PendingLogins,
    logouts: Mutex<HashMap<String, u64>>,
}

impl LoginState {
    fn logouts(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.logouts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 32 random bytes, base64url: state, nonce and PKCE verifier.
fn random() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

impl Oidc {
    /// The login for `settings`; reads (or creates) the cookie key file.
    pub fn new(settings: OidcSettings) -> anyhow::Result<Oidc> {
        Ok(Oidc {
            keys: match &settings.key_file {
                Some(file) => CookieKeys::load_or_create(file)?,
                None => CookieKeys::ephemeral()?,
            },
            settings,
            provider: Provider::new()?,
        })
    }

    /// The user of a valid login cookie in `headers`.
    pub fn user(&self, state: &LoginState, headers: &HeaderMap) -> Option<String> {
        let login = self.login_cookie(headers)?;
        match state.logouts().get(&login.user) {
            Some(&out) if out >= login.issued => None,
            _ => Some(login.user),
        }
    }

    fn login_cookie(&self, headers: &HeaderMap) -> Option<Login> {
        let now = now_ms() / 1000;
        cookie_values(headers, cookie::COOKIE).find_map(|v| self.keys.open(v, now))
    }

    /// Whether the cookies are `Secure`: over TLS, or when the browser
    /// comes back on an https `oidc-redirect-url` (TLS ended by a front
    /// proxy).
    fn secure(&self, tls: bool) -> bool {
        tls || self
            .settings
            .redirect_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// The redirect URI: `oidc-redirect-url`, or the callback under the
    /// address the browser used.
    fn redirect_uri(&self, headers: &HeaderMap, tls: bool) -> Option<String> {
        if let Some(url) = &self.settings.redirect_url {
            return Some(url.clone());
        }
        let host = headers.get(HOST)?.to_str().ok()?;
        let scheme = if tls { "https" } else { "http" };
        Some(format!("{scheme}://{host}{CALLBACK_PATH}"))
    }

    /// 302 to the provider for a page request without a login; 503 when the
    /// provider cannot be reached (never the page).
    pub async fn start(
        &self,
        logins: &LoginState,
        uri: &Uri,
        headers: &HeaderMap,
        tls: bool,
        client: &str,
    ) -> Response<Body> {
        let Some(redirect_uri) = self.redirect_uri(headers, tls) else {
            return reply::page(StatusCode::BAD_REQUEST, "No Host header to come back to");
        };
        let oidc = match self.provider.client(&self.settings, false).await {
            Ok(c) => c,
            Err(e) => return unavailable(client, &e),
        };
        let (Some(state), Some(nonce)) = (random(), random()) else {
            return reply::page(StatusCode::SERVICE_UNAVAILABLE, "No random numbers");
        };
        let mut oidc = oidc;
        oidc.redirect_uri = Some(redirect_uri.clone());
        let options = openid::Options {
            scope: Some(self.settings.scopes.clone()),
            state: Some(state.clone()),
            nonce: Some(nonce.clone()),
            ..Default::default()
        };
        let (url, pkce) = oidc.auth_url_with_new_pkce(&options);
        let pending = Pending::new(
            nonce,
            pkce.code_verifier().to_owned(),
            redirect_uri,
            return_to(uri),
        );
        if logins.pending.insert(state.clone(), pending) {
            log::warn!(
                "{client}: {} OpenID logins are under way: the oldest one was dropped",
                pending::MAX_PENDING
            );
        }
        // The state is also this browser's cookie: a callback carried to
        // another browser (login CSRF) finds no match there.
        reply::redirect(
            url.as_str(),
            Some(reply::state_cookie(&state, self.secure(tls))),
        )
    }

    /// `/oidc/callback`: the login's end. 400 for an unknown state (a
    /// replay), 403 for a refused token, user or group, 503 when the
    /// provider does not answer; else the cookie and 302 to the page.
    pub async fn callback(
        &self,
        logins: &LoginState,
        uri: &Uri,
        headers: &HeaderMap,
        tls: bool,
        client: &str,
    ) -> Response<Body> {
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let pending = match take_pending(logins, &query, headers, client) {
            Ok(pending) => pending,
            Err(why) => return reply::page(StatusCode::BAD_REQUEST, why),
        };
        if let Some(error) = query.get("error") {
            log::info!(
                "{client}: the identity provider refused the login: {}",
                shown(error)
            );
            return reply::page(
                StatusCode::FORBIDDEN,
                "The identity provider refused the login",
            );
        }
        let Some(code) = query.get("code") else {
            return reply::page(StatusCode::BAD_REQUEST, "No code in the callback");
        };
        let claims = self
            .provider
            .redeem(
                &self.settings,
                code,
                &pending.verifier,
                &pending.redirect_uri,
                &pending.nonce,
            )
            .await;
        let claims = match claims {
            Ok(c) => c,
            Err(e @ IdpError::Unavailable(_)) => return unavailable(client, &e),
            Err(e @ IdpError::Refused(_)) => {
                log::info!("{client}: refused OpenID login: {e}");
                return reply::page(StatusCode::FORBIDDEN, "Login refused");
            }
        };
        self.admit(&claims, &pending.return_to, tls, client)
    }

    /// The user and groups of verified claims, against `oidc-allowed-groups`.
    fn admit(
        &self,
        claims: &serde_json::Value,
        return_to: &str,
        tls: bool,
        client: &str,
    ) -> Response<Body> {
        let s = &self.settings;
        let Some(user) = claims.get(&s.user_claim).and_then(|u| u.as_str()) else {
            log::info!(
                "{client}: refused OpenID login: the ID token has no {} claim",
                s.user_claim
            );
            return reply::page(StatusCode::FORBIDDEN, "Login refused: no user name");
        };
        let groups = groups(claims.get(&s.groups_claim));
        if !s.groups_admit(&groups) {
            log::info!(
                "{client}: refused: user {} is in none of oidc-allowed-groups",
                shown(user)
            );
            return reply::page(StatusCode::FORBIDDEN, "Forbidden: not in an allowed group");
        }
        let issued = now_ms();
        let login = Login {
            user: user.to_owned(),
            issued,
            expires: issued / 1000 + settings::SESSION_LIFETIME.as_secs(),
        };
        let Some(value) = self.keys.seal(&login) else {
            return reply::page(StatusCode::SERVICE_UNAVAILABLE, "No random numbers");
        };
        log::info!("{client}: user {} logged in through OpenID", shown(user));
        let max_age = settings::SESSION_LIFETIME.as_secs();
        let secure = self.secure(tls);
        let mut resp = reply::redirect(return_to, Some(reply::set_cookie(&value, max_age, secure)));
        reply::add_cookie(&mut resp, &reply::end_state_cookie(secure));
        resp
    }

    /// `/oidc/logout`: the cookie is ended here and refused from now on;
    /// returns the user whose live sessions the caller closes.
    pub fn logout(
        &self,
        logins: &LoginState,
        headers: &HeaderMap,
        tls: bool,
        client: &str,
    ) -> (Response<Body>, Option<String>) {
        let user = self.login_cookie(headers).map(|l| l.user);
        if let Some(user) = &user {
            let now = now_ms();
            let mut logouts = logins.logouts();
            let oldest = now.saturating_sub(settings::SESSION_LIFETIME.as_millis() as u64);
            logouts.retain(|_, at| *at >= oldest);
            logouts.insert(user.clone(), now);
            log::info!("{client}: user {} logged out", shown(user));
        }
        let mut resp = reply::page(StatusCode::OK, "Logged out");
        reply::add_cookie(&mut resp, &reply::set_cookie("", 0, self.secure(tls)));
        (resp, user)
    }
}

/// The login the callback's `state` names, taken once, when this browser
/// holds that state in its cookie; else what the 400 page says.
fn take_pending(
    logins: &LoginState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    client: &str,
) -> Result<Pending, &'static str> {
    let Some(state) = query.get("state") else {
        return Err("No state in the callback");
    };
    if cookie_values(headers, reply::STATE_COOKIE).all(|v| v != state) {
        log::info!("{client}: refused OpenID callback: its state is not this browser's");
        return Err("This login was not started in this browser; start again from the page");
    }
    logins.pending.take(state).ok_or_else(|| {
        log::info!(
            "{client}: refused OpenID callback: unknown or expired state (replayed, or too slow)"
        );
        "Unknown or expired login; start again from the page"
    })
}

/// The values of the cookies called `name` in `headers`.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(move |c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

/// Whether `issuer` answers with a usable discovery document and keys
/// (`websockifyctl status`): `Ok` with how many keys, or why not.
pub async fn check_issuer(issuer: &str) -> Result<usize, String> {
    let url = settings::issuer(issuer).map_err(|e| format!("{e:#}"))?;
    let provider = Provider::new().map_err(|e| format!("{e:#}"))?;
    match provider.discovery_and_keys(&url).await {
        Ok((_, jwks)) => Ok(jwks.keys.len()),
        Err(e) => Err(e.to_string()),
    }
}

/// The page for a provider that does not answer, and its log line.
fn unavailable(client: &str, e: &IdpError) -> Response<Body> {
    log::warn!("{client}: OpenID login not possible: {e}");
    reply::page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The identity provider is unavailable; try again later",
    )
}

/// Groups from a claim that is a list of strings or one string.
fn groups(claim: Option<&serde_json::Value>) -> Vec<String> {
    match claim {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(g)) => vec![g.clone()],
        _ => Vec::new(),
    }
}

/// Where the callback sends the browser back: the page asked for, as a
/// path on this site (never `//host`, which browsers read as another site).
fn return_to(uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}
