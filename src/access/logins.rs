//! What the logins of one server share, made once and handed down with the
//! server's other shared state (`session::Shared`): the bounded password
//! checks with their failure table, and the OpenID logins under way with
//! the users' logouts. A reload builds a new `Gate`; these stay.

use std::sync::Arc;

use super::oidc::LoginState;
use super::Guard;
use crate::metrics::Metrics;

/// The logins' shared state (see the module doc).
#[derive(Debug)]
pub struct Logins {
    /// Password checks: the bound on hashes at once, the lockouts.
    pub passwords: Guard,
    /// OpenID Connect: logins under way, logouts.
    pub oidc: LoginState,
}

impl Logins {
    /// Password checks with the defaults, no OpenID login under way; each
    /// hash and refusal is counted in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Logins {
            passwords: Guard::with_defaults(metrics),
            oidc: LoginState::default(),
        }
    }

    /// The counters refusals go to.
    pub fn metrics(&self) -> &Metrics {
        self.passwords.metrics()
    }
}
