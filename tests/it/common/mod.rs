//! Shared test harness, a module per concern: the real `websockify` binary
//! as a process ([`proxy`]), TCP targets ([`targets`]), WebSocket clients
//! through a library ([`ws`]) and on raw sockets ([`raw_ws`]), TLS
//! ([`tls`]), plain HTTP ([`http`]), systemd's notify socket ([`notify`]),
//! free ports ([`ports`]), temp dirs ([`files`]) and checkable data
//! ([`data`]); then the real servers some topics need (`x11vnc`,
//! `token_servers`, `pebble`, the front ends `apache` and `caddy` on
//! `front_end`) and their clients (`rfb`, `wss`, `ctl_status`), and a
//! fake OpenID provider for the ID tokens no real one sends (`fake_idp`).
//! The everyday items are re-exported here, so a test says `use common::*`.
//!
//! # Blocking in async tests
//!
//! The harness waits synchronously (`Proxy::start`, `next_line`,
//! `wait_for_log`, `wait_exit`, `run_to_exit`), and tests read datagram
//! sockets and run short commands synchronously too. On Tokio's default
//! current-thread test runtime any such wait also stops the test's own
//! tasks (echo targets, writers, token APIs), so a test could stall on a
//! condition only those tasks can bring about. Hence the rule:
//!
//! - every async test here is `#[tokio::test(flavor = "multi_thread")]`:
//!   its body runs on the `block_on` thread, not on a worker, so it may
//!   block while the workers run its tasks;
//! - a blocking wait inside a spawned task goes through [`blocking`]
//!   (`block_in_place`), or `spawn_blocking`;
//! - the harness's own waits go through [`blocking`], which panics on a
//!   current-thread runtime: a test that forgets the flavor fails at once,
//!   naming the fix, instead of stalling now and then.

pub mod apache;
pub mod auth_service;
pub mod caddy;
pub mod ctl;
pub mod ctl_status;
pub mod data;
pub mod fake_idp;
pub mod fake_vnc;
pub mod files;
pub mod front_end;
pub mod http;
pub mod nginx;
pub mod notify;
pub mod pebble;
pub mod ports;
pub mod proxy;
pub mod raw_ws;
pub mod rfb;
pub mod targets;
pub mod tls;
pub mod token_servers;
pub mod ws;
pub mod wss;
pub mod x11vnc;

pub use data::*;
pub use files::TempDir;
pub use ports::free_port;
pub use proxy::*;
pub use raw_ws::*;
pub use targets::*;
pub use tls::*;
pub use ws::*;

use std::time::Duration;

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(30);

/// Runs the blocking `wait` without stalling the Tokio runtime this thread
/// belongs to (see the module docs): through `block_in_place` on a
/// multi-thread runtime, directly outside any runtime, and never on a
/// current-thread runtime, where it would stop the test's own tasks.
pub fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => wait(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        Ok(flavor) => panic!(
            "a blocking test helper on a {flavor:?} Tokio runtime would stop the test's \
             own tasks: use #[tokio::test(flavor = \"multi_thread\")] (tests/it/common/mod.rs)"
        ),
    }
}
