//! The certificate the TLS listener presents, replaceable while it serves.
//!
//! rustls asks a [`ResolvesServerCert`] for the certificate at every
//! handshake, so swapping the one [`Certs`] holds changes what new handshakes
//! get without touching the connections already up: they keep the keys they
//! negotiated. `cert`/`key` files that change on disk (`files`) and ACME
//! renewals (`acme`) both land here.
//!
//! The same resolver answers ACME's TLS-ALPN-01 validation (RFC 8737): a
//! handshake that offers only the `acme-tls/1` protocol gets the challenge
//! certificate for the name it asks for, or no certificate at all.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The current certificate, and the TLS-ALPN-01 challenge certificates by name.
#[derive(Debug)]
pub struct Certs {
    current: RwLock<Arc<CertifiedKey>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Certs {
    /// Starts with `first`.
    pub fn new(first: CertifiedKey) -> Self {
        Certs {
            current: RwLock::new(Arc::new(first)),
            challenges: RwLock::new(HashMap::new()),
        }
    }

    /// What new handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// New handshakes get `next` from now on; live connections are untouched.
    pub fn replace(&self, next: CertifiedKey) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(next);
    }

    /// Answers TLS-ALPN-01 validation for `name` with `key` (or stops, `None`).
    pub fn set_challenge(&self, name: &str, key: Option<CertifiedKey>) {
        let mut map = self
            .challenges
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match key {
            Some(key) => map.insert(name.to_ascii_lowercase(), Arc::new(key)),
            None => map.remove(&name.to_ascii_lowercase()),
        };
    }

    fn challenge(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.challenges
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            // RFC 8737: the validation names the domain in SNI; no challenge
            // for it (none pending, or an unknown name) fails the handshake.
            return self.challenge(hello.server_name()?);
        }
        Some(self.current())
    }
}
