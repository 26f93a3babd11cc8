//! Logins under way: what the callback must find again (nonce, PKCE
//! verifier, the redirect URI used, the page to return to), keyed by the
//! random `state` sent to the provider. Each is taken once (a replayed
//! callback finds nothing), lives `PENDING_TTL`, and there are at most
//! `MAX_PENDING`, so clients cannot make us hold more. When full, a new
//! login pushes out the oldest: a flood of page requests then has to
//! outpace real logins (seconds) instead of blocking them all for
//! `PENDING_TTL` with one burst.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most logins under way at once; a new one past it pushes out the oldest.
pub const MAX_PENDING: usize = 1024;

/// How long a login may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// One login under way. `Debug` leaves the secrets out.
pub struct Pending {
    pub nonce: String,
    pub verifier: String,
    pub redirect_uri: String,
    pub return_to: String,
    started: Instant,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

impl Pending {
    pub fn new(nonce: String, verifier: String, redirect_uri: String, return_to: String) -> Self {
        Pending {
            nonce,
            verifier,
            redirect_uri,
            return_to,
            started: Instant::now(),
        }
    }
}

/// The logins under way.
#[derive(Debug, Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<String, Pending>>,
}

impl PendingLogins {
    /// Keeps `pending` under `state`; true when an unexpired login had to
    /// be pushed out for it.
    pub fn insert(&self, state: String, pending: Pending) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut pushed_out = false;
        if map.len() >= MAX_PENDING {
            map.retain(|_, p| p.started.elapsed() < PENDING_TTL);
        }
        if map.len() >= MAX_PENDING {
            let oldest = map
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(s, _)| s.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
                pushed_out = true;
            }
        }
        map.insert(state, pending);
        pushed_out
    }

    /// The login started with `state`, once, if it has not expired.
    pub fn take(&self, state: &str) -> Option<Pending> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(state)
            .filter(|p| p.started.elapsed() < PENDING_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Pending {
        Pending::new("n".into(), "v".into(), "r".into(), "/".into())
    }

    #[test]
    fn a_state_is_taken_once_and_the_store_is_bounded() {
        let p = PendingLogins::default();
        assert!(!p.insert("s".into(), one()));
        assert!(p.take("s").is_some());
        assert!(p.take("s").is_none(), "a replayed state finds nothing");
        for i in 0..MAX_PENDING {
            assert!(!p.insert(format!("s{i}"), one()));
        }
        assert!(p.insert("over".into(), one()), "one is pushed out");
        assert_eq!(p.map.lock().unwrap().len(), MAX_PENDING, "never more");
        assert!(p.take("over").is_some(), "the new one is kept");
    }
}
