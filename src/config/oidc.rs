//! The `oidc-*` keys into the OpenID login of the gate.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::build::{credential, words};
use super::options::Merged;
use crate::access::oidc::{settings, Oidc, OidcSettings};

/// Where the login cookie's key lives, under the state directory.
const KEY_FILE: &str = "oidc-cookie.key";

/// The OpenID login when `oidc-issuer` is set.
pub(super) fn oidc(m: &Merged) -> Result<Option<Oidc>> {
    let o = &m.options;
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let Some(issuer) = &o.oidc_issuer else {
        let keys = [
            "oidc-client-id",
            "oidc-client-secret-file",
            "oidc-allowed-groups",
        ];
        m.refuse_without(&keys, "oidc-issuer")?;
        return Ok(None);
    };
    let issuer = settings::issuer(issuer).with_context(|| at("oidc-issuer"))?;
    let Some(client_id) = o.oidc_client_id.clone() else {
        bail!("{}: needs `oidc-client-id`", at("oidc-issuer"));
    };
    let client_secret = client_secret(m)?;
    let allowed_groups = o
        .oidc_allowed_groups
        .as_ref()
        .map(|_| words(&o.oidc_allowed_groups).into_iter().collect());
    let settings = OidcSettings {
        issuer,
        client_id,
        client_secret,
        redirect_url: o.oidc_redirect_url.clone(),
        user_claim: o
            .oidc_user_claim
            .clone()
            .unwrap_or_else(|| settings::USER_CLAIM.into()),
        groups_claim: o
            .oidc_groups_claim
            .clone()
            .unwrap_or_else(|| settings::GROUPS_CLAIM.into()),
        allowed_groups,
        scopes: o
            .oidc_scopes
            .clone()
            .unwrap_or_else(|| settings::SCOPES.into()),
        key_file: key_file(),
    };
    Oidc::new(settings)
        .map(Some)
        .with_context(|| at("oidc-issuer"))
}

/// The content of `oidc-client-secret-file` (or its credential), one line.
fn client_secret(m: &Merged) -> Result<String> {
    let at = |key: &str| format!("{}: {key}", m.origin(key));
    let Some(file) = &m.options.oidc_client_secret_file else {
        bail!("{}: needs `oidc-client-secret-file`", at("oidc-issuer"));
    };
    let path = credential(file).with_context(|| at("oidc-client-secret-file"))?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: {}", at("oidc-client-secret-file"), path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The cookie key file in the instance's state directory (systemd's
/// `StateDirectory=`; the first one listed). Without one (`--check`,
/// `websockifyctl add`'s check, a run outside systemd) the key is the
/// process's own, and logins end with it.
fn key_file() -> Option<PathBuf> {
    let state = std::env::var_os("STATE_DIRECTORY");
    match state.as_ref().and_then(|s| std::env::split_paths(s).next()) {
        Some(dir) if dir.is_absolute() => Some(dir.join(KEY_FILE)),
        _ => {
            log::warn!(
                "oidc-issuer: no state directory (STATE_DIRECTORY): login cookies are sealed \
                 with a key of this process only, and logins end when it does"
            );
            None
        }
    }
}
