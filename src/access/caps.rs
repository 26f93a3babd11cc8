//! Connection caps (not to be confused with `defaults`, the table of default
//! limits and timers): global, per client address, and sessions per target.
//! The global slot is taken at accept; the per-client one only once the real
//! client is known (after a PROXY header, or at the first request from a
//! trusted proxy), so that clients behind one reverse proxy are told apart.
//!
//! Permits are RAII guards: the count goes down when the permit is dropped,
//! whether the session ended, its task panicked (drop runs while unwinding) or
//! its future was cancelled. Counts live behind one short-held mutex, never
//! held across an `.await`; a poisoned lock is recovered, since the counts
//! are only changed by code that cannot panic between lock and unlock.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// IPv6 clients are counted per /64: one host or home network usually gets a
/// whole /64 and can pick any address in it, so a per-address cap alone would
/// not cap anything.
pub(crate) const IPV6_CLIENT_PREFIX: u32 = 64;

/// The maximums (`max-connections`, `max-connections-per-client`,
/// `max-sessions-per-target`); `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Maximums {
    /// All connections.
    pub global: Option<usize>,
    /// Connections from one client address.
    pub per_client: Option<usize>,
    /// Sessions to one target.
    pub per_target: Option<usize>,
}

impl fmt::Display for Maximums {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |cap: Option<usize>, what: &str| {
            cap.map_or(format!("no cap on {what}"), |n| format!("{n} {what}"))
        };
        write!(
            f,
            "{}, {}, {}",
            part(self.global, "connections"),
            part(self.per_client, "connections per client"),
            part(self.per_target, "sessions per target")
        )
    }
}

/// The caps and the current counts. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Caps {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    max: Maximums,
    total: usize,
    clients: HashMap<IpAddr, usize>,
    targets: HashMap<String, usize>,
}

impl Caps {
    /// Counts that start at zero under the given maximums.
    pub fn new(max: Maximums) -> Self {
        let caps = Caps {
            inner: Arc::default(),
        };
        caps.set(max);
        caps
    }

    /// New caps (on reload), keeping the live counts: connections above a
    /// lowered cap stay, new ones wait until the count is below it.
    pub fn set(&self, max: Maximums) {
        self.lock().max = max;
    }

    /// A connection slot under the global cap, taken at accept; `None` when
    /// the cap is reached. The client is counted later, once it is known
    /// ([`ConnPermit::count_client`]).
    pub fn try_connection(&self) -> Option<ConnPermit> {
        let mut s = self.lock();
        if s.max.global.is_some_and(|cap| s.total >= cap) {
            return None;
        }
        s.total += 1;
        Some(ConnPermit {
            caps: self.clone(),
            client: Mutex::new(Claim::Unclaimed),
        })
    }

    /// A connection slot for a client known at once, counted under both
    /// caps; `None` when either is reached.
    pub fn try_client(&self, ip: IpAddr) -> Option<ConnPermit> {
        let permit = self.try_connection()?;
        permit.count_client(ip).ok().map(|()| permit)
    }

    /// Counts one more connection for `key`, or the cap that refuses it.
    fn count(&self, key: IpAddr) -> Result<(), usize> {
        let mut s = self.lock();
        let mine = s.clients.get(&key).copied().unwrap_or(0);
        if let Some(cap) = s.max.per_client.filter(|&cap| mine >= cap) {
            return Err(cap);
        }
        s.clients.insert(key, mine + 1);
        Ok(())
    }

    /// A session slot for a target (`host:port`, a unix socket path, or
    /// whatever the caller names targets by); `None` when its cap is reached.
    pub fn try_target(&self, target: &str) -> Option<TargetPermit> {
        let mut s = self.lock();
        let mine = s.targets.get(target).copied().unwrap_or(0);
        if s.max.per_target.is_some_and(|cap| mine >= cap) {
            return None;
        }
        s.targets.insert(target.to_owned(), mine + 1);
        Some(TargetPermit {
            caps: self.clone(),
            target: target.to_owned(),
        })
    }

    /// Client connections now open (for `STATUS=`).
    pub fn connections(&self) -> usize {
        self.lock().total
    }

    /// Open connections of one client (its /64 for IPv6).
    pub fn client_connections(&self, ip: IpAddr) -> usize {
        self.lock()
            .clients
            .get(&client_key(ip))
            .copied()
            .unwrap_or(0)
    }

    /// Open sessions to one target.
    pub fn target_sessions(&self, target: &str) -> usize {
        self.lock().targets.get(target).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Caps")
            .field("max", &s.max)
            .field("connections", &s.total)
            .finish()
    }
}

/// What a client is counted as: its IPv4 address (also when it arrives
/// IPv4-mapped on a dual-stack socket), or its IPv6 /64.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - IPV6_CLIENT_PREFIX);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        v4 => v4,
    }
}

/// Decrements `map[key]`, removing it at zero so the map does not grow with
/// every address ever seen.
fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// Whether a connection's client has been counted under the per-client cap.
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// Not yet: the client is not known yet (a trusted proxy's request to come).
    Unclaimed,
    /// Counted as this key.
    Counted(IpAddr),
    /// Refused: the client had its maximum (this cap) of connections.
    Refused(usize),
}

/// One connection: its global slot from accept, and its slot under the
/// per-client cap once the client is known; releases both on drop.
pub struct ConnPermit {
    caps: Caps,
    client: Mutex<Claim>,
}

impl ConnPermit {
    /// Counts the connection for client `ip` (IPv6: its /64); `Err(cap)`
    /// when that client already has `cap` connections. Only the first call
    /// counts: later ones give the same answer whatever `ip` they name, so a
    /// connection is counted once, for the client it was first known as.
    pub fn count_client(&self, ip: IpAddr) -> Result<(), usize> {
        let mut claim = self
            .client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match *claim {
            Claim::Counted(_) => Ok(()),
            Claim::Refused(cap) => Err(cap),
            Claim::Unclaimed => {
                let key = client_key(ip);
                let counted = self.caps.count(key);
                *claim = match counted {
                    Ok(()) => Claim::Counted(key),
                    Err(cap) => Claim::Refused(cap),
                };
                counted
            }
        }
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let claim = *self
            .client
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut s = self.caps.lock();
        s.total = s.total.saturating_sub(1);
        if let Claim::Counted(key) = claim {
            release(&mut s.clients, &key);
        }
    }
}

impl fmt::Debug for ConnPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.client.lock() {
            Ok(claim) => write!(f, "ConnPermit({claim:?})"),
            Err(_) => write!(f, "ConnPermit"),
        }
    }
}

/// One session to a target; releases its slot on drop.
pub struct TargetPermit {
    caps: Caps,
    target: String,
}

impl Drop for TargetPermit {
    fn drop(&mut self) {
        release(&mut self.caps.lock().targets, &self.target);
    }
}

impl fmt::Debug for TargetPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetPermit({})", self.target)
    }
}

#[cfg(test)]
#[path = "caps_tests.rs"]
mod tests;
