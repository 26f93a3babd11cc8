//! Where the OpenID login meets the request path: `/oidc/callback` and
//! `/oidc/logout`, and page requests without a login sent to the provider.
//! The upgrade needs nothing here: the gate reads the cookie.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::refusal;
use crate::access::oidc::{Oidc, CALLBACK_PATH, LOGOUT_PATH};
use crate::access::ConnInfo;
use crate::response::Body;
use crate::session::ConnCtx;

/// The answer to a request the login deals with; `None`: serve the page.
pub(super) async fn route(
    req: &Request<Incoming>,
    conn: &ConnInfo,
    client: &str,
    ctx: &ConnCtx,
    oidc: &Oidc,
) -> Option<Response<Body>> {
    if !matches!(req.method(), &Method::GET | &Method::HEAD) {
        return None;
    }
    match req.uri().path() {
        CALLBACK_PATH => {
            return Some(
                oidc.callback(req.uri(), req.headers(), conn.tls, client)
                    .await,
            )
        }
        LOGOUT_PATH => {
            let (resp, user) = oidc.logout(req.headers(), conn.tls, client);
            if let Some(user) = user {
                ctx.shared.table.kill_user(&user);
            }
            return Some(resp);
        }
        _ => {}
    }
    let (gate, passwords) = (&ctx.config.gate, &ctx.shared.passwords);
    match gate
        .authenticate(passwords, req.uri(), req.headers(), conn, client)
        .await
    {
        Ok(_) => None,
        Err(r) if r.status == StatusCode::UNAUTHORIZED => {
            Some(oidc.start(req.uri(), req.headers(), conn.tls, client).await)
        }
        Err(r) => Some(refusal(r)),
    }
}
