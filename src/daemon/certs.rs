//! Keeps the TLS certificate current: one task per configuration, so a
//! reload (SIGHUP) that brings new `cert`/`key` paths or ACME settings stops
//! the old watcher and starts one for the new configuration.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;

/// Runs `tls::Server::keep_current` for each configuration in turn.
pub(super) async fn keep_current(mut config: watch::Receiver<Arc<Config>>) {
    loop {
        let current = config.borrow_and_update().clone();
        let task = current
            .tls
            .clone()
            .map(|tls| tokio::spawn(async move { tls.keep_current().await }));
        let changed = config.changed().await;
        if let Some(task) = task {
            task.abort();
        }
        if changed.is_err() {
            return;
        }
    }
}
