//! The `--acme-*` options of the command line (websockify(1), "ACME"),
//! flattened into `Cli`; their conf keys are the same names.

use std::path::PathBuf;

use clap::Args;

use crate::config::options::{OneOrMany, Options};

/// Built-in ACME: a trusted certificate from Let's Encrypt or another CA.
#[derive(Args, Debug, Default)]
pub struct AcmeArgs {
    /// Get and renew a certificate for NAME from the ACME CA instead of
    /// --cert/--key (repeatable: one certificate for every name). [default: none]
    #[arg(long, value_name = "NAME", help_heading = "ACME")]
    pub acme_domain: Vec<String>,

    /// Contact address of the ACME account. [default: none]
    #[arg(long, value_name = "EMAIL", help_heading = "ACME")]
    pub acme_email: Option<String>,

    /// ACME directory URL. [default: https://acme-v02.api.letsencrypt.org/directory]
    #[arg(long, value_name = "URL", help_heading = "ACME")]
    pub acme_directory: Option<String>,

    /// CA certificates (PEM) to trust for the ACME server itself. [default: the system's CAs]
    #[arg(long, value_name = "FILE", help_heading = "ACME")]
    pub acme_ca: Option<PathBuf>,

    /// Directory for the ACME account and certificates (mode 0600 files).
    /// [default: $STATE_DIRECTORY/acme, else /var/lib/websockify/acme]
    #[arg(long, value_name = "DIR", help_heading = "ACME")]
    pub acme_state: Option<PathBuf>,

    /// Answer HTTP-01 challenges on this plain listener (PORT or ADDR:PORT,
    /// normally 80) instead of TLS-ALPN-01 on the TLS port. [default: off]
    #[arg(long, value_name = "ADDR", help_heading = "ACME")]
    pub acme_http_listen: Option<String>,
}

impl AcmeArgs {
    /// These options, the rest unset.
    pub fn options(&self) -> Options {
        Options {
            acme_domain: (!self.acme_domain.is_empty())
                .then(|| OneOrMany::Many(self.acme_domain.clone())),
            acme_email: self.acme_email.clone(),
            acme_directory: self.acme_directory.clone(),
            acme_ca: self.acme_ca.clone(),
            acme_state: self.acme_state.clone(),
            acme_http_listen: self.acme_http_listen.clone(),
            ..Options::default()
        }
    }
}
