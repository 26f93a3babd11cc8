//! The target check behind `/readyz`: every few seconds, whether the fixed
//! target accepts a TCP connection. Cached, so a load balancer polling often
//! costs the target one connection per interval, not one per poll. Token
//! routes have no single target and count as ready.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::access::Route;
use crate::addr::Target;
use crate::config::Config;
use crate::metrics::health::Health;
use crate::session::target;

/// How often the target is checked.
const INTERVAL: Duration = Duration::from_secs(5);

/// Checks the current config's target forever.
pub(super) async fn check_target(config: watch::Receiver<Arc<Config>>, health: Arc<Health>) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tick.tick().await;
        let current = config.borrow().clone();
        let ready = match &current.gate.route {
            Route::Fixed(t) => answers(t, current.limits.connect_timeout).await,
            Route::Token { .. } => true,
        };
        health.set_target_ready(ready);
    }
}

async fn answers(t: &Target, timeout: Duration) -> bool {
    target::connect(t, timeout, None).await.is_ok()
}
