//! Built-in ACME against Debian's pebble on loopback, validating for real
//! (common/pebble.rs): a certificate by TLS-ALPN-01 and by HTTP-01 that
//! a client trusting only pebble's root accepts for the name, with a
//! WebSocket session over it; renewal of short-lived certificates under a
//! streaming session; the CA down or refusing (the temporary certificate
//! stays, the error is logged, the order retried); conf errors.

use crate::common;
use crate::common::pebble;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use common::http::exchange_all;
use common::notify::Notify;
use common::wss::{receive, send_all};
use common::*;
use pebble::{Pebble, Setup};
use tokio::time::timeout;

const NAME: &str = "vnc.example.test";

fn daemon(pebble: &Pebble, setup: &Setup, state: &TempDir, extra: &[&str]) -> Proxy {
    daemon_with(
        pebble,
        setup,
        extra,
        &[("STATE_DIRECTORY", state.arg())],
        true,
    )
}

/// [`daemon`] with a notify socket in `state`, as systemd starts it.
fn daemon_notified(pebble: &Pebble, setup: &Setup, state: &TempDir) -> (Proxy, Notify) {
    let notify = Notify::new(state);
    let env = [
        ("STATE_DIRECTORY", state.arg()),
        ("NOTIFY_SOCKET", &notify.path()),
    ];
    (daemon_with(pebble, setup, &[], &env, true), notify)
}

/// The daemon for `pebble`, with `env`; `--acme-state` is left to its
/// default ($STATE_DIRECTORY/acme) unless `state_arg` is set.
fn daemon_with(
    pebble: &Pebble,
    setup: &Setup,
    extra: &[&str],
    env: &[(&str, &str)],
    state_arg: bool,
) -> Proxy {
    let target = blocking(|| tokio::runtime::Handle::current().block_on(echo_target()));
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["--acme-domain", NAME, "--acme-email", "admin@example.test"])
        .arg("--acme-directory")
        .arg(pebble.directory())
        .arg("--acme-ca")
        .arg(pebble.ca())
        .args(extra)
        .arg(format!("127.0.0.1:{}", setup.tls_port))
        .arg(target.to_string())
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
        if state_arg && *k == "STATE_DIRECTORY" {
            cmd.arg("--acme-state")
                .arg(std::path::Path::new(v).join("acme"));
        }
    }
    Proxy::spawn(&mut cmd, 1)
}

/// The daemon got its certificate: a client trusting only pebble's root
/// verifies it for the name, a WebSocket session works over it, and the
/// state files are private.
async fn check_issued(proxy: &mut Proxy, pebble: &Pebble, state: &TempDir) -> Vec<u8> {
    let line = proxy.wait_for_log("ACME: new certificate for");
    assert!(line.contains(NAME), "{line}");
    let root = pebble.root().await;
    let served = served_cert(proxy.addr(), NAME, &[&root])
        .await
        .expect("the served chain verifies against pebble's root for the name");
    let mut wss = wss_connect_as(proxy.addr(), NAME, &[&root]).await;
    echo_once(&mut wss, b"over an ACME certificate").await;
    for file in ["account.json", "cert.pem", "key.pem"] {
        let mode = std::fs::metadata(state.path().join("acme").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    served
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_alpn_01_on_the_tls_listener_gets_a_trusted_certificate() {
    let setup = Setup::new(3600);
    let pebble = Pebble::start(&setup);
    let state = TempDir::new("acme-alpn");
    let (mut proxy, mut notify) = daemon_notified(&pebble, &setup, &state);
    let served = check_issued(&mut proxy, &pebble, &state).await;
    // systemctl status shows the expiry.
    let status = notify.until("ACME certificate until");
    let (_, cert) = x509_parser::parse_x509_certificate(&served).unwrap();
    let until = cert.validity().not_after.to_datetime();
    let until = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        until.year(),
        u8::from(until.month()),
        until.day(),
        until.hour(),
        until.minute(),
        until.second()
    );
    assert!(status.contains(&until), "{status:?} lacks {until}");

    // websockifyctl status reads the kept certificate's expiry.
    let conf = TempDir::new("acme-ctl");
    conf.write(
        "display1.conf",
        format!(
            "listen = \"443\"\ntarget = \"localhost:5901\"\nacme-domain = [\"{NAME}\"]\nacme-state = \"{}\"\n",
            state.path().join("acme").display()
        ),
    );
    std::os::unix::fs::symlink(bin(), conf.path().join("websockifyctl")).unwrap();
    let out = blocking(|| {
        std::process::Command::new(conf.path().join("websockifyctl"))
            .args([
                "--conf-dir",
                conf.arg(),
                "--no-systemd",
                "status",
                "--json",
                "display1",
            ])
            .output()
            .unwrap()
    });
    let all: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let c = &all[0]["certificate"];
    assert_eq!(all[0]["tls"], true, "{all}");
    assert!(
        c["expires"].as_str().unwrap().contains(&until[..10]),
        "{c} vs {until}"
    );
    assert!(
        c["path"].as_str().unwrap().ends_with("acme/cert.pem"),
        "{c}"
    );
    assert!(proxy
        .log()
        .iter()
        .any(|l| l.contains("ACME TLS-ALPN-01 validation handshake")));
}

#[tokio::test(flavor = "multi_thread")]
async fn http_01_on_acme_http_listen_gets_a_trusted_certificate() {
    let setup = Setup::new(3600);
    let pebble = Pebble::start(&setup);
    let state = TempDir::new("acme-http");
    let http = format!("127.0.0.1:{}", setup.http_port);
    // No --acme-state: the default is $STATE_DIRECTORY/acme, as under the unit.
    let mut proxy = daemon_with(
        &pebble,
        &setup,
        &["--acme-http-listen", &http],
        &[("STATE_DIRECTORY", state.arg())],
        false,
    );
    proxy.wait_for_log("answering HTTP-01 challenges");
    check_issued(&mut proxy, &pebble, &state).await;
    assert!(!proxy
        .log()
        .iter()
        .any(|l| l.contains("TLS-ALPN-01 validation handshake")));
}

#[tokio::test(flavor = "multi_thread")]
async fn renewal_keeps_a_session_streaming_and_new_handshakes_get_the_new_serial() {
    // 15 s certificates: renewed 10 to 10.75 s after issue.
    let setup = Setup::new(15);
    let pebble = Pebble::start(&setup);
    let state = TempDir::new("acme-renew");
    let mut proxy = daemon(&pebble, &setup, &state, &[]);
    let first = check_issued(&mut proxy, &pebble, &state).await;
    let root = pebble.root().await;

    let data = pattern(8 << 20, 99);
    let (head, tail) = data.split_at(data.len() / 2);
    let mut wss = wss_connect_as(proxy.addr(), NAME, &[&root]).await;
    send_all(&mut wss, head).await;
    let mut got = receive(&mut wss, head.len()).await;

    let line = proxy.wait_for_log("ACME: new certificate for");
    eprintln!("renewed: {line}");
    let deadline = Instant::now() + WAIT;
    let second = loop {
        let served = served_cert(proxy.addr(), NAME, &[&root]).await.unwrap();
        if served != first {
            break served;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(serial(&first), serial(&second));
    assert!(
        line.contains(&serial(&second)),
        "{line} vs {}",
        serial(&second)
    );

    send_all(&mut wss, tail).await;
    got.extend(receive(&mut wss, tail.len()).await);
    assert_eq!(sha256(&got), sha256(&data), "the session's bytes changed");
}

/// The serial number in the log's spelling (lower-case hex).
fn serial(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.raw_serial_as_string().replace(':', "")
}

#[tokio::test(flavor = "multi_thread")]
async fn ca_down_then_up_the_temporary_certificate_serves_until_a_retry_succeeds() {
    let setup = Setup::new(3600);
    let mut pebble = Pebble::start(&setup);
    pebble.stop();
    let state = TempDir::new("acme-down");
    let mut proxy = daemon(&pebble, &setup, &state, &[]);
    let line = proxy.wait_for_log("ACME: no certificate for");
    // There was no previous certificate to speak of.
    assert!(
        line.ends_with(
            "; serving a temporary self-signed certificate until the first one; next try in 10s"
        ),
        "{line}"
    );
    // TLS keeps working with the temporary self-signed certificate.
    let temporary = any_served_cert(proxy.addr()).await;
    let mut wss = wss_connect_as(proxy.addr(), NAME, &[&temporary]).await;
    echo_once(&mut wss, b"on the temporary certificate").await;
    let line = proxy.wait_for_log("ACME: no certificate for");
    assert!(line.contains("next try in 20s"), "{line}");
    pebble.resume();
    check_issued(&mut proxy, &pebble, &state).await;
    echo_once(&mut wss, b"the early session went on").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_serves_the_kept_certificate_at_once_even_with_the_ca_down() {
    let setup = Setup::new(3600);
    let mut pebble = Pebble::start(&setup);
    let state = TempDir::new("acme-restart");
    let mut proxy = daemon(&pebble, &setup, &state, &[]);
    let first = check_issued(&mut proxy, &pebble, &state).await;
    let root = pebble.root().await;
    drop(proxy);
    pebble.stop();
    let (mut proxy, mut notify) = daemon_notified(&pebble, &setup, &state);
    // STATUS= names the kept certificate's expiry before any session.
    let status = notify.until("ACME certificate until");
    assert!(status.contains("STATUS=0 sessions"), "{status:?}");
    let served = served_cert(proxy.addr(), NAME, &[&root])
        .await
        .expect("the kept certificate, trusted");
    assert_eq!(served, first);
    let line = proxy.wait_for_log("to be renewed at");
    assert!(line.contains(&serial(&first)), "{line}");
    let mut wss = wss_connect_as(proxy.addr(), NAME, &[&root]).await;
    echo_once(&mut wss, b"after a restart").await;

    // A reload (SIGHUP) keeps the certificate too, and the session.
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    notify.reloaded();
    let line = proxy.wait_for_log("to be renewed at");
    assert!(line.contains(&serial(&first)), "{line}");
    let served = served_cert(proxy.addr(), NAME, &[&root]).await.unwrap();
    assert_eq!(served, first);
    echo_once(&mut wss, b"after a reload").await;
    assert!(
        !proxy
            .log()
            .iter()
            .any(|l| l.contains("ordering a certificate")),
        "a kept, valid certificate was ordered again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_validation_is_logged_and_the_certificate_kept() {
    // pebble validates on a port where nobody answers.
    let setup = Setup::new(3600);
    let refusing = Setup {
        tls_port: free_port(),
        ..setup
    };
    let pebble = Pebble::start(&refusing);
    let state = TempDir::new("acme-refused");
    let (mut proxy, mut notify) = daemon_notified(&pebble, &setup, &state);
    let line = proxy.wait_for_log("ACME: no certificate for");
    let status = notify.until("last error");
    assert!(
        status.contains("STATUS=0 sessions")
            && status.contains("ACME: temporary self-signed certificate; last error: validation"),
        "{status:?}"
    );
    // pebble's reason reaches the log.
    assert!(
        line.contains("tls-alpn-01") && line.contains("acme:error:unauthorized"),
        "{line}"
    );
    let root = pebble.root().await;
    assert!(served_cert(proxy.addr(), NAME, &[&root]).await.is_err());
    let temporary = any_served_cert(proxy.addr()).await;
    let mut wss = wss_connect_as(proxy.addr(), NAME, &[&temporary]).await;
    echo_once(&mut wss, b"still served").await;
    let again = proxy.wait_for_log("ACME: ordering a certificate");
    assert!(again.contains(NAME), "{again}");
}

/// A private ACME server whose own certificate is a CA certificate: the
/// log and `STATUS=` say so in words and what to do, then rustls's detail.
#[tokio::test(flavor = "multi_thread")]
async fn an_acme_server_with_a_ca_certificate_is_named_in_plain_words() {
    let setup = Setup::new(3600);
    let pebble = Pebble::start_serving_a_ca_certificate(&setup);
    let state = TempDir::new("acme-ca-as-server");
    let (mut proxy, mut notify) = daemon_notified(&pebble, &setup, &state);
    let line = proxy.wait_for_log("ACME: no certificate for");
    let plain = format!(
        "ACME: no certificate for {NAME}: the ACME server's certificate is a CA certificate, \
         not a server certificate: give the CA that signed it with acme-ca (in detail: \
         cannot create an ACME account at {}: client error (Connect): invalid peer \
         certificate: Other(OtherError(CaUsedAsEndEntity))); serving a temporary \
         self-signed certificate until the first one; next try in 10s",
        pebble.directory()
    );
    assert!(line.ends_with(&plain), "{line}\nwanted: {plain}");
    let status = notify.until("last error");
    assert!(
        status.contains(
            "last error: the ACME server's certificate is a CA certificate, not a server \
             certificate: give the CA that signed it with acme-ca (in detail: "
        ),
        "{status:?}"
    );
}

#[test]
fn acme_domain_beside_cert_or_without_a_name_is_a_conf_error() {
    let (cert, key, _) = self_signed();
    let dir = TempDir::new("acme-conf");
    let cert = dir.write("c.pem", cert);
    let key = dir.write("k.pem", key);
    let (ok, err) = run_to_exit(&[
        "--check",
        "--acme-domain",
        NAME,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "6443",
        "localhost:5901",
    ]);
    assert!(!ok);
    assert!(
        err.contains("`acme-domain` and `cert` exclude each other"),
        "{err}"
    );
    let (ok, err) = run_to_exit(&[
        "--check",
        "--acme-email",
        "a@b.test",
        "6443",
        "localhost:5901",
    ]);
    assert!(!ok);
    assert!(err.contains("`acme-email` needs `acme-domain`"), "{err}");
    let (ok, err) = run_to_exit(&[
        "--check",
        "--acme-domain",
        "*.example.test",
        "6443",
        "localhost:5901",
    ]);
    assert!(!ok);
    assert!(err.contains("wildcards"), "{err}");
}

/// Whatever certificate the daemon serves (for the temporary one, which
/// no client can know in advance).
async fn any_served_cert(addr: std::net::SocketAddr) -> Vec<u8> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    #[derive(Debug)]
    struct Anything(rustls::crypto::CryptoProvider);
    impl ServerCertVerifier for Anything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone().into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(Anything(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = timeout(
        WAIT,
        connector.connect(ServerName::try_from(NAME).unwrap(), tcp),
    )
    .await
    .unwrap()
    .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Sends `request` on a fresh connection to `addr` and returns the reply.
async fn http_get(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut reply = Vec::new();
    let _ = timeout(WAIT, tcp.read_to_end(&mut reply))
        .await
        .expect("reply");
    String::from_utf8_lossy(&reply).into_owned()
}

/// A daemon whose ACME CA is nowhere: the HTTP-01 listener serves while
/// orders fail. Returns it and the listener's address.
fn http_01_only(state: &TempDir, target: std::net::SocketAddr) -> (Proxy, String) {
    let http = format!("127.0.0.1:{}", free_port());
    let mut proxy = Proxy::start(&[
        "--acme-domain",
        NAME,
        "--acme-directory",
        &format!("https://localhost:{}/dir", free_port()),
        "--acme-state",
        state.arg(),
        "--acme-http-listen",
        &http,
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    proxy.wait_for_log("answering HTTP-01 challenges");
    (proxy, http)
}

/// A connection to `addr` from the loopback address `from` (127.0.0.N:
/// another client, as the listener counts them).
async fn connect_from(from: [u8; 4], addr: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// Whether the server closed `s` within `limit` (without answering).
async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 16];
    matches!(timeout(limit, s.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_01_listener_answers_only_challenges_and_is_bounded() {
    let state = TempDir::new("acme-http-bounds");
    let target = echo_target().await;
    let (mut proxy, http) = http_01_only(&state, target);
    let reply = http_get(
        &http,
        b"GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    let reply = exchange_all(&http, b"GET /vnc.html HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    // A head over 8192 bytes is not read to its end.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let reply = exchange_all(&http, big.as_bytes()).await;
    assert!(
        !reply.contains(" 200 ") && !reply.contains(" 404 "),
        "{reply}"
    );

    // 8 silent connections hold one client's slots; its 9th is closed at once.
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from([127, 0, 0, 1], &http).await);
    }
    let mut ninth = connect_from([127, 0, 0, 1], &http).await;
    assert!(
        closed_within(&mut ninth, Duration::from_secs(5)).await,
        "the 9th connection of one client was kept"
    );
    proxy.wait_for_log("this client has 8 connections open");
    // A silent connection is closed when its request head is 3 s late.
    assert!(
        closed_within(&mut held[0], WAIT).await,
        "idle connection kept"
    );
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(8),
        "closed after {took:?}"
    );

    // 32 clients with 8 silent connections each take all 256 slots: the
    // next client is closed at once.
    let mut held = Vec::new();
    for client in 2..34 {
        for _ in 0..8 {
            held.push(connect_from([127, 0, 0, client], &http).await);
        }
    }
    let mut next = connect_from([127, 0, 0, 40], &http).await;
    assert!(
        closed_within(&mut next, Duration::from_secs(5)).await,
        "a connection past 256 was kept"
    );
    proxy.wait_for_log("ACME HTTP-01 listener busy (256 connections)");
}

/// One client holding many idle sockets does not keep another client (as
/// the CA's validation would be) from its answer.
#[tokio::test(flavor = "multi_thread")]
async fn one_client_holding_sockets_does_not_keep_another_from_its_challenge() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let state = TempDir::new("acme-http-per-client");
    let target = echo_target().await;
    let (_proxy, http) = http_01_only(&state, target);
    let mut hog = Vec::new();
    for _ in 0..100 {
        hog.push(connect_from([127, 0, 0, 1], &http).await);
    }
    let mut ca = connect_from([127, 0, 0, 2], &http).await;
    ca.write_all(b"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = timeout(Duration::from_secs(2), ca.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply:?}");
}
