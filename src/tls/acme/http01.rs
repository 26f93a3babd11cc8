//! HTTP-01 (RFC 8555 §8.3): the plain `acme-http-listen` listener answers
//! `GET /.well-known/acme-challenge/TOKEN` with the key authorization of a
//! pending challenge and everything else with 404. Anyone can reach it, so
//! it holds little: at most [`MAX_CONNECTIONS`] connections at once and
//! [`MAX_PER_CLIENT`] from one client address (IPv6: one /64), more are
//! closed at accept, so one client cannot take the slots the CA's
//! validation needs; the request head must arrive within [`HEADER_TIMEOUT`]
//! and be at most [`MAX_HEAD`] bytes, the whole exchange end within
//! [`CONNECTION_TIMEOUT`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::access::caps::{Caps, Maximums};
use crate::listen::{Listener, Peer};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections served at once for one client address (one IPv6 /64). A CA
/// validates from a few addresses, one request from each.
pub const MAX_PER_CLIENT: usize = 8;
/// Longest wait for the request head, from the connection's start: the
/// CA sends its request at once.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a connection may stay, request and answer together.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read.
pub const MAX_HEAD: usize = 8192;

const PREFIX: &str = "/.well-known/acme-challenge/";

/// Pending HTTP-01 answers: token to key authorization.
pub type Tokens = Arc<RwLock<HashMap<String, String>>>;

/// Binds `addr` (a bare port: every IPv4 and IPv6 address).
pub async fn bind(addr: &str) -> Result<TcpListener> {
    let addr: SocketAddr = match addr.parse::<u16>() {
        Ok(port) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
        Err(_) => addr
            .parse()
            .with_context(|| format!("acme-http-listen: {addr:?} is not PORT or ADDR:PORT"))?,
    };
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("acme-http-listen: cannot listen on {addr}"))
}

/// Serves the challenges on `listener` until dropped.
pub async fn serve(listener: TcpListener, tokens: Tokens) {
    let caps = Caps::new(Maximums {
        global: Some(MAX_CONNECTIONS),
        per_client: Some(MAX_PER_CLIENT),
        per_target: None,
    });
    let mut incoming = Listener::Tcp(listener).incoming("ACME HTTP-01");
    loop {
        let (stream, peer) = incoming.next().await;
        let Some(slot) = caps.try_client(peer.ip()) else {
            refused(&peer, &caps);
            continue;
        };
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let answer = answer(&req, &tokens);
                async move { Ok::<_, Infallible>(answer) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(slot);
        });
    }
}

/// Logs why a connection was closed at accept.
fn refused(peer: &Peer, caps: &Caps) {
    match caps.connections() >= MAX_CONNECTIONS {
        true => {
            log::info!("{peer}: ACME HTTP-01 listener busy ({MAX_CONNECTIONS} connections); closed")
        }
        false => log::info!(
            "{peer}: ACME HTTP-01: this client has {MAX_PER_CLIENT} connections open; closed"
        ),
    }
}

fn answer<B>(req: &Request<B>, tokens: &Tokens) -> Response<Full<Bytes>> {
    let token = req.uri().path().strip_prefix(PREFIX);
    let found = token.and_then(|t| {
        tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(t)
            .cloned()
    });
    let (status, body) = match found {
        Some(key_auth) => (StatusCode::OK, key_auth),
        None => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "text/plain".parse().expect("static"),
    );
    response
}
