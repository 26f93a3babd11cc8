//! Certificates made here rather than by the CA: the TLS-ALPN-01 challenge
//! certificate (RFC 8737: the one name as a SAN and the critical
//! `acmeIdentifier` extension holding SHA-256 of the key authorization), and
//! the temporary self-signed certificate served until the first order
//! completes. Both with rcgen, on ring, like `tls::cert`.

use anyhow::{Context, Result};
use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use rustls::pki_types::PrivateKeyDer;

/// The TLS-ALPN-01 answer for `domain`, given the key authorization's digest.
pub fn challenge_cert(
    domain: &str,
    digest: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey> {
    let mut params = CertificateParams::new(vec![domain.to_owned()]).context("challenge name")?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    self_signed(params, provider)
}

/// A self-signed certificate for `domains`, until the CA's arrives.
pub fn temporary(domains: &[String], provider: &CryptoProvider) -> Result<CertifiedKey> {
    let params = CertificateParams::new(domains.to_vec()).context("certificate names")?;
    self_signed(params, provider)
}

fn self_signed(params: CertificateParams, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let key = KeyPair::generate().context("key generation")?;
    let cert = params
        .self_signed(&key)
        .context("self-signed certificate")?;
    // Not `CertifiedKey::from_der`: its key check parses the certificate
    // with webpki, which refuses the critical acmeIdentifier extension.
    let der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("generated key: {e}"))?;
    let signer = provider
        .key_provider
        .load_private_key(der)
        .context("generated key")?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}
