//! Why a request was refused: an HTTP status and a fixed reason, shared by
//! the auth plugins, the Origin policy and token routing. The HTTP layer
//! renders it; nothing here knows about response bodies.

use std::fmt;

use http::StatusCode;

/// Why a request was refused, as an HTTP status. The reason is safe to log
/// and to send to the client: it never contains a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// 401 (ask for credentials), 403 (refused), 429 (locked out), ...
    pub status: StatusCode,
    /// Human-readable, fixed text.
    pub reason: &'static str,
    /// Send `WWW-Authenticate:` [`BASIC_REALM_HEADER`](super::auth::BASIC_REALM_HEADER) so the browser prompts.
    pub www_authenticate: bool,
    /// Seconds for a `Retry-After` header (429 to a locked-out client).
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// 401 with a Basic challenge: credentials missing or wrong (Python's `demand_auth`).
    pub fn demand_auth(reason: &'static str) -> Self {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            reason,
            www_authenticate: true,
            retry_after: None,
        }
    }

    /// 403: malformed credentials, wrong origin or CN (Python's `auth_error`).
    pub fn forbidden(reason: &'static str) -> Self {
        Refusal {
            status: StatusCode::FORBIDDEN,
            reason,
            www_authenticate: false,
            retry_after: None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.reason)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// Any other status with a fixed reason (token routing's 403/404/502/503).
    pub fn new(status: StatusCode, reason: &'static str) -> Self {
        Refusal {
            status,
            reason,
            www_authenticate: false,
            retry_after: None,
        }
    }
}

impl Refusal {
    /// 429 with `Retry-After`: too many wrong passwords from this client;
    /// nothing was checked.
    pub fn too_many_failures(retry_after: u64) -> Self {
        Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            reason: "too many failed logins; try again later",
            www_authenticate: false,
            retry_after: Some(retry_after),
        }
    }
}
