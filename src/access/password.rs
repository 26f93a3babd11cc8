//! Running a password-checking auth plugin without letting it become a
//! denial of service: a locked-out client (see [`failures`](super::failures))
//! gets 429 before anything is hashed, and slow hashes run on a fixed set of
//! [`password_checks`] threads of their own, one check each at a time (a
//! semaphore with as many permits); a request that finds none free within
//! [`PASSWORD_QUEUE_WAIT`] gets 503. Fixed threads rather than tokio's
//! blocking pool, which starts a new thread whenever none is idle at that
//! very moment, and so grows under a flood even with the semaphore.
//!
//! The bound and the table are the process's, not one config's, so that a
//! reload neither doubles the bound nor forgives the clients locked out.

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use tokio::sync::{oneshot, Semaphore};

use super::auth::{AuthPlugin, WRONG_CREDENTIALS};
use super::failures::{Failures, Policy};
use super::Refusal;
use crate::defaults::{password_checks, PASSWORD_QUEUE_WAIT};
use crate::metrics::Metrics;

/// The bound on concurrent password checks and the failure table.
#[derive(Debug)]
pub struct Guard {
    checks: Arc<Semaphore>,
    threads: Mutex<mpsc::Sender<Job>>,
    queue_wait: Duration,
    failures: Failures,
    metrics: Arc<Metrics>,
}

impl Guard {
    /// `permits` checks at once, waiting at most `queue_wait` for one.
    /// Each hash is counted in `metrics`.
    pub fn new(
        permits: usize,
        queue_wait: Duration,
        policy: Policy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Guard {
            checks: Arc::new(Semaphore::new(permits)),
            threads: Mutex::new(start_threads(permits)),
            queue_wait,
            failures: Failures::new(policy),
            metrics,
        }
    }

    /// A guard with the defaults: one per process (its failure table and
    /// hashing threads outlive reloads), made by the daemon.
    pub fn with_defaults(metrics: Arc<Metrics>) -> Self {
        Guard::new(
            password_checks(),
            PASSWORD_QUEUE_WAIT,
            Policy::default(),
            metrics,
        )
    }

    /// The counters its hashes and the refusals of the requests it checks
    /// go to.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `auth`'s verdict for a request from `client` (`key`: its address, or
    /// its /64), with the lockout and the bound applied: the user it
    /// authenticated as (if the plugin names users), or the refusal.
    pub async fn check(
        &self,
        auth: &Arc<AuthPlugin>,
        headers: &HeaderMap,
        client_cn: Option<&str>,
        client: &str,
        key: IpAddr,
    ) -> Result<Option<String>, Refusal> {
        let attempt = Attempt {
            auth,
            headers,
            client_cn,
            client,
            key,
        };
        self.refuse_locked(key)?;
        let verdict = if let Some(user) = auth.remembered(headers) {
            Ok(Some(user))
        } else if auth.verifies_hashes() {
            self.hashed(&attempt).await
        } else {
            auth.check(headers, client_cn)
        };
        match verdict {
            Ok(_) => self.failures.succeeded(key),
            Err(r) if r.reason == WRONG_CREDENTIALS => self.count_failure(client, key),
            Err(_) => {}
        }
        verdict
    }

    /// 429 with the seconds left while `key` is locked out.
    fn refuse_locked(&self, key: IpAddr) -> Result<(), Refusal> {
        match self.failures.locked(key, Instant::now()) {
            None => Ok(()),
            Some(left) => Err(Refusal::too_many_failures(left.as_secs().max(1))),
        }
    }

    fn count_failure(&self, client: &str, key: IpAddr) {
        if self.failures.failed(key, Instant::now()) {
            let p = self.failures.policy();
            log::warn!(
                "{client}: too many failed logins ({} in {} s); refused for {} s",
                p.max_failures,
                p.window.as_secs(),
                p.lockout.as_secs()
            );
        }
    }

    /// The check on a check thread once a permit is free. The permit goes
    /// with the check and is freed when the thread is done with it, also
    /// when the client hung up meanwhile, never while the hash still runs.
    async fn hashed(&self, attempt: &Attempt<'_>) -> Result<Option<String>, Refusal> {
        let acquire = self.checks.clone().acquire_owned();
        let Ok(Ok(permit)) = tokio::time::timeout(self.queue_wait, acquire).await else {
            let (client, wait) = (attempt.client, self.queue_wait.as_secs());
            super::refusal_log::log(
                attempt.key,
                log::Level::Warn,
                format_args!("{client}: refused: 503 no password check free within {wait} s"),
            );
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many logins at once; try again",
            ));
        };
        // Locked out while waiting (by its own parallel requests): no hash.
        self.refuse_locked(attempt.key)?;
        let auth = attempt.auth.clone();
        let (headers, cn) = (attempt.headers.clone(), attempt.client_cn.map(String::from));
        let (tx, rx) = oneshot::channel();
        let metrics = self.metrics.clone();
        let job: Job = Box::new(move || {
            metrics.password_hashed();
            let _ = tx.send(auth.check(&headers, cn.as_deref()));
            drop(permit);
        });
        let sent = self.lock_threads().send(job);
        match (sent, rx.await) {
            (Ok(()), Ok(verdict)) => verdict,
            _ => Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "authentication failed to run",
            )),
        }
    }

    fn lock_threads(&self) -> std::sync::MutexGuard<'_, mpsc::Sender<Job>> {
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One login attempt as the checks see it: the plugin that judges it, the
/// request's headers and client certificate CN, the client as logs name it,
/// and the key its failures are counted under (its address, or its /64).
struct Attempt<'a> {
    auth: &'a Arc<AuthPlugin>,
    headers: &'a HeaderMap,
    client_cn: Option<&'a str>,
    client: &'a str,
    key: IpAddr,
}

/// One password check, with its permit; run on a check thread.
type Job = Box<dyn FnOnce() + Send>;

/// `n` threads that run checks one at a time until the sender goes. A check
/// that panics is caught (its request gets 500), so the thread lives on.
fn start_threads(n: usize) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..n {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name("password-check".into())
            .spawn(move || loop {
                let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok(job) = next else { return };
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            });
        if let Err(e) = spawned {
            log::error!("cannot start a password-check thread: {e}");
        }
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use http::HeaderValue;

    fn basic(userpass: &str) -> HeaderMap {
        let enc = base64::engine::general_purpose::STANDARD.encode(userpass);
        let mut h = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Basic {enc}")).expect("header");
        h.insert(http::header::AUTHORIZATION, value);
        h
    }

    #[tokio::test]
    async fn lockout_applies_to_cheap_plugins_and_right_passwords_too() {
        let guard = Guard::new(
            1,
            Duration::from_secs(1),
            Policy::default(),
            Default::default(),
        );
        let auth = Arc::new(AuthPlugin::new("BasicHTTPAuth", Some("u:p")).expect("plugin"));
        let key = IpAddr::from([192, 0, 2, 1]);
        let run = |h: HeaderMap| {
            let (guard, auth) = (&guard, &auth);
            async move { guard.check(auth, &h, None, "c", key).await }
        };
        for _ in 0..crate::defaults::MAX_FAILURES {
            assert_eq!(
                run(basic("u:x")).await.map_err(|r| r.status.as_u16()),
                Err(401)
            );
        }
        let r = run(basic("u:p")).await.expect_err("locked out");
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(r.retry_after.is_some_and(|s| (1..=30).contains(&s)));
        // No credentials at all is not a failure.
        let other = IpAddr::from([192, 0, 2, 2]);
        for _ in 0..10 {
            let r = guard
                .check(&auth, &HeaderMap::new(), None, "c", other)
                .await;
            assert_eq!(r.map_err(|r| r.status.as_u16()), Err(401));
        }
    }

    #[tokio::test]
    async fn no_free_check_within_the_wait_is_503() {
        let guard = Guard::new(
            1,
            Duration::from_millis(50),
            Policy::default(),
            Default::default(),
        );
        let _busy = guard.checks.clone().acquire_owned().await.expect("permit");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/auth/valid.htpasswd");
        let auth = Arc::new(AuthPlugin::htpasswd(&path).expect("fixture"));
        let key = IpAddr::from([192, 0, 2, 3]);
        let r = guard.check(&auth, &basic("bcrypt:x"), None, "c", key).await;
        assert_eq!(r.map_err(|r| r.status.as_u16()), Err(503));
    }
}
