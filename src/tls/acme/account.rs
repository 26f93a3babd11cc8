//! The ACME account: restored from `acme-state` or made on first use, over
//! an HTTPS client that trusts `acme-ca` when given (a private CA, pebble in
//! the tests) or the system's CAs.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, BodyWrapper, HttpClient, NewAccount};

use super::store::{Store, StoredAccount};

/// An HTTPS client for the ACME server.
fn http_client(ca: Option<&Path>) -> Result<Box<dyn HttpClient>> {
    let roots = match ca {
        Some(path) => crate::tls::roots_from(path)?,
        None => crate::tls::system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, BodyWrapper<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(client))
}

/// The account for `directory`: the stored one, or a new one (then stored).
pub async fn account(
    store: &Store,
    directory: &str,
    email: Option<&str>,
    ca: Option<&Path>,
) -> Result<Account> {
    if let Some(stored) = store.account(directory) {
        return Account::builder_with_http(http_client(ca)?)
            .from_credentials(stored.credentials)
            .await
            .with_context(|| format!("ACME directory {directory}"));
    }
    let contact = email.map(|e| format!("mailto:{e}"));
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = Account::builder_with_http(http_client(ca)?)
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await
        .with_context(|| format!("cannot create an ACME account at {directory}"))?;
    store.save_account(&StoredAccount {
        directory: directory.to_owned(),
        credentials,
    })?;
    log::info!(
        "ACME: new account at {directory}, kept in {}",
        store.dir().display()
    );
    Ok(account)
}
