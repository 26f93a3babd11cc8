//! What `/healthz` and `/readyz` answer: whether the instance is draining
//! (both 503 from the first moment, so a load balancer stops sending new
//! users before anyone is refused), and what the last target check found
//! (a cached answer, so polling costs the target nothing). The daemon's
//! check decides whether that finding is ready; this module only keeps it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The latest target check: whether sessions can be served, what kind of
/// finding it was, and the detail. `/readyz` is open to whoever reaches the
/// metrics listener, so it tells only `ready` or `not ready: CODE`; the
/// detail (the target's address, its banner, whether it took the VNC
/// password) goes to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCheck {
    /// Sessions can reach a usable target.
    pub ready: bool,
    /// The kind of finding, a short code (`target-down`, `not-vnc`,
    /// `vnc-auth-failed`, ...): the reason `/readyz` gives when not ready;
    /// the log line is written when it changes.
    pub code: &'static str,
    /// The detail, for the log only, e.g. `target is a VNC server (RFB 003.008)`.
    pub said: String,
}

/// The instance's health, shared by the endpoint and the daemon.
#[derive(Debug)]
pub struct Health {
    draining: AtomicBool,
    target: Mutex<TargetCheck>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            target: Mutex::new(TargetCheck {
                ready: true,
                code: "not-checked",
                said: "target not checked yet".into(),
            }),
        }
    }
}

impl Health {
    /// From now on, health checks fail: the instance is going away.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the instance is draining.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The result of the latest target check.
    pub fn set_target(&self, check: TargetCheck) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = check;
    }

    /// The latest target check.
    pub fn target(&self) -> TargetCheck {
        self.target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
