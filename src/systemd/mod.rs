//! Living under systemd: readiness and status (`notify`), the journal with
//! structured fields (`logging`), each line kept one line of plain text
//! (`escape`), and the generator that turns `/etc/websockify/NAME.conf`
//! into socket units (`generator`).

mod escape;
pub mod generator;
mod log_queue;
pub mod logging;
pub mod notify;
