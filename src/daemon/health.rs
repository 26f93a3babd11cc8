//! The target check behind `/readyz`: every few seconds, whether the fixed
//! target accepts a connection and opens with an RFB banner, and with
//! `vnc-password-file` whether it takes the password (`rfb::probe`; a
//! refused password is not ready: every session would be refused).
//! Cached, so a load balancer polling often costs the target one connection
//! per interval, not one per poll. A target that answers but is not a VNC
//! server is ready (plain TCP targets are legitimate) unless `require-rfb`
//! is set, when every session to it would be refused. Token routes have no
//! single target and count as ready.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::access::Route;
use crate::config::Config;
use crate::metrics::health::{Health, TargetCheck};
use crate::session::rfb::probe::Probe;

/// How often the target is checked.
const INTERVAL: Duration = Duration::from_secs(5);

/// Checks the current config's target forever; logs each change of finding.
pub(super) async fn check_target(config: watch::Receiver<Arc<Config>>, health: Arc<Health>) {
    let mut tick = tokio::time::interval(INTERVAL);
    // A silent target holds a check for the connect timeout: no catching up.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let current = config.borrow().clone();
        let check = match &current.gate.route {
            Route::Fixed(dest) => {
                let limit = current.limits.connect_timeout;
                let tls = current.target_tls.as_ref();
                let probe = Probe::run(&dest.target, limit, tls, dest.vnc_password.as_ref()).await;
                judge(probe, current.rfb.require_rfb)
            }
            Route::Token { .. } | Route::PerUser => TargetCheck {
                ready: true,
                code: "per-session",
                said: "targets are chosen per session (tokens or users)".into(),
            },
        };
        let last = health.target();
        let changed = (last.ready, last.code) != (check.ready, check.code);
        health.set_target(check.clone());
        // Once per change of finding, not per check: the detail may vary
        // (timings, errors) while the state does not.
        if changed {
            let route = &current.gate.route;
            match check.ready {
                true => log::info!("target check ({route}): {}", check.said),
                false => log::warn!(
                    "target check ({route}): {}; /readyz says not ready: {}",
                    check.said,
                    check.code
                ),
            }
        }
    }
}

/// Whether `probe`'s finding is ready, its code, and the detail for the log.
fn judge(probe: Probe, require_rfb: bool) -> TargetCheck {
    let (ready, code, said) = match probe {
        Probe::Vnc(banner) => (true, "vnc", format!("target is a VNC server ({banner})")),
        Probe::LoggedIn(banner) => (
            true,
            "vnc-logged-in",
            format!("target is a VNC server ({banner}) and took the VNC password"),
        ),
        Probe::Refused(banner, why) => (
            false,
            "vnc-auth-failed",
            format!("target is a VNC server ({banner}) but did not let the proxy in: {why}"),
        ),
        Probe::NotVnc(why) if require_rfb => (
            false,
            "not-vnc",
            format!("target is not a VNC server ({why}) and require-rfb is set"),
        ),
        Probe::NotVnc(why) => (
            true,
            "not-vnc",
            format!("target answers, but is not a VNC server ({why})"),
        ),
        Probe::Down(why) => (
            false,
            "target-down",
            format!("target not answering ({why})"),
        ),
    };
    TargetCheck { ready, code, said }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_vnc_is_ready_unless_required() {
        let not_vnc = || Probe::NotVnc("it said nothing for 1s".into());
        assert!(judge(not_vnc(), false).ready);
        assert!(!judge(not_vnc(), true).ready);
        assert!(judge(Probe::Vnc("RFB 003.008".into()), true).ready);
        assert!(!judge(Probe::Down("refused".into()), false).ready);
        let refused = Probe::Refused("RFB 003.008".into(), "wrong".into());
        assert!(!judge(refused, false).ready);
        let refused = Probe::Refused("RFB 003.008".into(), "wrong".into());
        assert_eq!(judge(refused, false).code, "vnc-auth-failed");
        assert_eq!(judge(not_vnc(), true).code, "not-vnc");
    }
}
