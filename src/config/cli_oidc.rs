//! The `--oidc-*` options of the command line (websockify(1), "OpenID
//! Connect"), flattened into `Cli`; their conf keys are the same names.

use std::path::PathBuf;

use clap::Args;

use crate::config::options::{OneOrMany, Options};

/// OpenID Connect login: the user comes from the organisation's provider.
#[derive(Args, Debug, Default)]
pub struct OidcArgs {
    /// Log users in with this OpenID Connect provider (https; http only on
    /// loopback). [default: none]
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub oidc_issuer: Option<String>,

    /// The client id registered at the provider. [default: none]
    #[arg(long, value_name = "ID", help_heading = "OpenID Connect")]
    pub oidc_client_id: Option<String>,

    /// File holding the client secret, or credential:NAME. [default: none]
    #[arg(long, value_name = "FILE", help_heading = "OpenID Connect")]
    pub oidc_client_secret_file: Option<PathBuf>,

    /// Only members of these groups may log in, separated by spaces or
    /// commas. [default: every user of the provider]
    #[arg(long, value_name = "GROUPS", help_heading = "OpenID Connect")]
    pub oidc_allowed_groups: Option<String>,

    /// The ID token claim naming the user. [default: preferred_username]
    #[arg(long, value_name = "CLAIM", help_heading = "OpenID Connect")]
    pub oidc_user_claim: Option<String>,

    /// The ID token claim listing the user's groups. [default: groups]
    #[arg(long, value_name = "CLAIM", help_heading = "OpenID Connect")]
    pub oidc_groups_claim: Option<String>,

    /// The callback URL registered at the provider. [default: /oidc/callback
    /// under the address the browser used]
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub oidc_redirect_url: Option<String>,

    /// The scopes asked for, separated by spaces. [default: "openid profile"]
    #[arg(long, value_name = "SCOPES", help_heading = "OpenID Connect")]
    pub oidc_scopes: Option<String>,
}

impl OidcArgs {
    /// The options these flags set.
    pub fn options(&self) -> Options {
        Options {
            oidc_issuer: self.oidc_issuer.clone(),
            oidc_client_id: self.oidc_client_id.clone(),
            oidc_client_secret_file: self.oidc_client_secret_file.clone(),
            oidc_allowed_groups: self.oidc_allowed_groups.clone().map(OneOrMany::One),
            oidc_user_claim: self.oidc_user_claim.clone(),
            oidc_groups_claim: self.oidc_groups_claim.clone(),
            oidc_redirect_url: self.oidc_redirect_url.clone(),
            oidc_scopes: self.oidc_scopes.clone(),
            ..Options::default()
        }
    }
}
