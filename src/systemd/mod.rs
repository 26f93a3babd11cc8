//! Living under systemd: readiness and status (`notify`), the journal with
//! structured fields (`logging`), and the generator that turns
//! `/etc/websockify/NAME.conf` into socket units (`generator`).

pub mod generator;
mod log_queue;
pub mod logging;
pub mod notify;
