//! PEM files to rustls types, and what a log line says about a certificate.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// The chain in `cert` and the key in `key` (or in `cert` when `None`),
/// checked to belong together.
pub fn certified_key(
    cert: &Path,
    key: Option<&Path>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey> {
    let certs = load_certs(cert)?;
    let key = match key {
        Some(key) => load_key(key)?,
        None => load_key(cert).map_err(|_| {
            anyhow!(
                "{} holds no private key: name the key's file with `key` (--key)",
                cert.display()
            )
        })?,
    };
    CertifiedKey::from_der(certs, key, provider)
        .with_context(|| format!("certificate {} does not match its key", cert.display()))
}

/// The same from PEM text in memory (ACME's stored or fresh certificate).
pub fn certified_key_from(
    chain_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey> {
    let certs = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("bad PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err(anyhow!("no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| anyhow!("no usable PEM private key ({e})"))?;
    CertifiedKey::from_der(certs, key, provider).context("the certificate does not match its key")
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The certificates in a PEM file, at least one.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: bad PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(match holds(&pem) {
            Some(other) => anyhow!("{} holds {other}, not a certificate", path.display()),
            None => anyhow!("{}: no PEM certificate found", path.display()),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match holds(&pem) {
        Some(other @ "a certificate") => {
            anyhow!("{} holds {other}, not a private key", path.display())
        }
        _ => anyhow!("{}: no usable PEM private key ({e})", path.display()),
    })
}

/// What a PEM file holds ("a certificate", "a private key"), for the admin
/// who named the wrong one of a pair.
fn holds(pem: &[u8]) -> Option<&'static str> {
    let has = |label: &[u8]| pem.windows(label.len()).any(|w| w == label);
    if has(b"-----BEGIN CERTIFICATE-----") {
        Some("a certificate")
    } else if has(b"PRIVATE KEY-----") {
        Some("a private key")
    } else {
        None
    }
}

/// Serial number (hex) and end of validity of the leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Lower-case hex, as `openssl x509 -serial` prints it (but lower case).
    pub serial: String,
    /// `notBefore`.
    pub not_before: SystemTime,
    /// `notAfter`.
    pub not_after: SystemTime,
}

impl Leaf {
    /// Reads the leaf of `key`'s chain.
    pub fn of(key: &CertifiedKey) -> Result<Leaf> {
        let der = key.end_entity_cert().context("empty certificate chain")?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(der.as_ref()).context("unparsable certificate")?;
        let time = |t: x509_parser::time::ASN1Time| {
            let secs = u64::try_from(t.timestamp()).unwrap_or(0);
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
        };
        let validity = cert.validity();
        Ok(Leaf {
            serial: cert.raw_serial_as_string().replace(':', ""),
            not_before: time(validity.not_before),
            not_after: time(validity.not_after),
        })
    }
}

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "serial {}, valid until {}",
            self.serial,
            humantime::format_rfc3339_seconds(self.not_after)
        )
    }
}
