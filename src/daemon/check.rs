//! What `--check` says about a fixed target beyond the settings: whether it
//! answers, and as a VNC server. Only warnings: the target may be down while
//! the conf is checked, and a non-VNC target is allowed (without
//! `require-rfb` any TCP service is relayed).

use crate::access::Route;
use crate::config::Config;
use crate::session::{rfb, target};

/// A warning about the fixed target, if it does not answer as a VNC server
/// within the connect timeout; `None` when it does, or sessions choose it.
pub(super) fn target_warning(config: &Config) -> Option<String> {
    let Route::Fixed(t) = &config.gate.route else {
        return None;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Some(format!("cannot check target {t}: {e}")),
    };
    let limit = config.limits.connect_timeout;
    runtime.block_on(async {
        let mut stream = match target::connect(t, limit, config.target_tls.as_ref()).await {
            Ok(s) => s,
            Err(e) => return Some(format!("target {t} does not answer: {e}")),
        };
        match rfb::banner::read(&mut stream, limit).await {
            Ok(_) => None,
            Err(e) => Some(format!("target {t} answers, but is {e}")),
        }
    })
}
