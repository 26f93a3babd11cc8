//! A small auth service on loopback that speaks oauth2-proxy's `/oauth2/auth`
//! contract: 202 with `X-Auth-Request-User` (and `-Groups`) for a browser whose
//! `_oauth2_proxy` cookie is a known session, 401 otherwise. It counts the
//! sub-requests and keeps the last one's headers; `slow` makes it accept and
//! never answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The cookie of the known sessions: `_oauth2_proxy=<user>-session`.
pub fn cookie(user: &str) -> String {
    format!("_oauth2_proxy={user}-session")
}

/// What the service saw.
#[derive(Default)]
pub struct Seen {
    count: AtomicUsize,
    last: Mutex<HeaderMap>,
}

impl Seen {
    /// Sub-requests so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// A header of the last sub-request.
    pub fn last(&self, name: &str) -> Option<String> {
        let last = self.last.lock().unwrap();
        last.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
}

/// Starts the service for `users` on 127.0.0.1; `slow`: it never answers.
pub async fn start(users: &'static [&'static str], slow: bool) -> (SocketAddr, Arc<Seen>) {
    start_with(users, slow, None).await
}

/// [`start`], over TLS when `tls` is given.
pub async fn start_with(
    users: &'static [&'static str],
    slow: bool,
    tls: Option<TlsAcceptor>,
) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = shared.clone();
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let seen = seen.clone();
                async move {
                    seen.count.fetch_add(1, Ordering::SeqCst);
                    *seen.last.lock().unwrap() = req.headers().clone();
                    if slow {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, Infallible>(answer(req.headers(), users))
                }
            });
            let tls = tls.clone();
            tokio::spawn(async move {
                let http = http1::Builder::new();
                match tls {
                    None => http.serve_connection(TokioIo::new(tcp), service).await,
                    Some(tls) => match tls.accept(tcp).await {
                        Ok(s) => http.serve_connection(TokioIo::new(s), service).await,
                        Err(_) => Ok(()),
                    },
                }
            });
        }
    });
    (addr, seen)
}

/// The groups of `user`: everyone is in `staff`, alice in `vnc` too.
pub fn groups(user: &str) -> &'static str {
    if user == "alice" {
        "staff, vnc"
    } else {
        "staff"
    }
}

/// 202 with the user and groups for a known session cookie, else 401.
fn answer(headers: &HeaderMap, users: &[&str]) -> Response<Full<Bytes>> {
    let cookies: Vec<&str> = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .collect();
    let user = users.iter().find(|u| cookies.contains(&cookie(u).as_str()));
    let mut resp = Response::new(Full::new(Bytes::new()));
    match user {
        Some(user) => {
            *resp.status_mut() = hyper::StatusCode::ACCEPTED;
            let value = user.parse().unwrap();
            resp.headers_mut().insert("X-Auth-Request-User", value);
            let groups = groups(user).parse().unwrap();
            resp.headers_mut().insert("X-Auth-Request-Groups", groups);
        }
        None => *resp.status_mut() = hyper::StatusCode::UNAUTHORIZED,
    }
    resp
}
