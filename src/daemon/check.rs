//! What `--check` says beyond the settings, which were valid to get here:
//! whether a fixed target answers, as a VNC server, and takes
//! `vnc-password-file`'s password, and whether the `listen` ports can be
//! bound now. Only warnings: the target may be down while the conf is
//! checked, a non-VNC target is allowed (without `require-rfb` any TCP
//! service is relayed), and the port may be held by this very instance (its
//! running service, or its socket unit). The verdict comes last and says
//! whether there were warnings, so that it never reads "OK" above one.

use std::process::ExitCode;

use crate::access::Route;
use crate::config::{Config, Settings};
use crate::listen;
use crate::session::rfb::probe::Probe;

/// Prints the warnings (standard error), then the verdict (standard output):
/// `WHAT: OK (target T)`, or `WHAT: settings valid, N warnings above (target
/// T)`. The exit status is 0 either way: nothing is wrong with the settings.
pub(super) fn report(settings: &Settings, what: &str) -> ExitCode {
    let mut warnings = super::sockets::metrics_warnings(settings);
    warnings.extend(listen_warnings(settings));
    warnings.extend(target_warning(&settings.config));
    for warning in &warnings {
        eprintln!("websockify: warning: {warning}");
    }
    let route = &settings.config.gate.route;
    match warnings.len() {
        0 => println!("{what}: OK (target {route})"),
        1 => println!("{what}: settings valid, 1 warning above (target {route})"),
        n => println!("{what}: settings valid, {n} warnings above (target {route})"),
    }
    ExitCode::SUCCESS
}

/// A warning for each `listen` address that cannot be bound now (in use,
/// or a port below 1024 without the capability), bound and closed at once.
fn listen_warnings(settings: &Settings) -> Vec<String> {
    if settings.inetd {
        return Vec::new();
    }
    (settings.listen.iter())
        .filter_map(|addr| listen::bind(addr).err().map(|e| (addr, e)))
        .map(|(addr, e)| {
            format!(
                "listen {addr}: {e:#}: if this instance holds it (running, or through \
                 its socket unit websockify@NAME.socket), that is expected; otherwise \
                 websockify will not start"
            )
        })
        .collect()
}

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
    let hint = || t.display_hint().map_or(String::new(), |h| format!("; {h}"));
    match probe {
        Probe::Vnc(_) | Probe::LoggedIn(_) => None,
        Probe::Refused(banner, why) => Some(format!(
            "target {t} is a VNC server ({banner}) but did not let the proxy in: {why}"
        )),
        Probe::NotVnc(why) => Some(format!(
            "target {t} answers, but is not a VNC server: {why}{}{}",
            if config.rfb.require_rfb {
                " (require-rfb is set: every session will be refused)"
            } else {
                ""
            },
            hint()
        )),
        Probe::Down(why) => Some(format!("target {t} does not answer: {why}{}", hint())),
    }
}
