//! Built-in ACME (RFC 8555, with instant-acme): `acme-domain` makes the
//! instance get and renew its own certificate from Let's Encrypt or any
//! ACME CA, answering TLS-ALPN-01 on its own TLS listener or HTTP-01 on
//! `acme-http-listen`.
//!
//! Until the first order completes, the TLS listener serves the last
//! certificate kept under `acme-state` (when it covers the names and has not
//! expired) or a temporary self-signed one. A certificate is renewed at two
//! thirds of its lifetime plus a random delay of up to a twentieth of it, so
//! instances started together do not order together; a failed order is
//! retried after [`FIRST_RETRY`], doubling up to [`MAX_RETRY`], while the
//! old certificate (before the first, the temporary one) keeps being served;
//! the log says which, and the reason in plain words (`plain`). New certificates go into the resolver:
//! new handshakes get them, live sessions never notice.

pub mod account;
pub mod alpn;
pub mod http01;
pub mod order;
pub mod plain;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use super::pem::{certified_key_from, Leaf};
use super::resolver::Certs;
use store::Store;

/// Let's Encrypt's production directory, the default `acme-directory`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, high limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// The first wait after a failed order.
pub const FIRST_RETRY: Duration = Duration::from_secs(10);
/// The longest wait between failed orders.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);
/// Longest single sleep, so a suspended machine or a changed clock is
/// noticed within the hour.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// The `acme-*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// `acme-domain`: the names, the first one the subject.
    pub domains: Vec<String>,
    /// `acme-email`: the account's contact.
    pub email: Option<String>,
    /// `acme-directory`: the CA's directory URL.
    pub directory: String,
    /// `acme-ca`: CAs to trust for the ACME server itself.
    pub ca: Option<PathBuf>,
    /// `acme-state`: account and certificates.
    pub state: PathBuf,
    /// `acme-http-listen`: answer HTTP-01 there instead of TLS-ALPN-01.
    pub http_listen: Option<String>,
}

/// What `STATUS=` and the log say about the certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The CA's certificate being served, if any yet.
    pub leaf: Option<Leaf>,
    /// The last failure, cleared by a success.
    pub last_error: Option<String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.leaf {
            Some(leaf) => write!(
                f,
                "ACME certificate until {}",
                humantime::format_rfc3339_seconds(leaf.not_after)
            )?,
            None => f.write_str("ACME: temporary self-signed certificate")?,
        }
        match &self.last_error {
            Some(e) => write!(f, "; last error: {e}"),
            None => Ok(()),
        }
    }
}

/// One instance's ACME client.
#[derive(Debug)]
pub struct Acme {
    settings: AcmeSettings,
    provider: Arc<CryptoProvider>,
    store: Store,
    tokens: http01::Tokens,
    status: watch::Sender<Status>,
}

impl Acme {
    /// The client and the certificate to serve first: the stored one when it
    /// is usable, a temporary self-signed one otherwise.
    pub fn open(
        settings: AcmeSettings,
        provider: Arc<CryptoProvider>,
    ) -> Result<(Acme, CertifiedKey)> {
        let store = Store::new(&settings.state);
        let stored = store
            .certificate()
            .and_then(|(chain, key)| certified_key_from(&chain, &key, &provider).ok())
            .and_then(|key| Some((Leaf::of(&key).ok()?, key)))
            .filter(|(leaf, key)| usable(leaf, key, &settings.domains));
        let (leaf, first) = match stored {
            Some((leaf, key)) => (Some(leaf), key),
            None => (None, alpn::temporary(&settings.domains, &provider)?),
        };
        let acme = Acme {
            settings,
            provider,
            store,
            tokens: Default::default(),
            status: watch::Sender::new(Status {
                leaf,
                last_error: None,
            }),
        };
        Ok((acme, first))
    }

    /// Follows the status (for `STATUS=`).
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Orders and renews for as long as it runs (the daemon drops it on
    /// reload); with `acme-http-listen`, serves HTTP-01 meanwhile.
    pub async fn run(&self, certs: &Certs) {
        // STATUS= shows the certificate from the start.
        self.status.send_modify(|_| {});
        let _http = match self.http_listener().await {
            Ok(task) => task,
            Err(e) => return self.failed_for_good(e),
        };
        let mut wait = FIRST_RETRY;
        loop {
            self.sleep_until_due().await;
            match self.renew(certs).await {
                Ok(()) => wait = FIRST_RETRY,
                Err(e) => {
                    let e = plain::describe(&e);
                    log::error!(
                        "ACME: no certificate for {}: {e}; {}; next try in {}",
                        self.settings.domains.join(", "),
                        self.serving(),
                        humantime::format_duration(wait)
                    );
                    self.status.send_modify(|s| s.last_error = Some(e));
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY);
                }
            }
        }
    }

    fn failed_for_good(&self, e: anyhow::Error) {
        let e = plain::describe(&e);
        log::error!("ACME: {e}; no certificate will be ordered");
        self.status.send_modify(|s| s.last_error = Some(e));
    }

    /// What TLS handshakes get meanwhile: before the CA's first
    /// certificate there is no previous one to speak of.
    fn serving(&self) -> String {
        match &self.status.borrow().leaf {
            Some(leaf) => format!("still serving the previous one ({leaf})"),
            None => "serving a temporary self-signed certificate until the first one".into(),
        }
    }

    async fn http_listener(&self) -> Result<Option<AbortOnDrop>> {
        let Some(addr) = &self.settings.http_listen else {
            return Ok(None);
        };
        let listener = http01::bind(addr).await?;
        if let Ok(local) = listener.local_addr() {
            log::info!("ACME: answering HTTP-01 challenges on {local}");
        }
        let task = tokio::spawn(http01::serve(listener, self.tokens.clone()));
        Ok(Some(AbortOnDrop(task)))
    }

    /// Sleeps until the certificate is due for renewal (at once for a
    /// temporary one).
    async fn sleep_until_due(&self) {
        let Some(leaf) = self.status.borrow().leaf.clone() else {
            return;
        };
        let due = renewal_time(&leaf);
        log::info!(
            "ACME: certificate ({leaf}) to be renewed at {}",
            humantime::format_rfc3339_seconds(due)
        );
        while let Ok(left) = due.duration_since(SystemTime::now()) {
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(left.min(MAX_SLEEP)).await;
        }
    }

    /// One order; the new certificate is kept, then served.
    async fn renew(&self, certs: &Certs) -> Result<()> {
        let s = &self.settings;
        log::info!(
            "ACME: ordering a certificate for {} from {}",
            s.domains.join(", "),
            s.directory
        );
        let answers = order::Answers {
            certs,
            http: s.http_listen.as_ref().map(|_| &self.tokens),
            provider: &self.provider,
        };
        let mut account = self.account().await?;
        let mut got = order::obtain(&account, &s.domains, &answers).await;
        if got.as_ref().is_err_and(unknown_account) {
            log::warn!("ACME: the CA no longer knows the stored account; making a new one");
            self.store.drop_account();
            account = self.account().await?;
            got = order::obtain(&account, &s.domains, &answers).await;
        }
        let (chain, key) = got?;
        let next = certified_key_from(chain.as_bytes(), key.as_bytes(), &self.provider)
            .context("the CA's certificate")?;
        let leaf = Leaf::of(&next)?;
        self.store
            .save_certificate(chain.as_bytes(), key.as_bytes())
            .context("cannot keep the certificate")?;
        certs.replace(next);
        log::info!(
            "ACME: new certificate for {} ({leaf}); new TLS handshakes get it",
            s.domains.join(", ")
        );
        self.status.send_replace(Status {
            leaf: Some(leaf),
            last_error: None,
        });
        Ok(())
    }

    async fn account(&self) -> Result<instant_acme::Account> {
        let s = &self.settings;
        account::account(
            &self.store,
            &s.directory,
            s.email.as_deref(),
            s.ca.as_deref(),
        )
        .await
    }
}

/// A stored certificate is served again when it names every domain and has
/// not expired.
fn usable(leaf: &Leaf, key: &CertifiedKey, domains: &[String]) -> bool {
    let Ok(der) = key.end_entity_cert() else {
        return false;
    };
    let Ok(parsed) = rustls::server::ParsedCertificate::try_from(der) else {
        return false;
    };
    leaf.not_after > SystemTime::now()
        && domains.iter().all(|d| {
            rustls::pki_types::ServerName::try_from(d.as_str())
                .is_ok_and(|name| rustls::client::verify_server_name(&parsed, &name).is_ok())
        })
}

/// Two thirds into the lifetime, plus up to a twentieth of it at random.
fn renewal_time(leaf: &Leaf) -> SystemTime {
    let lifetime = leaf
        .not_after
        .duration_since(leaf.not_before)
        .unwrap_or_default();
    let mut bytes = [0u8; 4];
    let random = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_or(0, |()| u32::from_le_bytes(bytes));
    let jitter = (lifetime / 20).mul_f64(f64::from(random) / f64::from(u32::MAX));
    leaf.not_before + lifetime * 2 / 3 + jitter
}

fn unknown_account(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.to_string().contains("accountDoesNotExist"))
}

/// Stops the HTTP-01 listener with the ACME task.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(lifetime: Duration) -> Leaf {
        let not_before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Leaf {
            serial: "01".into(),
            not_before,
            not_after: not_before + lifetime,
        }
    }

    #[test]
    fn renewal_is_due_two_thirds_in_plus_at_most_a_twentieth() {
        let lifetime = Duration::from_secs(90 * 86400);
        let l = leaf(lifetime);
        for _ in 0..100 {
            let due = renewal_time(&l).duration_since(l.not_before).unwrap();
            assert!(due >= lifetime * 2 / 3, "{due:?}");
            assert!(due <= lifetime * 2 / 3 + lifetime / 20, "{due:?}");
        }
    }

    #[test]
    fn a_kept_certificate_is_reused_only_for_its_names_and_before_expiry() {
        let provider = rustls::crypto::ring::default_provider();
        let names = vec!["vnc.example.test".to_owned(), "b.example.test".to_owned()];
        let key = alpn::temporary(&names, &provider).unwrap();
        let current = Leaf::of(&key).unwrap();
        assert!(usable(&current, &key, &names));
        assert!(usable(&current, &key, &names[..1]));
        assert!(!usable(&current, &key, &["other.example.test".to_owned()]));
        let expired = Leaf {
            not_after: SystemTime::now() - Duration::from_secs(1),
            ..current
        };
        assert!(!usable(&expired, &key, &names));
    }

    #[test]
    fn status_line_names_expiry_and_last_error() {
        let s = Status {
            leaf: Some(leaf(Duration::from_secs(3600))),
            last_error: Some("validation: refused".into()),
        };
        assert_eq!(
            s.to_string(),
            "ACME certificate until 2023-11-14T23:13:20Z; last error: validation: refused"
        );
        assert_eq!(
            Status::default().to_string(),
            "ACME: temporary self-signed certificate"
        );
    }
}
