//! What a certificate file says about itself: its names, expiry and
//! fingerprint. `websockifyctl` shows them; the instance answers to the
//! names (`server-names` defaults to them).

use std::net::IpAddr;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use x509_parser::extensions::GeneralName;

/// What a certificate says about itself.
pub struct CertInfo {
    /// Subject alternative names (DNS names and IP addresses).
    pub names: Vec<String>,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    /// SHA-256 of the DER, as openssl prints it (AA:BB:...).
    pub fingerprint: String,
}

/// Reads the first certificate of the PEM file `path`.
pub fn info(path: &Path) -> Result<CertInfo> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| anyhow!("{}: not a PEM certificate: {e}", path.display()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| anyhow!("{}: not a certificate: {e}", path.display()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => names.push((*n).to_owned()),
                GeneralName::IPAddress(b) => names.extend(ip(b).map(|a| a.to_string())),
                _ => {}
            }
        }
    }
    let not_after = cert.validity().not_after.to_datetime();
    let now = time::OffsetDateTime::now_utc();
    let digest = ring::digest::digest(&ring::digest::SHA256, &pem.contents);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    Ok(CertInfo {
        names,
        not_after: not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        days_left: (not_after - now).whole_days(),
        fingerprint: hex.join(":"),
    })
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}
