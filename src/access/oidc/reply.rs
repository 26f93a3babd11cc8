//! The answers of the login flow: short pages, redirects, the cookie.

use http::header::{HeaderValue, CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{Response, StatusCode};

use super::cookie::COOKIE;
use crate::response::{text_owned, Body};

/// A short text page that no cache keeps.
pub fn page(status: StatusCode, text: &str) -> Response<Body> {
    let mut resp = text_owned(status, format!("{text}\n"));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 302 to `location`, with a cookie to set.
pub fn redirect(location: &str, cookie: Option<String>) -> Response<Body> {
    let mut resp = page(StatusCode::FOUND, "Redirecting");
    match HeaderValue::from_str(location) {
        Ok(value) => {
            resp.headers_mut().insert(LOCATION, value);
        }
        Err(_) => return page(StatusCode::BAD_GATEWAY, "Unusable redirect"),
    }
    if let Some(cookie) = cookie {
        add_cookie(&mut resp, &cookie);
    }
    resp
}

/// Adds a `Set-Cookie` header.
pub fn add_cookie(resp: &mut Response<Body>, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(SET_COOKIE, value);
    }
}

/// The cookie that binds a login's `state` to the browser that started it.
pub const STATE_COOKIE: &str = "websockify_oidc_state";

/// The state cookie, for the callback only, as long as a login may take.
pub fn state_cookie(state: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    let max_age = super::pending::PENDING_TTL.as_secs();
    format!(
        "{STATE_COOKIE}={state}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        super::CALLBACK_PATH
    )
}

/// Ends the state cookie once the login is done.
pub fn end_state_cookie(tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{STATE_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
        super::CALLBACK_PATH
    )
}

/// The login cookie: HttpOnly, SameSite=Lax, Secure over TLS, `max_age`
/// seconds (0 ends it).
pub fn set_cookie(value: &str, max_age: u64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}
