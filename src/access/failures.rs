//! Failed logins per client, so that a password cannot be guessed at full
//! speed: after [`MAX_FAILURES`] wrong passwords within [`FAILURE_WINDOW`] a
//! client is locked out for [`LOCKOUT`] and gets 429 without its password
//! being checked. The table is bounded ([`MAX_TRACKED_CLIENTS`]), so many
//! addresses cannot grow it; a success clears only that client's record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::defaults::{FAILURE_WINDOW, LOCKOUT, MAX_FAILURES, MAX_TRACKED_CLIENTS};

/// The limits of one table.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures within `window` that start a lockout.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a lockout lasts.
    pub lockout: Duration,
    /// Most clients remembered.
    pub capacity: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_failures: MAX_FAILURES,
            window: FAILURE_WINDOW,
            lockout: LOCKOUT,
            capacity: MAX_TRACKED_CLIENTS,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    first: Instant,
    last: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

/// Failed logins by client key (see `caps::client_key`).
#[derive(Debug, Default)]
pub struct Failures {
    policy: Policy,
    table: Mutex<HashMap<IpAddr, Record>>,
}

impl Failures {
    /// An empty table with these limits.
    pub fn new(policy: Policy) -> Self {
        Failures {
            policy,
            table: Mutex::default(),
        }
    }

    /// The limits.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Time left of the client's lockout, if it is locked out. A lockout
    /// that has run out is forgotten: the client starts afresh.
    pub fn locked(&self, key: IpAddr, now: Instant) -> Option<Duration> {
        let mut table = self.lock();
        let until = table.get(&key)?.locked_until?;
        if until > now {
            return Some(until - now);
        }
        table.remove(&key);
        None
    }

    /// Counts a wrong password; true when this one started a lockout.
    pub fn failed(&self, key: IpAddr, now: Instant) -> bool {
        let mut table = self.lock();
        if !table.contains_key(&key) && table.len() >= self.policy.capacity {
            evict(&mut table, self.policy.capacity, now);
        }
        let fresh = Record {
            first: now,
            last: now,
            count: 0,
            locked_until: None,
        };
        let r = table.entry(key).or_insert(fresh);
        if now.duration_since(r.first) > self.policy.window {
            *r = fresh;
        }
        r.count += 1;
        r.last = now;
        if r.count >= self.policy.max_failures && r.locked_until.is_none() {
            r.locked_until = Some(now + self.policy.lockout);
            return true;
        }
        false
    }

    /// A right password: that client's record goes.
    pub fn succeeded(&self, key: IpAddr) {
        self.lock().remove(&key);
    }

    /// Clients remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no client is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes room for one more: drops records that no longer matter, then, if
/// still full, the one seen longest ago (a scan, only when full).
fn evict(table: &mut HashMap<IpAddr, Record>, capacity: usize, now: Instant) {
    table.retain(|_, r| r.locked_until.is_some_and(|u| u > now));
    while table.len() >= capacity {
        let Some(oldest) = table.iter().min_by_key(|(_, r)| r.last).map(|(k, _)| *k) else {
            return;
        };
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    fn policy(capacity: usize) -> Policy {
        Policy {
            capacity,
            ..Policy::default()
        }
    }

    #[test]
    fn lockout_after_max_failures_and_only_for_that_client() {
        let f = Failures::new(policy(100));
        let t = Instant::now();
        for i in 1..MAX_FAILURES {
            assert!(!f.failed(ip(1), t), "failure {i}");
            assert_eq!(f.locked(ip(1), t), None);
        }
        assert!(f.failed(ip(1), t), "the last failure locks");
        assert_eq!(f.locked(ip(1), t), Some(LOCKOUT));
        assert!(!f.failed(ip(1), t), "logged once per lockout");
        assert_eq!(f.locked(ip(2), t), None);
        f.succeeded(ip(2));
        assert!(
            f.locked(ip(1), t).is_some(),
            "another's success changes nothing"
        );
        assert_eq!(f.locked(ip(1), t + LOCKOUT), None, "over");
        assert!(f.is_empty(), "and forgotten");
    }

    #[test]
    fn old_failures_and_a_success_reset_the_count() {
        let f = Failures::new(policy(100));
        let t = Instant::now();
        for _ in 1..MAX_FAILURES {
            f.failed(ip(1), t);
        }
        let later = t + FAILURE_WINDOW + Duration::from_secs(1);
        assert!(!f.failed(ip(1), later), "window passed: counts from 1");
        for _ in 2..MAX_FAILURES {
            f.failed(ip(1), later);
        }
        f.succeeded(ip(1));
        assert!(!f.failed(ip(1), later), "success cleared the record");
    }

    #[test]
    fn the_table_is_bounded_and_keeps_lockouts_over_the_oldest() {
        let f = Failures::new(policy(3));
        let t = Instant::now();
        for _ in 0..MAX_FAILURES {
            f.failed(ip(1), t);
        }
        for n in 2..1000 {
            f.failed(ip(n), t + Duration::from_millis(u64::from(n)));
            assert!(f.len() <= 3);
        }
        assert!(
            f.locked(ip(1), t).is_some(),
            "a lockout is not evicted first"
        );
    }
}
