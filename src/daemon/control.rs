//! The control socket (`control-socket`, under the unit
//! `/run/websockify/NAME/control.sock`, mode 0660: root and group websockify only):
//! one command per line, one answer. `sessions` lists the live sessions as
//! JSON, `kill ID` closes one with 1008 and a log line, `drain` starts the
//! same drain as SIGTERM, `reload` reloads as SIGHUP does and answers once
//! it is done, `ok: ...` or `error: WHY` (`ExecReload=` of the unit runs
//! `websockifyctl reload`, so `systemctl reload` fails when it fails).
//! `websockifyctl` speaks it. A connection is closed after
//! [`IDLE_TIMEOUT`] without a complete command line.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::timeout;

use super::reload::Reloader;
use crate::listen::{Incoming, OpenSocket, Stream};
use crate::session::table::Table;

/// Longest command line read; anything longer is refused.
const MAX_LINE: usize = 256;
/// Most bytes read from one connection, all commands together.
const MAX_INPUT: u64 = 64 * 1024;
/// A connection that sends no complete command line for this long is
/// closed (`websockifyctl` sends its command at once).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the socket (replacing a stale one) with mode 0660, before the
/// process detaches, so an error reaches the terminal.
pub(super) fn bind(path: &Path) -> Result<OpenSocket> {
    crate::listen::bind_unix(path, 0o660).context("control-socket")
}

/// Answers commands until the process ends.
/// What commands act on: reloads and the live sessions.
type Handles = (Reloader, Arc<Table>);

/// Answers commands until the process ends.
pub(super) fn start(socket: OpenSocket, reloader: Reloader, table: Arc<Table>) -> Result<()> {
    let listener = socket.into_listener()?;
    log::info!("control socket on {listener}");
    let incoming = listener.incoming("control socket");
    tokio::spawn(serve(incoming, (reloader, table)));
    Ok(())
}

async fn serve(mut incoming: Incoming, handles: Handles) {
    loop {
        let (stream, _) = incoming.next().await;
        tokio::spawn(client(stream, handles.clone()));
    }
}

/// Answers a client's lines until it closes, goes past [`MAX_INPUT`] bytes,
/// or lets [`IDLE_TIMEOUT`] pass without a complete line.
async fn client(stream: Stream, handles: Handles) {
    let (r, mut w) = tokio::io::split(stream);
    let mut lines = BufReader::new(r.take(MAX_INPUT)).lines();
    loop {
        let line = match timeout(IDLE_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => return,
            Err(_) => {
                log::debug!("control socket: no command for {IDLE_TIMEOUT:?}; closed");
                return;
            }
        };
        let answer = answer(line.trim(), &handles).await;
        if w.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The answer to one command, ending in a newline.
async fn answer(line: &str, (reloader, table): &Handles) -> String {
    if line.len() > MAX_LINE {
        return "error: command too long\n".into();
    }
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("sessions"), None, _) => match serde_json::to_string(&table.list()) {
            Ok(json) => json + "\n",
            Err(e) => format!("error: {e}\n"),
        },
        (Some("kill"), Some(id), None) => match id.parse() {
            Ok(id) if table.kill(id) => {
                log::info!("control socket: closing session {id} (1008)");
                "ok\n".into()
            }
            Ok(id) => format!("error: no session {id}\n"),
            Err(_) => format!("error: {id:?} is not a session number\n"),
        },
        (Some("kill-user"), Some(user), None) => match table.kill_user(user) {
            0 => format!("error: {user} has no session\n"),
            n => {
                log::info!("control socket: closing the {n} sessions of {user:?} (1008)");
                format!("ok: {n}\n")
            }
        },
        (Some("drain"), None, _) => {
            match nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM) {
                Ok(()) => "ok\n".into(),
                Err(e) => format!("error: {e}\n"),
            }
        }
        (Some("reload"), None, _) => match reloader.reload().await {
            Ok(done) => format!("ok: {done}\n"),
            Err(why) => format!("error: {why}\n"),
        },
        _ => "error: commands are: sessions, kill ID, kill-user USER, drain, reload\n".into(),
    }
}
