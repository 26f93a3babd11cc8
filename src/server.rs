//! The accept loops. The server is given ready listeners and a shutdown
//! future: it never binds a socket or installs a signal handler itself, so
//! tests, socket activation and reload can hand it whatever they have.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::config::Config;
use crate::conn;
use crate::limits::DRAIN_TIMEOUT;
use crate::shutdown::{Shutdown, Trigger};
use crate::web::Web;

/// Serves every listener until `shutdown` completes, then closes every session
/// with 1001 and waits (bounded) for them to finish.
pub async fn run(listeners: Vec<TcpListener>, config: Arc<Config>, shutdown: impl Future) {
    let trigger = Trigger::new();
    let web = config.web.clone().map(Web::new);
    let mut accepting = JoinSet::new();
    for listener in listeners {
        accepting.spawn(accept_loop(
            listener,
            config.clone(),
            web.clone(),
            trigger.subscribe(),
        ));
    }
    shutdown.await;
    log::info!("shutting down: closing sessions");
    accepting.abort_all();
    if timeout(DRAIN_TIMEOUT, trigger.shutdown_and_drain())
        .await
        .is_err()
    {
        log::warn!("sessions still open after {DRAIN_TIMEOUT:?}; exiting anyway");
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<Config>,
    web: Option<Web>,
    shutdown: Shutdown,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((stream, client)) => {
                backoff = Duration::from_millis(10);
                let task = conn::handle(
                    stream,
                    client,
                    config.clone(),
                    web.clone(),
                    shutdown.clone(),
                );
                tokio::spawn(task);
            }
            Err(e) => {
                // Out of file descriptors or memory: other sessions must keep
                // working, so wait for some to close instead of spinning.
                log::error!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
