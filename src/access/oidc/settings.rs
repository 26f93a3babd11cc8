//! What the conf file says about the OpenID provider (`oidc-*` keys).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Result};
use url::Url;

/// Default `oidc-user-claim`.
pub const USER_CLAIM: &str = "preferred_username";
/// Default `oidc-groups-claim`.
pub const GROUPS_CLAIM: &str = "groups";
/// Default `oidc-scopes`.
pub const SCOPES: &str = "openid profile";
/// How long a login cookie is good for.
pub const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

/// The provider and the rules of this instance. `Debug` leaves the client
/// secret out.
#[derive(Clone)]
pub struct OidcSettings {
    /// `oidc-issuer`.
    pub issuer: Url,
    /// `oidc-client-id`.
    pub client_id: String,
    /// The content of `oidc-client-secret-file`.
    pub client_secret: String,
    /// `oidc-redirect-url`; default `/oidc/callback` under the address the
    /// browser used.
    pub redirect_url: Option<String>,
    /// `oidc-user-claim`.
    pub user_claim: String,
    /// `oidc-groups-claim`.
    pub groups_claim: String,
    /// `oidc-allowed-groups`: a login needs one of these; `None`: any.
    pub allowed_groups: Option<BTreeSet<String>>,
    /// `oidc-scopes`.
    pub scopes: String,
    /// The cookie key file (in the state directory); `None`: a key of
    /// this process only.
    pub key_file: Option<PathBuf>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("allowed_groups", &self.allowed_groups)
            .finish_non_exhaustive()
    }
}

/// An issuer URL: https, or http on a loopback address only (tests).
pub fn issuer(text: &str) -> Result<Url> {
    let url = Url::parse(text)?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => bail!("an http:// issuer is only accepted on a loopback address; use https"),
        other => bail!("{other}: not an https URL"),
    }
    if url.query().is_some() || url.fragment().is_some() || url.host().is_none() {
        bail!("an issuer has no query or fragment");
    }
    Ok(url)
}

/// Whether `issuer`'s discovery document may name the endpoint `url`.
pub fn endpoint_allowed(issuer: &Url, url: &Url) -> bool {
    url.scheme() == "https"
        || (url.scheme() == "http" && issuer.scheme() == "http" && is_loopback(url))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

impl OidcSettings {
    /// Whether an endpoint the discovery document names may be used: https,
    /// or http when the issuer itself is a loopback http one.
    pub fn allowed_url(&self, url: &Url) -> bool {
        endpoint_allowed(&self.issuer, url)
    }

    /// Whether `groups` lets the user in.
    pub fn groups_admit(&self, groups: &[String]) -> bool {
        match &self.allowed_groups {
            None => true,
            Some(allowed) => groups.iter().any(|g| allowed.contains(g)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_issuers_only_on_loopback() {
        assert!(issuer("https://sso.example.com/realms/desk").is_ok());
        assert!(issuer("http://127.0.0.1:8080/").is_ok());
        assert!(issuer("http://[::1]:8080/").is_ok());
        assert!(issuer("http://localhost:8080/").is_ok());
        assert!(issuer("http://sso.example.com/").is_err());
        assert!(issuer("http://10.0.0.1/").is_err());
        assert!(issuer("ftp://sso.example.com/").is_err());
    }
}
