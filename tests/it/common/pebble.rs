//! Debian's `pebble` (the ACME test CA) and `pebble-challtestsrv` (its DNS,
//! answering every name with 127.0.0.1) on loopback, for tests/it/acme.rs.
//! Validation is real: pebble connects back to the daemon's TLS port
//! (TLS-ALPN-01) or its `acme-http-listen` port (HTTP-01). Missing binaries
//! fail the test, naming the package (scripts/test installs it).

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{blocking, free_port, TempDir, WAIT};

/// What pebble validates against and how long its certificates live.
pub struct Setup {
    /// Where the daemon answers TLS-ALPN-01 (its TLS listener).
    pub tls_port: u16,
    /// Where the daemon answers HTTP-01 (`acme-http-listen`).
    pub http_port: u16,
    /// Certificate lifetime in seconds.
    pub validity: u64,
}

impl Setup {
    /// Fresh ports for both challenges, certificates valid `validity` seconds.
    pub fn new(validity: u64) -> Setup {
        Setup {
            tls_port: free_port(),
            http_port: free_port(),
            validity,
        }
    }
}

/// A running pebble and its DNS; both killed when dropped.
pub struct Pebble {
    pebble: Option<Child>,
    dns: Child,
    dir: TempDir,
    listen: SocketAddr,
    management: SocketAddr,
    dns_port: u16,
}

fn spawn(cmd: &mut Command, what: &str) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {what} ({e}): install Debian's pebble package (apt-get install pebble; scripts/test does)")
        })
}

fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + WAIT;
    blocking(|| {
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
}

impl Pebble {
    /// Starts the DNS and pebble for `setup`.
    pub fn start(setup: &Setup) -> Pebble {
        Self::start_with(setup, server_cert())
    }

    /// Starts pebble with a CA certificate as its own HTTPS certificate
    /// (`ca()` is that certificate): a private ACME server set up with the
    /// wrong file, which clients refuse as `CaUsedAsEndEntity`.
    pub fn start_serving_a_ca_certificate(setup: &Setup) -> Pebble {
        Self::start_with(setup, ca_as_server_cert())
    }

    fn start_with(setup: &Setup, (ca, cert, key): (String, String, String)) -> Pebble {
        let dir = TempDir::new("pebble");
        dir.write("ca.pem", ca);
        dir.write("pebble.crt", cert);
        dir.write("pebble.key", key);
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let management: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let dns_port = free_port();
        let config = serde_json::json!({"pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": dir.path().join("pebble.crt"),
            "privateKey": dir.path().join("pebble.key"),
            "httpPort": setup.http_port,
            "tlsPort": setup.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": setup.validity,
        }});
        dir.write("pebble.json", config.to_string());
        let dns = spawn(
            Command::new("pebble-challtestsrv").args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{}", free_port()),
            ]),
            "pebble-challtestsrv",
        );
        wait_listening(
            format!("127.0.0.1:{dns_port}").parse().unwrap(),
            "pebble-challtestsrv",
        );
        let mut pebble = Pebble {
            pebble: None,
            dns,
            dir,
            listen,
            management,
            dns_port,
        };
        pebble.resume();
        pebble
    }

    /// (Re)starts pebble itself (a new root and no accounts, as pebble keeps
    /// nothing between runs).
    pub fn resume(&mut self) {
        let child = spawn(
            Command::new("pebble")
                .arg("-config")
                .arg(self.dir.path().join("pebble.json"))
                .arg("-dnsserver")
                .arg(format!("127.0.0.1:{}", self.dns_port))
                .current_dir(self.dir.path())
                // No random 0-15 s validation delays, no rejected nonces, and
                // every order validated anew (no authorization reuse).
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0"),
            "pebble",
        );
        self.pebble = Some(child);
        wait_listening(self.listen, "pebble");
        wait_listening(self.management, "pebble's management interface");
    }

    /// Stops pebble (the DNS stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.pebble.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The ACME directory URL.
    pub fn directory(&self) -> String {
        format!("https://localhost:{}/dir", self.listen.port())
    }

    /// The CA that signed pebble's own HTTPS certificate (`acme-ca`).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The root pebble issues under (DER), from its management interface.
    pub async fn root(&self) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ca = std::fs::read(self.ca()).unwrap();
        let ca = CertificateDer::from_pem_slice(&ca).unwrap();
        let mut tls = crate::common::tls_connect_as(self.management, "localhost", &[&ca])
            .await
            .expect("pebble's management interface");
        tls.write_all(b"GET /roots/0 HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let _ = tls.read_to_end(&mut reply).await;
        let text = String::from_utf8_lossy(&reply);
        let body = text.split("\r\n\r\n").nth(1).expect("a body");
        CertificateDer::from_pem_slice(body.as_bytes())
            .expect("a PEM root")
            .to_vec()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = self.dns.kill();
        let _ = self.dns.wait();
    }
}

/// A CA and pebble's HTTPS certificate for localhost: (CA PEM, cert PEM, key PEM).
fn server_cert() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A self-signed CA certificate for localhost, as (CA PEM, the same as
/// pebble's certificate, its key PEM).
fn ca_as_server_cert() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut ca = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = ca.self_signed(&key).unwrap();
    (cert.pem(), cert.pem(), key.serialize_pem())
}
