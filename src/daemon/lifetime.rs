//! Python's server-lifetime options: `--run-once`, `--timeout` and
//! `--idle-timeout`, as one future that completes when the server should stop.

use tokio::sync::watch;

use crate::config::Lifetime;
use crate::session::SessionCount;

/// Completes when the server's lifetime (`--run-once`, `--timeout`,
/// `--idle-timeout`) is over, with the reason; never when none is set.
pub(super) async fn lifetime_over(
    lifetime: Lifetime,
    sessions: watch::Receiver<SessionCount>,
) -> String {
    let mut ended = sessions.clone();
    let mut idle_watch = sessions;
    let run_once = async {
        if lifetime.run_once {
            let _ = ended.wait_for(|c| c.ended > 0).await;
            return "--run-once: the first session ended".to_owned();
        }
        std::future::pending().await
    };
    let timeout = async {
        match lifetime.timeout {
            Some(t) => {
                tokio::time::sleep(t).await;
                format!("--timeout: {t:?} since start")
            }
            None => std::future::pending().await,
        }
    };
    let idle = async {
        let Some(limit) = lifetime.idle_timeout else {
            return std::future::pending().await;
        };
        loop {
            let _ = idle_watch.wait_for(|c| c.live == 0).await;
            let busy = idle_watch.wait_for(|c| c.live > 0);
            if tokio::time::timeout(limit, busy).await.is_err() {
                return format!("--idle-timeout: no session for {limit:?}");
            }
        }
    };
    tokio::select! {
        r = run_once => r,
        r = timeout => r,
        r = idle => r,
    }
}
