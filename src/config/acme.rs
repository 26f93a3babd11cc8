//! The `acme-*` keys to `tls::acme::Settings`: names checked, the state
//! directory defaulted, and `cert`/`key` refused beside `acme-domain`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::options::Merged;
use crate::tls::acme::{AcmeSettings, LETS_ENCRYPT};

/// Where account and certificates go without `acme-state`: `acme/` in the
/// service's own state directory (`StateDirectory=websockify/%i`, the one
/// place the hardened unit may write), else this.
pub const DEFAULT_STATE: &str = "/var/lib/websockify/acme";

/// The ACME settings, `None` without `acme-domain`.
pub(super) fn settings(m: &Merged) -> Result<Option<AcmeSettings>> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let Some(domains) = o.acme_domain.clone().map(|d| d.into_vec()) else {
        let keys = [
            "acme-email",
            "acme-directory",
            "acme-ca",
            "acme-state",
            "acme-http-listen",
        ];
        m.refuse_without(&keys, "acme-domain")?;
        return Ok(None);
    };
    for key in ["cert", "key"] {
        if o.is_set(key) {
            bail!(
                "{}: `acme-domain` and `{key}` exclude each other: the certificate comes \
                 either from the ACME CA or from files",
                at(key)
            );
        }
    }
    if o.verify_client == Some(true) && o.acme_http_listen.is_none() {
        bail!(
            "{}: `verify-client` with `acme-domain` needs `acme-http-listen`: the CA's \
             TLS-ALPN-01 check has no client certificate",
            at("verify-client")
        );
    }
    if domains.is_empty() {
        bail!("{}: give at least one name", at("acme-domain"));
    }
    for name in &domains {
        check_name(name).map_err(|e| anyhow::anyhow!("{}: {name:?}: {e}", at("acme-domain")))?;
    }
    if let Some(ca) = &o.acme_ca {
        // Read now, so that --check and a reload catch a bad file.
        crate::tls::roots_from(ca).with_context(|| at("acme-ca"))?;
    }
    Ok(Some(AcmeSettings {
        domains,
        email: o.acme_email.clone(),
        directory: o
            .acme_directory
            .clone()
            .unwrap_or_else(|| LETS_ENCRYPT.to_owned()),
        ca: o.acme_ca.clone(),
        state: o.acme_state.clone().unwrap_or_else(default_state),
        http_listen: o.acme_http_listen.clone(),
    }))
}

fn check_name(name: &str) -> Result<()> {
    if name.contains('*') {
        bail!("wildcards need DNS-01, which is not supported");
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        bail!("an IP address: ACME certificates here are for DNS names");
    }
    if rustls::pki_types::DnsName::try_from(name).is_err() || !name.contains('.') {
        bail!("not a fully qualified DNS name");
    }
    Ok(())
}

fn default_state() -> PathBuf {
    // systemd sets STATE_DIRECTORY (colon-separated) for StateDirectory=.
    match std::env::var("STATE_DIRECTORY") {
        Ok(dirs) if !dirs.is_empty() => {
            PathBuf::from(dirs.split(':').next().unwrap_or(&dirs)).join("acme")
        }
        _ => PathBuf::from(DEFAULT_STATE),
    }
}
