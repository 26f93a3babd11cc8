//! The WebSocket upgrade: the handshake rules, the access check, the
//! per-target cap, then 101 and a session task on the upgraded connection.

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use log::Level;

use super::handshake::{self, Accepted, HandshakeError};
use super::refusal;
use crate::access::{refusal_log, ConnInfo};
use crate::metrics::Metrics;
use crate::response::{empty, text, Body};
use crate::session::{self, ConnCtx};

/// Answers 101 and hands the connection to a session task, or refuses:
/// 400 for a bad handshake, 401/403/404/503 from the gate, 503 at the cap.
pub(super) async fn answer(
    mut req: Request<Incoming>,
    conn: &ConnInfo,
    client: String,
    ctx: &ConnCtx,
) -> Response<Body> {
    let gate = &ctx.config.gate;
    let key = gate.client_key(conn, req.headers());
    let accepted = match handshake::accept(&req) {
        Ok(accepted) => accepted,
        Err(e) => return bad_handshake(&ctx.shared.metrics, &client, key, &e),
    };
    let logins = &ctx.shared.logins;
    let grant = match gate
        .admit(logins, req.uri(), req.headers(), conn, client)
        .await
    {
        Ok(grant) => grant,
        Err(r) => return refusal(r),
    };
    let target = &grant.dest.target;
    let Some(permit) = ctx.caps.try_target(&target.to_string()) else {
        ctx.shared.metrics.refused("caps");
        let client = &grant.client;
        refusal_log::log(
            key,
            Level::Warn,
            format_args!("{client}: refused: the target {target} has its maximum of sessions"),
        );
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sessions for this target\n",
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (ctx, mode) = (ctx.clone(), accepted.mode);
    tokio::spawn(async move {
        let _permit = permit;
        session::start(on_upgrade, grant, mode, ctx, plain_tcp).await;
    });
    switching_protocols(accepted)
}

/// 400, with `Sec-WebSocket-Version: 13` when the version was the problem.
fn bad_handshake(
    metrics: &Metrics,
    client: &str,
    key: IpAddr,
    e: &HandshakeError,
) -> Response<Body> {
    metrics.refused("bad_request");
    refusal_log::log(
        key,
        Level::Info,
        format_args!("{client}: refused WebSocket handshake: {e}"),
    );
    let mut resp = text(StatusCode::BAD_REQUEST, "Bad WebSocket handshake\n");
    if matches!(e, HandshakeError::BadVersion(_)) {
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    resp
}

/// The 101 answer with the accept key and the chosen subprotocol.
fn switching_protocols(accepted: Accepted) -> Response<Body> {
    let mut resp = Response::new(empty());
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

/// The plain TCP client under an upgraded connection and what hyper read
/// past the request, for the session's splice path; a TLS or unix-socket
/// client is given back.
fn plain_tcp(
    upgraded: hyper::upgrade::Upgraded,
) -> Result<(tokio::net::TcpStream, bytes::Bytes), hyper::upgrade::Upgraded> {
    type Plain = hyper_util::rt::TokioIo<super::send_deadline::SendDeadline<tokio::net::TcpStream>>;
    upgraded
        .downcast::<Plain>()
        .map(|parts| (parts.io.into_inner().into_inner(), parts.read_buf))
}
