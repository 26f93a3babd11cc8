//! Real servers for the token plugin tests: `redis-server` on a free
//! loopback port (retried if taken), and a small HTTP(S) token API on 127.0.0.1.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::free_port;

/// Upper bound for a server to come up.
const READY: Duration = Duration::from_secs(10);

/// A `redis-server` without persistence, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
}

impl RedisServer {
    /// Starts one on a free port; `extra` are more `redis-server` options
    /// (e.g. `--requirepass`).
    ///
    /// The port is probed and released, then bound by redis-server: someone
    /// else may take it in between. TokenRedis speaks TCP only (no unix
    /// socket to hand redis-server instead, and `--port 0` turns TCP off), so
    /// a redis-server that exits before answering (as it does when the port
    /// is taken) is started again on another port, a few times.
    pub fn start(extra: &[&str]) -> RedisServer {
        const ATTEMPTS: usize = 5;
        let mut server = RedisServer {
            child: None,
            port: 0,
            args: extra.iter().map(|s| s.to_string()).collect(),
        };
        for attempt in 1..=ATTEMPTS {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => return server,
                Err(exited) if attempt < ATTEMPTS => {
                    eprintln!(
                        "redis-server on port {} {exited}; another port",
                        server.port
                    )
                }
                Err(exited) => panic!("redis-server {exited}, {ATTEMPTS} times"),
            }
        }
        unreachable!()
    }

    /// (Re)starts it on the same port, e.g. after `kill`.
    pub fn restart(&mut self) {
        if let Err(exited) = self.try_start() {
            panic!("redis-server {exited} on restart (port {})", self.port);
        }
    }

    /// (Re)starts it on `self.port` and waits until it answers; `Err` (how
    /// it exited) if it exits first.
    fn try_start(&mut self) -> Result<(), String> {
        self.kill();
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(std::env::temp_dir())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run redis-server ({e}): the TokenRedis tests need a real Redis; \
                 install it with `apt-get install redis-server`"
            ),
        };
        self.child = Some(child);
        crate::common::blocking(|| self.wait_ready())
    }

    /// Waits until it answers PING (or asks for a password); `Err` if it exits.
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(mut s) = StdStream::connect(("127.0.0.1", self.port)) {
                let mut answer = [0u8; 64];
                s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                if s.write_all(b"PING\r\n").is_ok() {
                    if let Ok(n) = s.read(&mut answer) {
                        let answer = String::from_utf8_lossy(&answer[..n]);
                        if answer.starts_with("+PONG") || answer.contains("NOAUTH") {
                            return Ok(());
                        }
                    }
                }
            }
            let child = self.child.as_mut().expect("started");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Err(format!("exited ({status})"));
            }
            assert!(start.elapsed() < READY, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A plain client to set and inspect keys with, as an administrator would.
    pub async fn admin(&self, password: Option<&str>) -> redis::aio::MultiplexedConnection {
        let url = match password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        };
        redis::Client::open(url)
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection to redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the test API answers for a request (path and query as received).
pub type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// An answer of the test API.
pub enum Reply {
    /// Status and body.
    Body(u16, &'static str),
    /// A redirect to this URL.
    Redirect(String),
    /// Never answer.
    Hang,
}

/// A running test API: its address and every path-and-query it received.
pub struct Api {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Api {
    /// Serves `handler` on 127.0.0.1, over TLS when `tls` is given.
    pub async fn start(handler: Handler, tls: Option<TlsAcceptor>) -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind api");
        let addr = listener.local_addr().expect("api addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (handler, log, tls) = (handler.clone(), log.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let target = req.uri().path_and_query().map(|p| p.to_string());
                        let target = target.unwrap_or_default();
                        log.lock().unwrap().push(target.clone());
                        let reply = handler(&target);
                        async move { Ok::<_, Infallible>(respond(reply).await) }
                    });
                    let http = http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(tcp).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        Api { addr, seen }
    }

    /// What it received so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let response = Response::builder();
    match reply {
        Reply::Body(status, body) => response.status(status).body(Full::from(body)),
        Reply::Redirect(to) => response
            .status(302)
            .header("Location", to)
            .body(Full::default()),
        Reply::Hang => std::future::pending().await,
    }
    .expect("response")
}

/// A TLS acceptor for a fresh self-signed certificate for 127.0.0.1, and
/// that certificate in PEM (to trust it through `SSL_CERT_FILE`).
pub fn tls_acceptor() -> (TlsAcceptor, String) {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der())
        .expect("key der");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server cert");
    (TlsAcceptor::from(Arc::new(config)), ck.cert.pem())
}
