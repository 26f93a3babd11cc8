//! `auth-request`'s answers, remembered for a few seconds and shared: one
//! noVNC page load is some 60 requests with the same cookie, and without
//! this each would be a sub-request, most of them in parallel.
//!
//! The key is a SHA-256 of a per-load random salt and the credentials
//! (cookies, `Authorization`; `salted.rs`), never the credentials themselves. Requests
//! with the same key while the first is still asking wait for its answer
//! (one sub-request, not ten); a failure is not remembered, so the next
//! request asks again. Bounded: [`AUTH_REQUEST_CACHE_ENTRIES`] keys (the
//! oldest dropped), each for [`AUTH_REQUEST_CACHE_TTL`]; a reload starts an
//! empty cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::salted::Salt;
use crate::defaults::{AUTH_REQUEST_CACHE_ENTRIES, AUTH_REQUEST_CACHE_TTL};

/// The answer for one key: empty while asking (or after a failure).
struct Slot<V> {
    answer: OnceCell<(V, Instant)>,
    made: Instant,
}

impl<V> Slot<V> {
    /// Whether the slot may still be used at `now`: its answer is younger
    /// than `ttl`, or it has none yet and was made less than `ttl` ago.
    fn fresh(&self, now: Instant, ttl: Duration) -> bool {
        let since = self.answer.get().map_or(self.made, |(_, at)| *at);
        now.saturating_duration_since(since) < ttl
    }
}

/// Answers by credentials hash.
pub struct Cache<V> {
    salt: Option<Salt>,
    slots: Mutex<HashMap<[u8; 32], Arc<Slot<V>>>>,
    capacity: usize,
    ttl: Duration,
}

impl<V: Clone> Default for Cache<V> {
    fn default() -> Self {
        Self::new(AUTH_REQUEST_CACHE_ENTRIES, AUTH_REQUEST_CACHE_TTL)
    }
}

impl<V: Clone> Cache<V> {
    /// At most `capacity` keys, each answer for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        // Without randomness nothing is remembered: every request asks.
        let salt = Salt::new();
        let capacity = if salt.is_some() { capacity } else { 0 };
        Self {
            salt,
            slots: Mutex::new(HashMap::new()),
            capacity,
            ttl,
        }
    }

    /// The key of these credentials: each part's length, then its bytes.
    pub fn key<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
        self.salt.as_ref().map_or([0; 32], |salt| salt.key(parts))
    }

    /// The remembered answer for `key`, or the one `ask` gives (shared with
    /// every request for `key` that comes meanwhile). An error is passed on
    /// and not remembered.
    pub async fn get_or_ask<E, F, Fut>(&self, key: [u8; 32], ask: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if self.capacity == 0 {
            return ask().await;
        }
        let slot = self.slot(key, Instant::now());
        let ask = || async { ask().await.map(|v| (v, Instant::now())) };
        slot.answer
            .get_or_try_init(ask)
            .await
            .map(|(v, _)| v.clone())
    }

    /// The fresh slot of `key`, or a new one, making room first.
    fn slot(&self, key: [u8; 32], now: Instant) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(&key).filter(|s| s.fresh(now, self.ttl)) {
            return slot.clone();
        }
        if slots.len() >= self.capacity && !slots.contains_key(&key) {
            slots.retain(|_, s| s.fresh(now, self.ttl));
            if slots.len() >= self.capacity {
                let oldest = slots.iter().min_by_key(|(_, s)| s.made).map(|(k, _)| *k);
                oldest.map(|k| slots.remove(&k));
            }
        }
        let slot = Arc::new(Slot {
            answer: OnceCell::new(),
            made: now,
        });
        slots.insert(key, slot.clone());
        slot
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn ask(cache: &Cache<u32>, key: &[u8], asked: &AtomicUsize) -> Result<u32, ()> {
        let key = cache.key([key]);
        cache
            .get_or_ask(key, || async {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(7)
            })
            .await
    }

    #[tokio::test]
    async fn parallel_requests_share_one_answer() {
        let (cache, asked) = (Cache::new(8, Duration::from_secs(60)), AtomicUsize::new(0));
        let all = futures_util::future::join_all((0..10).map(|_| ask(&cache, b"c", &asked)));
        assert!(all.await.iter().all(|r| *r == Ok(7)));
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        ask(&cache, b"other", &asked).await.expect("answer");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_not_remembered_and_answers_expire() {
        let cache: Cache<u32> = Cache::new(8, Duration::from_millis(1));
        let key = cache.key([b"c".as_slice()]);
        let failed: Result<u32, &str> = cache.get_or_ask(key, || async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        let again: Result<u32, &str> = cache.get_or_ask(key, || async { Ok(1) }).await;
        assert_eq!(again, Ok(1));
        std::thread::sleep(Duration::from_millis(5));
        let later: Result<u32, &str> = cache.get_or_ask(key, || async { Ok(2) }).await;
        assert_eq!(later, Ok(2), "expired answers are asked again");
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_the_oldest_goes() {
        let (cache, asked) = (Cache::new(3, Duration::from_secs(60)), AtomicUsize::new(0));
        for i in 0..10u8 {
            ask(&cache, &[i], &asked).await.expect("answer");
        }
        assert_eq!(cache.len(), 3);
        ask(&cache, &[9], &asked).await.expect("answer");
        assert_eq!(asked.load(Ordering::SeqCst), 10, "the newest is remembered");
        ask(&cache, &[0], &asked).await.expect("answer");
        assert_eq!(asked.load(Ordering::SeqCst), 11, "the oldest was dropped");
    }

    #[test]
    fn parts_do_not_run_together() {
        let cache: Cache<u32> = Cache::default();
        let key = |a: &[u8], b: &[u8]| cache.key([a, b]);
        assert_ne!(key(b"ab", b"c"), key(b"a", b"bc"));
        assert_eq!(key(b"a", b"b"), key(b"a", b"b"));
    }
}
