//! `cert`/`key` files replaced on disk are picked up without SIGHUP (the
//! files are checked every 5 seconds, websockify.conf(5)): new handshakes get
//! the new certificate, a session open across the change keeps streaming
//! byte-exact, and a broken pair is logged and the old certificate kept.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::wss::{receive, send_all};
use common::*;

/// The documented poll interval, and what a test allows on top of it (a
/// loaded CI machine).
const POLL: Duration = Duration::from_secs(5);
const SLACK: Duration = Duration::from_secs(10);

/// Replaces `path` with `contents` the way certbot and `websockifyctl cert
/// renew` do: a new file renamed over the old name.
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A proxy serving `cert` and `key` (PEM) from files in `dir`, which it
/// polls: (the proxy, the cert file, the key file).
async fn serving_files(dir: &TempDir, cert: &str, key: &str) -> (Proxy, PathBuf, PathBuf) {
    let cert = dir.write("c.pem", cert);
    let key = dir.write("k.pem", key);
    let target = echo_target().await;
    let proxy = Proxy::start(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "127.0.0.1:0",
        &target.to_string(),
    ]);
    (proxy, cert, key)
}

/// Waits until a handshake trusting `roots` is served `want`; returns how long
/// that took from `since`.
async fn wait_served(
    addr: std::net::SocketAddr,
    roots: &[&[u8]],
    want: &[u8],
    since: Instant,
) -> Duration {
    let deadline = since + POLL + SLACK;
    loop {
        if let Ok(got) = served_cert(addr, "localhost", roots).await {
            if got == want {
                return since.elapsed();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within {:?}",
            POLL + SLACK
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_files_are_served_to_new_handshakes_while_a_session_streams() {
    let (cert_a, key_a, der_a) = self_signed();
    let (cert_b, key_b, der_b) = self_signed();
    let dir = TempDir::new("tls-reload");
    let (mut proxy, cert, key) = serving_files(&dir, &cert_a, &key_a).await;
    let both: &[&[u8]] = &[&der_a, &der_b];
    let first = served_cert(proxy.addr(), "localhost", both).await.unwrap();
    assert_eq!(first, der_a);

    // A session opened on the old certificate, halfway through 8 MiB.
    let data = pattern(8 << 20, 77);
    let (head, tail) = data.split_at(data.len() / 2);
    let mut wss = wss_connect(proxy.addr(), &der_a).await;
    send_all(&mut wss, head).await;
    let mut got = receive(&mut wss, head.len()).await;

    let changed = Instant::now();
    replace(&key, &key_b);
    replace(&cert, &cert_b);
    let took = wait_served(proxy.addr(), both, &der_b, changed).await;
    eprintln!("new certificate served {took:?} after the files changed");
    proxy.wait_for_log("changed on disk; new TLS handshakes get it");
    // A client that trusts only the new certificate gets through, and one
    // that trusts only the old one no longer does.
    let mut fresh = wss_connect(proxy.addr(), &der_b).await;
    echo_once(&mut fresh, b"new certificate").await;
    assert!(tls_connect(proxy.addr(), &der_a).await.is_err());

    // The old session never noticed.
    send_all(&mut wss, tail).await;
    got.extend(receive(&mut wss, tail.len()).await);
    assert_eq!(sha256(&got), sha256(&data), "the session's bytes changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_pair_is_refused_and_the_old_certificate_kept() {
    let (cert_a, key_a, der_a) = self_signed();
    let (cert_b, _, der_b) = self_signed();
    let (_, key_c, _) = self_signed();
    let dir = TempDir::new("tls-reload-broken");
    let (mut proxy, cert, key) = serving_files(&dir, &cert_a, &key_a).await;
    let both: &[&[u8]] = &[&der_a, &der_b];

    // A certificate whose key is not the one in the key file.
    replace(&cert, &cert_b);
    replace(&key, &key_c);
    let line = proxy.wait_for_log("kept the previous certificate");
    assert!(
        line.contains("c.pem") && line.contains("does not match"),
        "{line}"
    );
    assert_eq!(
        served_cert(proxy.addr(), "localhost", both).await.unwrap(),
        der_a
    );
    let mut wss = wss_connect(proxy.addr(), &der_a).await;
    echo_once(&mut wss, b"old certificate still served").await;

    // A half-written file: no certificate at all.
    replace(&cert, "-----BEGIN CERTIFICATE-----\nMIIB");
    let line = proxy.wait_for_log("kept the previous certificate");
    assert!(line.contains("c.pem"), "{line}");
    assert_eq!(
        served_cert(proxy.addr(), "localhost", both).await.unwrap(),
        der_a
    );
    assert!(
        !proxy.log().iter().any(|l| l.contains("PRIVATE KEY")),
        "key material in the log"
    );

    // Fixing the files brings the new pair in.
    let changed = Instant::now();
    replace(&key, &key_a);
    replace(&cert, &cert_a);
    wait_served(proxy.addr(), both, &der_a, changed).await;
    echo_once(&mut wss, b"and the session went on").await;
}
