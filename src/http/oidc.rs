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
    let (gate, logins) = (&ctx.config.gate, &ctx.shared.logins);
    match req.uri().path() {
        CALLBACK_PATH => {
            return Some(
                oidc.callback(&logins.oidc, req.uri(), req.headers(), conn.tls, client)
                    .await,
            )
        }
        LOGOUT_PATH => {
            let (resp, user) = oidc.logout(&logins.oidc, req.headers(), conn.tls, client);
            if let Some(user) = user {
                ctx.shared.table.kill_user(&user);
            }
            return Some(resp);
        }
        _ => {}
    }
    match gate
        .authenticate(logins, req.uri(), req.headers(), conn, client)
        .await
    {
        Ok(_) => None,
        Err(r) if r.status == StatusCode::UNAUTHORIZED && navigates(req) => Some(
            oidc.start(&logins.oidc, req.uri(), req.headers(), conn.tls, client)
                .await,
        ),
        Err(r) => Some(refusal(r)),
    }
}

/// Whether the browser is opening a page (a login may start from it), not
/// fetching something for one (a favicon, a script): a login started by
/// those would replace the one under way and send a silent round trip
/// through the provider. Browsers say which in `Sec-Fetch-Mode`; a client
/// without it is taken as opening the page.
fn navigates<B>(req: &Request<B>) -> bool {
    req.headers()
        .get("sec-fetch-mode")
        .is_none_or(|mode| mode.as_bytes() == b"navigate")
}
