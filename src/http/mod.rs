//! The HTTP side of a connection: hyper parses requests; upgrades become
//! sessions (`upgrade`, with the RFC 6455 rules in `handshake`), GET/HEAD go
//! to the static site, everything else gets 405. A client over its
//! per-client connection cap gets 503 to its first request instead.

pub mod handshake;
mod oidc;
mod send_deadline;
mod upgrade;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::header::{HeaderValue, CONNECTION, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::access::auth::BASIC_REALM_HEADER;
use crate::access::{ConnInfo, Refusal};
use crate::defaults::MAX_HEADERS;
use crate::response::{text, text_owned, Body};
use crate::session::ConnCtx;
use send_deadline::SendDeadline;

/// Serves HTTP/1.1 on `io` until the client leaves, the connection is
/// upgraded, or shutdown is requested.
pub async fn serve<I>(io: I, conn_info: ConnInfo, ctx: ConnCtx)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &ctx.config.limits;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.handshake_timeout)
        .max_buf_size(limits.max_header_size)
        .max_headers(MAX_HEADERS);
    let mut shutdown = ctx.shutdown.clone();
    let peer = conn_info.peer.clone();
    // A client that reads nothing of a response is cut after the handshake timeout.
    let (io, deadline) = SendDeadline::new(io, limits.handshake_timeout, peer.to_string());
    let shared = Arc::new((conn_info, ctx));
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(respond(req, &shared.0, &shared.1).await) }
    });
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.requested() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    // Upgraded (or over): the session's own send timeout applies from here.
    deadline.store(false, Ordering::Relaxed);
    if let Err(e) = result {
        log::debug!("{peer}: HTTP connection ended: {e}");
    }
}

async fn respond(req: Request<Incoming>, conn: &ConnInfo, ctx: &ConnCtx) -> Response<Body> {
    let gate = &ctx.config.gate;
    let client = gate.client(conn, req.headers());
    log::debug!("{client}: {} {}", req.method(), loggable(req.uri()));
    if let Some(permit) = &ctx.permit {
        if let Err(r) = gate.count_client(&ctx.shared.metrics, permit, conn, req.headers(), &client)
        {
            // Nothing more on this connection: it is over the cap.
            let mut resp = refusal(r);
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
    }
    if let Err(r) = gate.check_host(&ctx.shared.metrics, req.headers(), conn, &client) {
        return refusal(r);
    }
    if handshake::is_upgrade(&req) {
        return upgrade::answer(req, conn, client, ctx).await;
    }
    if let Some(login) = &ctx.config.gate.oidc {
        if let Some(resp) = oidc::route(&req, conn, &client, ctx, login).await {
            return resp;
        }
    }
    match (req.method(), &ctx.config.web) {
        (&Method::GET | &Method::HEAD, Some(web)) => {
            let key = gate.client_key(conn, req.headers());
            if gate.web_auth || gate.front_login() {
                // Refusals are logged by the gate, with the user tried.
                let logins = &ctx.shared.logins;
                if let Err(r) = gate
                    .authenticate(logins, req.uri(), req.headers(), conn, &client)
                    .await
                {
                    let signin = gate.sign_in_location(&r, req.uri(), req.headers(), conn);
                    return signin.map_or_else(|| refusal(r), |to| redirect(&to));
                }
            }
            web.serve(req, key).await
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"),
    }
}

/// A refusal from the access rules as a response (with the Basic challenge
/// on 401, `Retry-After` on 429).
fn refusal(r: Refusal) -> Response<Body> {
    let mut resp = text_owned(r.status, format!("{}\n", r.reason));
    if r.www_authenticate {
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(BASIC_REALM_HEADER),
        );
    }
    if let Some(secs) = r.retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// 302 to `location` (a page request to sign in first, `auth-request-signin`).
fn redirect(location: &str) -> Response<Body> {
    let mut resp = text(StatusCode::FOUND, "Sign in first\n");
    if let Ok(to) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(LOCATION, to);
    }
    resp
}

/// The request target as it may be logged: the path, and the query's
/// parameter names with every value replaced (`?token=…&password=…`), since
/// tokens, noVNC's `password` and JWTs travel in query strings.
fn loggable(uri: &http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let names: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=…"),
            None => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), names.join("&"))
}
