//! The metrics listener (`metrics-listen`): `GET /metrics`, `/healthz` and
//! `/readyz` over plain HTTP/1.1 on addresses of its own, kept off the
//! public listener so users never see it. Everything else is 404.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

use super::health::Health;
use super::Metrics;
use crate::listen::Listener;
use crate::response::{text, text_owned, Body};

/// A scrape or a probe that sends nothing is dropped after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once, over all metrics listeners. Scrapers and
/// probes open one at a time; past this, new ones wait in the kernel's
/// accept queue (holding no descriptor of ours) until one ends, which
/// [`REQUEST_TIMEOUT`] bounds for a silent one.
pub const MAX_CONNECTIONS: usize = 64;

/// Serves every listener until the process ends.
pub async fn serve(listeners: Vec<Listener>, health: Arc<Health>, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let shown = (health.clone(), metrics.clone());
        tasks.spawn(accept_loop(listener, slots.clone(), shown));
    }
    while tasks.join_next().await.is_some() {}
}

/// What the endpoint shows: the health state and the counters.
type Shown = (Arc<Health>, Arc<Metrics>);

async fn accept_loop(listener: Listener, slots: Arc<Semaphore>, shown: Shown) {
    let mut incoming = listener.incoming("metrics");
    loop {
        // Never closed: acquire cannot fail.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, _) = incoming.next().await;
        let shown = shown.clone();
        tokio::spawn(async move {
            connection(stream, shown).await;
            drop(slot);
        });
    }
}

async fn connection<S>(io: S, shown: Shown)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let (health, metrics) = shown.clone();
        async move { Ok::<_, Infallible>(answer(&req, &health, &metrics)) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = conn.await {
        log::debug!("metrics: connection ended: {e}");
    }
}

fn answer<B>(req: &Request<B>, health: &Health, metrics: &Metrics) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = text_owned(StatusCode::OK, metrics.encode());
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        "/healthz" if health.draining() => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => readyz(health),
        _ => text(StatusCode::NOT_FOUND, "Not Found\n"),
    }
}

/// 200 `ready`, or 503 `not ready: CODE` (`draining` or the target
/// check's code); never the detail, which is in the log.
fn readyz(health: &Health) -> Response<Body> {
    let not_ready = |code: &str| {
        text_owned(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {code}\n"),
        )
    };
    if health.draining() {
        return not_ready("draining");
    }
    let target = health.target();
    match target.ready {
        true => text(StatusCode::OK, "ready\n"),
        false => not_ready(target.code),
    }
}
