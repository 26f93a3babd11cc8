//! What `--check` says about a fixed target beyond the settings: whether it
//! answers, as a VNC server, and takes `vnc-password-file`'s password. Only
//! warnings: the target may be down while the conf is checked, and a
//! non-VNC target is allowed (without `require-rfb` any TCP service is
//! relayed).

use crate::access::Route;
use crate::config::Config;
use crate::session::rfb::probe::Probe;

/// A warning about the fixed target, if it does not answer as a VNC server
/// within the connect timeout; `None` when it does, or sessions choose it.
pub(super) fn target_warning(config: &Config) -> Option<String> {
    let Route::Fixed(dest) = &config.gate.route else {
        return None;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Some(format!("cannot check target {}: {e}", dest.target)),
    };
    let limit = config.limits.connect_timeout;
    let t = &dest.target;
    let (tls, password) = (config.target_tls.as_ref(), dest.vnc_password.as_ref());
    let probe = runtime.block_on(Probe::run(t, limit, tls, password));
    match probe {
        Probe::Vnc(_) | Probe::LoggedIn(_) => None,
        Probe::Refused(banner, why) => Some(format!(
            "target {t} is a VNC server ({banner}) but did not let the proxy in: {why}"
        )),
        Probe::NotVnc(why) => Some(format!(
            "target {t} answers, but is not a VNC server: {why}{}",
            if config.rfb.require_rfb {
                " (require-rfb is set: every session will be refused)"
            } else {
                ""
            }
        )),
        Probe::Down(why) => Some(format!("target {t} does not answer: {why}")),
    }
}
