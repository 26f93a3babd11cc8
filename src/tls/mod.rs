//! TLS server settings from PEM files, with rustls (TLS 1.2 and 1.3 only),
//! and Python websockify's `--ssl-version` / `--ssl-ciphers` mapped onto them.
//!
//! `cert` makes the self-signed certificate of `--generate-cert` and the package;
//! the certificate a listener presents lives in a `resolver::Certs` that
//! `files` (changed `cert`/`key` files) or `acme` (certificates from an ACME
//! CA) replaces while the daemon serves.

pub mod acme;
pub mod cert;
pub mod files;
pub mod info;
pub mod pem;
pub mod resolver;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, WantsServerCert};
use rustls::{CipherSuite, ConfigBuilder, SupportedProtocolVersion};

use acme::Acme;
use files::CertFiles;
use pem::load_certs;
use resolver::Certs;

/// OpenSSL's names for the suites rustls offers, so Python users' cipher
/// lists keep working; IANA names (`TLS_ECDHE_RSA_WITH_...`) work too.
const OPENSSL_NAMES: &[(&str, CipherSuite)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Protocol and cipher choices (`ssl-version`, `ssl-ciphers`).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Lowest version: `default`, `tlsv1_2` or `tlsv1_3`.
    pub min_version: Option<String>,
    /// `:`-separated OpenSSL or IANA suite names.
    pub ciphers: Option<String>,
    /// Require a client certificate (`verify-client`).
    pub verify_client: bool,
    /// CAs for client certificates (`cafile`); the system's when unset.
    pub client_ca: Option<std::path::PathBuf>,
}

impl Profile {
    fn versions(&self) -> Result<&'static [&'static SupportedProtocolVersion]> {
        static BOTH: &[&SupportedProtocolVersion] =
            &[&rustls::version::TLS13, &rustls::version::TLS12];
        static ONLY_13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
        match self.min_version.as_deref() {
            None | Some("default" | "tlsv1_2") => Ok(BOTH),
            Some("tlsv1_3") => Ok(ONLY_13),
            Some(v @ ("tlsv1_1" | "tlsv1" | "sslv3")) => {
                bail!(
                    "{v}: TLS below 1.2 is not supported (rustls); use default, tlsv1_2 or tlsv1_3"
                )
            }
            Some(v) => bail!("unknown TLS version {v:?}: use default, tlsv1_2 or tlsv1_3"),
        }
    }

    fn provider(&self) -> Result<CryptoProvider> {
        let mut provider = rustls::crypto::ring::default_provider();
        let Some(list) = &self.ciphers else {
            return Ok(provider);
        };
        let mut wanted = Vec::new();
        for name in list.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
            let suite = OPENSSL_NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, s)| *s)
                .or_else(|| {
                    provider.cipher_suites.iter().map(|s| s.suite()).find(|s| {
                        s.as_str()
                            .is_some_and(|iana| iana.eq_ignore_ascii_case(name))
                    })
                });
            match suite {
                Some(s) => wanted.push(s),
                None => {
                    let known: Vec<&str> = OPENSSL_NAMES.iter().map(|(n, _)| *n).collect();
                    bail!(
                        "unknown or unsupported cipher {name:?}; rustls offers: {}",
                        known.join(":")
                    )
                }
            }
        }
        provider
            .cipher_suites
            .retain(|s| wanted.contains(&s.suite()));
        Ok(provider)
    }
}

/// A TLS listener's settings and where its certificate comes from.
#[derive(Debug, Clone)]
pub struct TlsServer {
    /// What `TlsAcceptor` takes; its certificate resolver is `certs`.
    pub config: Arc<ServerConfig>,
    /// The certificate new handshakes get.
    pub certs: Arc<Certs>,
    /// What keeps `certs` current.
    pub source: Arc<Source>,
}

/// Where the certificate comes from.
#[derive(Debug)]
pub enum Source {
    /// `cert`/`key` files, polled for changes.
    Files(CertFiles),
    /// An ACME CA (`acme-domain`).
    Acme(Acme),
}

impl TlsServer {
    /// Keeps the certificate current until the future is dropped: polls the
    /// files, or orders and renews. The daemon runs one per configuration
    /// and drops it on reload.
    pub async fn keep_current(&self) {
        match &*self.source {
            Source::Files(files) => files.watch(&self.certs).await,
            Source::Acme(acme) => acme.run(&self.certs).await,
        }
    }

    /// ACME's state, for `STATUS=` (`None` with certificate files).
    pub fn acme_status(&self) -> Option<tokio::sync::watch::Receiver<acme::Status>> {
        match &*self.source {
            Source::Files(_) => None,
            Source::Acme(acme) => Some(acme.status()),
        }
    }
}

/// The server settings for `acme-domain`: the last or a temporary
/// certificate now, the CA's once `keep_current` got it. Without
/// `acme-http-listen` the listener also speaks `acme-tls/1` (TLS-ALPN-01).
pub fn acme_config(settings: acme::AcmeSettings, profile: &Profile) -> Result<TlsServer> {
    let provider = Arc::new(profile.provider()?);
    let alpn = settings.http_listen.is_none();
    let (acme, first) = Acme::open(settings, provider.clone())?;
    let certs = Arc::new(Certs::new(first));
    let mut config = builder(profile, provider)?.with_cert_resolver(certs.clone());
    if alpn {
        // http/1.1 first: ordinary clients that offer ALPN get it.
        config.alpn_protocols = vec![b"http/1.1".to_vec(), resolver::ACME_TLS_ALPN.to_vec()];
    }
    Ok(TlsServer {
        config: Arc::new(config),
        certs,
        source: Arc::new(Source::Acme(acme)),
    })
}

/// Builds the server settings from `cert` (a chain, possibly followed by the
/// key, as `openssl req -keyout x.pem -out x.pem` writes it) and an optional
/// `key` file.
pub fn server_config(cert: &Path, key: Option<&Path>, profile: &Profile) -> Result<TlsServer> {
    let provider = Arc::new(profile.provider()?);
    let (files, first) = CertFiles::open(cert, key, provider.clone())?;
    let certs = Arc::new(Certs::new(first));
    let config = builder(profile, provider)?.with_cert_resolver(certs.clone());
    Ok(TlsServer {
        config: Arc::new(config),
        certs,
        source: Arc::new(Source::Files(files)),
    })
}

/// Versions, suites and client certificates from the profile.
fn builder(
    profile: &Profile,
    provider: Arc<CryptoProvider>,
) -> Result<ConfigBuilder<ServerConfig, WantsServerCert>> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(profile.versions()?)
        .context("no cipher suite left for these TLS versions")?;
    if !profile.verify_client {
        return Ok(builder.with_no_client_auth());
    }
    let roots = match &profile.client_ca {
        Some(path) => roots_from(path)?,
        None => {
            log::warn!(
                "verify-client without cafile: any client certificate from a CA this \
                 system trusts is accepted, and that includes every public CA; set cafile \
                 to the CA that issues your client certificates"
            );
            system_roots()?
        }
    };
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("client certificate verifier")?;
    Ok(builder.with_client_cert_verifier(verifier))
}

/// Settings for `--ssl-target`: the system's CAs (`SSL_CERT_FILE` or
/// `SSL_CERT_DIR` point elsewhere, e.g. at a private CA), TLS 1.2+.
pub fn client_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(system_roots()?)
        .with_no_client_auth())
}

pub(crate) fn system_roots() -> Result<rustls::RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        bail!("no CA certificates found on this system (install ca-certificates, or set SSL_CERT_FILE)");
    }
    Ok(roots)
}

pub(crate) fn roots_from(path: &Path) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .with_context(|| format!("{}: not a usable CA certificate", path.display()))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_map_and_unknown_ones_fail() {
        let p = Profile {
            ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384".into()),
            ..Profile::default()
        };
        let suites: Vec<CipherSuite> = p
            .provider()
            .unwrap()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(suites.len(), 2, "{suites:?}");
        let p = Profile {
            ciphers: Some("HIGH:!aNULL".into()),
            ..Profile::default()
        };
        let e = p.provider().unwrap_err().to_string();
        assert!(e.contains("HIGH"), "{e}");
    }

    #[test]
    fn versions() {
        let v = |s: &str| {
            Profile {
                min_version: Some(s.into()),
                ..Profile::default()
            }
            .versions()
            .map(|v| v.len())
        };
        assert_eq!(v("default").unwrap(), 2);
        assert_eq!(v("tlsv1_3").unwrap(), 1);
        assert!(v("tlsv1_1").unwrap_err().to_string().contains("below 1.2"));
        assert!(v("tls9").is_err());
    }
}
