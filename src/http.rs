//! The HTTP side of a connection: hyper parses requests; upgrades become
//! sessions, GET/HEAD go to the static files, everything else gets 405.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::conn::Ctx;
use crate::gate::ConnInfo;
use crate::handshake;
use crate::limits::MAX_HEADERS;
use crate::session;

/// Every response body: small texts or streamed files.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    text_owned(status, body.to_owned())
}

/// A plain-text response with a computed body.
pub fn text_owned(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Serves HTTP/1.1 on `io` until the client leaves, the connection is
/// upgraded, or shutdown is requested.
pub async fn serve<I>(io: I, conn_info: ConnInfo, ctx: Ctx)
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
    if let Err(e) = result {
        log::debug!("{peer}: HTTP connection ended: {e}");
    }
}

async fn respond(req: Request<Incoming>, conn: &ConnInfo, ctx: &Ctx) -> Response<Body> {
    let gate = &ctx.config.gate;
    let client = gate.client(conn, req.headers());
    log::debug!("{client}: {} {}", req.method(), req.uri());
    if handshake::is_upgrade(&req) {
        return upgrade(req, conn, client, ctx).await;
    }
    match (req.method(), &ctx.config.web) {
        (&Method::GET | &Method::HEAD, Some(web)) => {
            if gate.web_auth {
                if let Err(r) = gate.authenticate(req.headers(), conn).await {
                    log::info!("{client}: refused {}: {r}", req.uri().path());
                    return crate::gate::refusal(r);
                }
            }
            web.serve(req).await
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"),
    }
}

/// Answers 101 and hands the connection to a session task, or refuses:
/// 400 for a bad handshake, 401/403/404/503 from the gate.
async fn upgrade(
    mut req: Request<Incoming>,
    conn: &ConnInfo,
    client: String,
    ctx: &Ctx,
) -> Response<Body> {
    let accepted = match handshake::accept(&req) {
        Ok(accepted) => accepted,
        Err(e) => {
            log::info!("{client}: refused WebSocket handshake: {e}");
            let mut resp = text(StatusCode::BAD_REQUEST, "Bad WebSocket handshake\n");
            if matches!(e, handshake::HandshakeError::BadVersion(_)) {
                resp.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            return resp;
        }
    };
    let target = match ctx
        .config
        .gate
        .admit(req.uri(), req.headers(), conn, &client)
        .await
    {
        Ok(target) => target,
        Err(resp) => return resp,
    };
    let Some(permit) = ctx.limits.try_target(&target.to_string()) else {
        log::warn!("{client}: refused: the target {target} has its maximum of sessions");
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sessions for this target\n",
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (ctx, mode) = (ctx.clone(), accepted.mode);
    tokio::spawn(async move {
        let _permit = permit;
        match on_upgrade.await {
            Ok(upgraded) => session::run(upgraded, client, target, mode, ctx).await,
            Err(e) => log::info!("{client}: upgrade failed: {e}"),
        }
    });
    let mut resp = Response::new(
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(key) = HeaderValue::from_str(&accepted.accept_key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, key);
    }
    if let Some(protocol) = accepted.protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    resp
}
