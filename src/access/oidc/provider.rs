//! The identity provider as the `openid` crate sees it: discovery, the
//! issuer's keys, the code exchange and the ID token's checks (signature,
//! issuer, audience, expiry, nonce). Nothing of the protocol is written
//! here; this file keeps the discovered client, refreshes it (key
//! rotation), and talks to the provider through an HTTP client that
//! follows no redirect (SSRF) and gives up after `IDP_TIMEOUT`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper_rustls::ConfigBuilderExt as _;
use openid::biscuit::jwk::JWKSet;
use openid::{Client, CustomClaims, Discovered, Empty, StandardClaims, Token};
use serde::{Deserialize, Serialize};

use super::settings::{self, OidcSettings};

/// Whole-request limit for each call to the provider.
pub const IDP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long discovery and the keys are used before they are fetched again
/// (sooner when a token names a key we do not have).
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Largest discovery document read (the crate reads the keys with the
/// same limit).
const MAX_DISCOVERY: usize = 1024 * 1024;

/// The ID token's claims: the standard ones checked by the crate, and the
/// whole set kept for the configured user and groups claims.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdClaims {
    #[serde(flatten)]
    standard: StandardClaims,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl CustomClaims for IdClaims {
    fn standard_claims(&self) -> &StandardClaims {
        &self.standard
    }
}

impl openid::CompactJson for IdClaims {}

pub type OidcClient = Client<Discovered, IdClaims>;

/// Why a login could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The provider did not answer, or not usably: 503.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered, but the code or the token is refused: 403.
    #[error("{0}")]
    Refused(String),
}

/// The discovered provider, fetched on first use and kept `DISCOVERY_TTL`.
pub struct Provider {
    http: reqwest::Client,
    cached: Mutex<Option<(OidcClient, Instant)>>,
}

impl Provider {
    pub fn new() -> anyhow::Result<Provider> {
        Ok(Provider {
            http: http_client()?,
            cached: Mutex::new(None),
        })
    }

    /// The discovered client; `fresh` fetches discovery and keys again.
    pub async fn client(&self, s: &OidcSettings, fresh: bool) -> Result<OidcClient, IdpError> {
        if !fresh {
            let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((client, at)) = cached.as_ref() {
                if at.elapsed() < DISCOVERY_TTL {
                    return Ok(client.clone());
                }
            }
        }
        let client = self.discover(s).await?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((client.clone(), Instant::now()));
        Ok(client)
    }

    async fn discover(&self, s: &OidcSettings) -> Result<OidcClient, IdpError> {
        let (config, jwks) = self.discovery_and_keys(&s.issuer).await?;
        Ok(Client::new(
            config.into(),
            s.client_id.clone(),
            s.client_secret.clone(),
            None,
            self.http.clone(),
            Some(jwks),
        ))
    }

    /// The discovery document and the keys it names: what a login needs,
    /// and what `websockifyctl status` checks.
    pub async fn discovery_and_keys(
        &self,
        issuer: &url::Url,
    ) -> Result<(openid::Config, JWKSet<Empty>), IdpError> {
        let config = self.discovery(issuer).await?;
        for url in [&config.token_endpoint, &config.jwks_uri] {
            if !settings::endpoint_allowed(issuer, url) {
                return Err(IdpError::Unavailable(format!(
                    "the discovery document names {url}: an http:// endpoint is only taken on loopback"
                )));
            }
        }
        let jwks: JWKSet<Empty> = openid::jwks_insecure(&self.http, config.jwks_uri.clone())
            .await
            .map_err(|e| IdpError::Unavailable(e.to_string()))?;
        Ok((config, jwks))
    }

    /// The discovery document, whose issuer must be the one configured
    /// exactly (OpenID Connect Discovery 4.3). The crate's own discovery
    /// insists on https for the keys; this one lets `allowed_url` decide,
    /// so a loopback test provider works.
    async fn discovery(&self, issuer: &url::Url) -> Result<openid::Config, IdpError> {
        let mut url = issuer.clone();
        url.path_segments_mut()
            .map_err(|()| IdpError::Unavailable("the issuer URL cannot have a path".into()))?
            .pop_if_empty()
            .extend([".well-known", "openid-configuration"]);
        let unavailable = |e: reqwest::Error| IdpError::Unavailable(e.to_string());
        let mut resp = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_DISCOVERY {
                return Err(IdpError::Unavailable(
                    "the discovery document is over 1 MiB".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let config: openid::Config = serde_json::from_slice(&body).map_err(|e| {
            IdpError::Unavailable(format!("the discovery document is not usable: {e}"))
        })?;
        if &config.issuer != issuer {
            return Err(IdpError::Unavailable(format!(
                "the discovery document names the issuer {}, not {issuer}",
                config.issuer
            )));
        }
        Ok(config)
    }

    /// Exchanges `code` (with the PKCE verifier) and returns the verified
    /// ID token's claims. A token signed by a key we do not know fetches
    /// the keys again once (rotation).
    pub async fn redeem(
        &self,
        s: &OidcSettings,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<serde_json::Value, IdpError> {
        let mut client = self.client(s, false).await?;
        client.redirect_uri = Some(redirect_uri.to_owned());
        let bearer = client
            .request_token_pkce(code, Some(verifier))
            .await
            .map_err(|e| match e {
                openid::error::ClientError::Reqwest(e) => IdpError::Unavailable(e.to_string()),
                e => IdpError::Refused(format!("the code was not accepted: {e}")),
            })?;
        let token: Token<IdClaims> = bearer.into();
        let Some(mut id_token) = token.id_token else {
            return Err(IdpError::Refused("no ID token in the answer".into()));
        };
        if let Err(e) = client.decode_token(&mut id_token) {
            // Perhaps a new key: fetch the keys again, once.
            log::debug!(
                "ID token not verified ({}); fetching the provider's keys again",
                why(&e)
            );
            let fresh = self.client(s, true).await?;
            fresh
                .decode_token(&mut id_token)
                .map_err(|e| IdpError::Refused(format!("the ID token is not valid: {e}")))?;
        }
        client
            .validate_token(&id_token, Some(nonce), None)
            .map_err(|e| IdpError::Refused(format!("the ID token is not valid: {}", why(&e))))?;
        let claims = id_token
            .payload()
            .map_err(|e| IdpError::Refused(format!("the ID token is not valid: {e}")))?;
        serde_json::to_value(claims)
            .map_err(|e| IdpError::Refused(format!("the ID token's claims: {e}")))
    }
}

/// Why the crate refused a verified ID token: its own words, but for a
/// nonce that is not this login's, whose words quote both nonces (the one
/// this login sent stays out of the log, like the token).
fn why(e: &openid::error::Error) -> String {
    use openid::error::{Error, Mismatch, Validation};
    match e {
        Error::Validation(Validation::Mismatch(Mismatch::Nonce { .. })) => {
            "its nonce is not the one this login sent".to_owned()
        }
        e => e.to_string(),
    }
}

/// rustls on ring with the system's CA certificates, no redirects, bounded
/// time for connecting and for each whole request.
fn http_client() -> anyhow::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_native_roots()
        .context("loading the system CA certificates for the identity provider")?
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(crate::defaults::CONNECT_TIMEOUT)
        .timeout(IDP_TIMEOUT)
        .tls_backend_preconfigured(tls)
        .build()?)
}
