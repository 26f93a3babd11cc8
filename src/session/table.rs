//! The live sessions of the process, for the control socket: who is
//! connected to what, bytes each way, age, and a handle to close one. A
//! session registers when it opens and is removed when its registration is
//! dropped, also when its task panics or is cancelled.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{watch, Notify};

/// Bytes relayed so far, updated by the relay as they go.
#[derive(Debug, Default)]
pub struct Counts {
    /// Payload bytes written to the target.
    pub to_target: AtomicU64,
    /// Payload bytes sent to the client.
    pub to_client: AtomicU64,
}

/// One live session as the control socket lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    /// Its number, unique for the life of the process.
    pub id: u64,
    /// The client (after trusted proxies).
    pub client: String,
    /// The authenticated user, if Basic auth named one.
    pub user: Option<String>,
    /// The target.
    pub target: String,
    /// Payload bytes to the target so far.
    pub bytes_to_target: u64,
    /// Payload bytes to the client so far.
    pub bytes_to_client: u64,
    /// Seconds since the session opened.
    pub age_s: u64,
}

struct Entry {
    client: String,
    user: Option<String>,
    target: String,
    started: Instant,
    counts: Arc<Counts>,
    kill: Arc<Kill>,
}

/// An administrator's request to close a session, with the close reason.
#[derive(Debug, Default)]
pub struct Kill {
    notify: Notify,
    reason: Mutex<Option<&'static str>>,
}

impl Kill {
    /// Asks the session to close with `reason` (the first request wins).
    fn request(&self, reason: &'static str) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        r.get_or_insert(reason);
        self.notify.notify_one();
    }

    /// Whether a close was requested already.
    fn is_requested(&self) -> bool {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Completes once a close was requested, with its reason.
    pub async fn requested(&self) -> &'static str {
        self.notify.notified().await;
        let r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        r.unwrap_or(KILLED)
    }
}

/// The close reason when an administrator closes a session.
pub const KILLED: &str = "Closed by the administrator";

/// The close reason when a reload took the user's access away.
pub const REVOKED: &str = "Access revoked";

/// Every live session.
pub struct Table {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, Entry>>,
    /// True once every session is asked to pause for a hand-over.
    pause: watch::Sender<bool>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            next: AtomicU64::new(0),
            live: Mutex::default(),
            pause: watch::channel(false).0,
        }
    }
}

/// Who a session moved in by a hand-over was, for its place in the table.
#[derive(Debug)]
pub struct Known<'a> {
    /// Its number in the old process.
    pub id: u64,
    /// The client (after trusted proxies).
    pub client: &'a str,
    /// The user, if any.
    pub user: Option<String>,
    /// The target.
    pub target: &'a str,
    /// When it opened.
    pub started: Instant,
    /// Payload bytes to the target and to the client so far.
    pub bytes: (u64, u64),
}

/// A session's place in the table; leaving the table when dropped.
pub struct Registration {
    id: u64,
    table: Arc<Table>,
    /// The session's byte counts.
    pub counts: Arc<Counts>,
    /// Set when an administrator (or a reload) closes the session.
    pub kill: Arc<Kill>,
    /// True once a hand-over asks the session to pause.
    pub pause: watch::Receiver<bool>,
}

impl Registration {
    /// The session's number, as the control socket and the log show it.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("live", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Table {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a session.
    pub fn register(
        self: &Arc<Self>,
        client: &str,
        user: Option<String>,
        target: &str,
    ) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.register_known(Known {
            id,
            client,
            user,
            target,
            started: Instant::now(),
            bytes: (0, 0),
        })
    }

    /// Adds a session under a number given by the old process of a
    /// hand-over, with its start and byte counts; new sessions are numbered
    /// above it.
    pub fn register_known(self: &Arc<Self>, known: Known<'_>) -> Registration {
        let id = known.id;
        self.next.fetch_max(id, Ordering::Relaxed);
        let counts = Arc::new(Counts {
            to_target: AtomicU64::new(known.bytes.0),
            to_client: AtomicU64::new(known.bytes.1),
        });
        let kill = Arc::new(Kill::default());
        let entry = Entry {
            client: known.client.to_owned(),
            user: known.user,
            target: known.target.to_owned(),
            started: known.started,
            counts: counts.clone(),
            kill: kill.clone(),
        };
        self.lock().insert(id, entry);
        Registration {
            id,
            table: self.clone(),
            counts,
            kill,
            pause: self.pause.subscribe(),
        }
    }

    /// Asks every session to pause for a hand-over (`pause` on its
    /// registration), or (`false`) lets the next ones run on.
    pub fn pause_all(&self, pause: bool) {
        self.pause.send_replace(pause);
    }

    /// Numbers new sessions above `last` (the previous program's largest).
    pub fn continue_after(&self, last: u64) {
        self.next.fetch_max(last, Ordering::Relaxed);
    }

    /// The largest session number given so far.
    pub fn last_id(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// The live sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        let live = self.lock();
        live.iter()
            .map(|(id, e)| SessionInfo {
                id: *id,
                client: e.client.clone(),
                user: e.user.clone(),
                target: e.target.clone(),
                bytes_to_target: e.counts.to_target.load(Ordering::Relaxed),
                bytes_to_client: e.counts.to_client.load(Ordering::Relaxed),
                age_s: e.started.elapsed().as_secs(),
            })
            .collect()
    }

    /// Asks session `id` to close (1008); false when there is none.
    pub fn kill(&self, id: u64) -> bool {
        match self.lock().get(&id) {
            Some(e) => {
                e.kill.request(KILLED);
                true
            }
            None => false,
        }
    }

    /// Asks every session of `user` to close (1008); how many there were.
    pub fn kill_user(&self, user: &str) -> usize {
        let live = self.lock();
        let theirs = live.values().filter(|e| e.user.as_deref() == Some(user));
        theirs.map(|e| e.kill.request(KILLED)).count()
    }

    /// Closes (1008, "Access revoked") every session with a user for which
    /// `why` gives a reason (given the user and the target), logging each;
    /// how many.
    pub fn revoke(&self, why: impl Fn(&str, &str) -> Option<String>) -> usize {
        let live = self.lock();
        let mut closed = 0;
        for (id, e) in live.iter() {
            let Some(user) = &e.user else { continue };
            if e.kill.is_requested() {
                continue; // closing already
            }
            if let Some(why) = why(user, &e.target) {
                log::info!(
                    user = user.as_str(), session_id = *id, target = e.target.as_str();
                    "{}: closing session {id} (1008): {why}",
                    e.client
                );
                e.kill.request(REVOKED);
                closed += 1;
            }
        }
        closed
    }
}
