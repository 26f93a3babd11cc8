//! What `/healthz` and `/readyz` answer: whether the instance is draining
//! (both 503 from the first moment, so a load balancer stops sending new
//! users before anyone is refused), and whether the target accepted TCP at
//! the last check (a cached answer, so polling costs the target nothing).

use std::sync::atomic::{AtomicBool, Ordering};

/// The instance's health, shared by the endpoint and the daemon.
#[derive(Debug)]
pub struct Health {
    draining: AtomicBool,
    target_ready: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            target_ready: AtomicBool::new(true),
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
    pub fn set_target_ready(&self, ready: bool) {
        self.target_ready.store(ready, Ordering::Relaxed);
    }

    /// Serving and the target answering.
    pub fn ready(&self) -> bool {
        !self.draining() && self.target_ready.load(Ordering::Relaxed)
    }
}
