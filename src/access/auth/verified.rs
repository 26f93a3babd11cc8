//! Logins that passed the hash, remembered for a while: without this, every
//! request of a page load (noVNC fetches some 60 files, each with the
//! browser's `Authorization` header) runs bcrypt again, on the one or two
//! check threads, and a login page takes seconds of CPU.
//!
//! What is kept is not the password: a SHA-256 of a per-process random salt,
//! the user and the password, so the table answers "seen before" and
//! nothing else. It is bounded ([`VERIFIED_LOGINS`], the oldest dropped),
//! each entry expires ([`VERIFIED_LOGIN_TTL`]), and it belongs to one load
//! of the password file: a reload (a password changed or a user deleted)
//! starts an empty one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::super::salted::Salt;
use crate::defaults::{VERIFIED_LOGINS, VERIFIED_LOGIN_TTL};

/// The remembered logins of one password file load.
pub struct Verified {
    salt: Option<Salt>,
    seen: Mutex<HashMap<[u8; 32], Instant>>,
    capacity: usize,
    ttl: Duration,
}

impl Default for Verified {
    fn default() -> Self {
        Self::new(VERIFIED_LOGINS, VERIFIED_LOGIN_TTL)
    }
}

impl Verified {
    fn new(capacity: usize, ttl: Duration) -> Self {
        // Without randomness the table stays empty: every login is hashed.
        let salt = Salt::new();
        let capacity = if salt.is_some() { capacity } else { 0 };
        Self {
            salt,
            seen: Mutex::new(HashMap::new()),
            capacity,
            ttl,
        }
    }

    /// The table's key for these credentials.
    pub fn key(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        self.salt
            .as_ref()
            .map_or([0; 32], |salt| salt.key([user, password]))
    }

    /// Whether these credentials passed the hash within the last TTL.
    pub fn seen(&self, key: &[u8; 32], now: Instant) -> bool {
        let seen = self.lock();
        seen.get(key)
            .is_some_and(|&at| now.duration_since(at) < self.ttl)
    }

    /// Remembers credentials that just passed the hash.
    pub fn remember(&self, key: [u8; 32], now: Instant) {
        if self.capacity == 0 {
            return;
        }
        let mut seen = self.lock();
        if seen.len() >= self.capacity && !seen.contains_key(&key) {
            seen.retain(|_, at| now.duration_since(*at) < self.ttl);
            if seen.len() >= self.capacity {
                let oldest = seen.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k);
                oldest.map(|k| seen.remove(&k));
            }
        }
        seen.insert(key, now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_same_user_and_password_until_the_ttl() {
        let v = Verified::new(4, Duration::from_secs(10));
        let t = Instant::now();
        v.remember(v.key(b"alice", b"pw"), t);
        assert!(v.seen(&v.key(b"alice", b"pw"), t + Duration::from_secs(9)));
        assert!(!v.seen(&v.key(b"alice", b"pw"), t + Duration::from_secs(10)));
        assert!(!v.seen(&v.key(b"alice", b"pw2"), t));
        assert!(
            !v.seen(&v.key(b"alic", b"epw"), t),
            "user and password run together"
        );
    }

    #[test]
    fn the_table_is_bounded_and_the_oldest_goes() {
        let v = Verified::new(3, Duration::from_secs(100));
        let t = Instant::now();
        for i in 0..10u8 {
            v.remember(v.key(&[i], b"pw"), t + Duration::from_secs(i.into()));
        }
        assert_eq!(v.lock().len(), 3);
        assert!(v.seen(&v.key(&[9], b"pw"), t + Duration::from_secs(9)));
        assert!(!v.seen(&v.key(&[0], b"pw"), t + Duration::from_secs(9)));
    }

    #[test]
    fn two_loads_do_not_share_keys() {
        let (a, b) = (Verified::default(), Verified::default());
        assert_ne!(a.key(b"alice", b"pw"), b.key(b"alice", b"pw"));
    }
}
