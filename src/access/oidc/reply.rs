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

/// The login cookie: HttpOnly, SameSite=Lax, Secure over TLS, `max_age`
/// seconds (0 ends it).
pub fn set_cookie(value: &str, max_age: u64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}
