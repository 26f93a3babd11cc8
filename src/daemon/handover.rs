//! The live hand-over (SIGUSR2): the daemon re-executes its binary in place,
//! same PID, and the new program goes on with every live plain session.
//!
//! Why an in-place re-exec rather than systemd's file descriptor store: it
//! works the same under systemd, under socket activation and by hand; the
//! PID stays, so `Type=notify` sees `RELOADING=1` then `READY=1` from the
//! same main process and `LISTEN_PID` stays true; and nothing is closed in
//! between, so new clients wait in the listening sockets' backlogs (never
//! refused) and live ones see a pause, not a close frame.
//!
//! The old program stops accepting (keeping the listeners open), pauses
//! every session at a clean point (`session::resume`), writes the state
//! (listeners, sessions with their sockets and decoder positions, the last
//! session id) as JSON into a sealed memfd, clears close-on-exec on exactly
//! the descriptors handed over, and `execve`s the binary by path: the path
//! of `current_exe()` without the kernel's " (deleted)" suffix, so that after
//! a package upgrade the new binary starts, not the old deleted inode that
//! /proc/self/exe names. Same arguments and environment, plus
//! [`FD_VAR`] naming the memfd. If the exec fails, this process resumes
//! everything itself and logs why: nothing is lost.

use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, SealFlag};
use serde::{Deserialize, Serialize};

use crate::listen::{Listener, OpenSocket};
use crate::session::resume::Moved;
use crate::systemd::notify;

/// The environment variable naming the state's memfd in the new program.
pub(super) const FD_VAR: &str = "WEBSOCKIFY_HANDOVER_FD";

/// What the old program hands the new one.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    /// The listening sockets, still open, with the backlog of new clients.
    listeners: Vec<Passed>,
    /// The live sessions.
    pub(super) sessions: Vec<Moved>,
    /// The largest session id given so far: new ones are numbered above.
    pub(super) last_id: u64,
}

/// A listening socket handed over.
#[derive(Debug, Serialize, Deserialize)]
struct Passed {
    fd: RawFd,
    unix: bool,
    /// Where it first came from, for the start-up log line.
    origin: String,
}

impl State {
    /// The state of this process: its listeners (with `origins`, in order)
    /// and the parked sessions.
    pub(super) fn new(
        listeners: &[Listener],
        origins: &[String],
        sessions: Vec<Moved>,
        last_id: u64,
    ) -> State {
        let listeners = listeners.iter().zip(origins);
        let listeners = listeners.map(|(l, origin)| match l {
            Listener::Tcp(t) => Passed {
                fd: t.as_raw_fd(),
                unix: false,
                origin: origin.clone(),
            },
            Listener::Unix(u) => Passed {
                fd: u.as_raw_fd(),
                unix: true,
                origin: origin.clone(),
            },
        });
        State {
            listeners: listeners.collect(),
            sessions,
            last_id,
        }
    }

    /// Every descriptor the new program needs.
    fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        let sessions = self
            .sessions
            .iter()
            .flat_map(|s| [s.client_fd.0, s.target_fd.0]);
        self.listeners.iter().map(|l| l.fd).chain(sessions)
    }

    /// The listening sockets, taken (for the start: nothing is bound again).
    #[allow(unsafe_code)]
    pub(super) fn take_sockets(&mut self) -> Vec<OpenSocket> {
        let origin = |o: &str| match o {
            "" => "handed over".to_owned(),
            o => format!("{o}, handed over"),
        };
        std::mem::take(&mut self.listeners)
            .into_iter()
            .map(|p| {
                // SAFETY: the old program handed this listener to us, once.
                let fd = unsafe { OwnedFd::from_raw_fd(p.fd) };
                let _ = set_cloexec(p.fd, true);
                match p.unix {
                    true => OpenSocket::unix(fd.into(), origin(&p.origin)),
                    false => OpenSocket::tcp(fd.into(), origin(&p.origin)),
                }
            })
            .collect()
    }
}

/// In the new program, before any thread exists (it edits the
/// environment): the state the old one left, if it left one.
#[allow(unsafe_code)]
pub(super) fn take() -> Result<Option<State>> {
    let Some(var) = std::env::var_os(FD_VAR) else {
        return Ok(None);
    };
    std::env::remove_var(FD_VAR);
    let fd: RawFd = var
        .to_str()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{FD_VAR} is not a descriptor"))?;
    // SAFETY: the old program put this memfd here for us, and named it once.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut json = String::new();
    file.read_to_string(&mut json)
        .context("reading the hand-over state")?;
    let state: State = serde_json::from_str(&json).context("the hand-over state")?;
    for fd in state.fds() {
        set_cloexec(fd, true)?;
    }
    Ok(Some(state))
}

/// Writes `state`, then execs the binary; returns only when that failed,
/// with why (close-on-exec is back on every descriptor, so this process
/// can go on with them).
pub(super) fn exec(state: &State) -> anyhow::Error {
    notify::reloading();
    let memfd = match write(state) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let result = state.fds().try_for_each(|fd| set_cloexec(fd, false));
    let error = match result.and_then(|()| binary()) {
        Ok(path) => {
            let mut args = std::env::args_os();
            let arg0 = args.next().unwrap_or_else(|| path.clone().into_os_string());
            let mut command = std::process::Command::new(&path);
            command.arg0(arg0).args(args);
            command.env(FD_VAR, memfd.as_raw_fd().to_string());
            log::info!("hand-over: executing {}", path.display());
            // The queued lines are written before the exec, not lost with it.
            crate::systemd::logging::write_in_foreground();
            let e = command.exec();
            crate::systemd::logging::write_in_background();
            anyhow::Error::new(e).context(format!("cannot execute {}", path.display()))
        }
        Err(e) => e,
    };
    for fd in state.fds() {
        let _ = set_cloexec(fd, true);
    }
    error
}

/// The state as JSON in a sealed memfd, left open across exec.
fn write(state: &State) -> Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd =
        memfd_create("websockify-handover", MFdFlags::MFD_ALLOW_SEALING).context("memfd_create")?;
    let mut file = std::fs::File::from(fd);
    serde_json::to_writer(&mut file, state).context("writing the hand-over state")?;
    file.flush()?;
    file.rewind()?;
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_SEAL;
    fcntl(file.as_fd(), FcntlArg::F_ADD_SEALS(seals)).context("sealing the hand-over state")?;
    Ok(file.into())
}

/// The binary to execute: the path this one was started from, which after
/// a package upgrade holds the new program (the kernel adds " (deleted)" to
/// the old inode's name).
fn binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let shown = exe.to_string_lossy();
    Ok(match shown.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

#[allow(unsafe_code)]
fn set_cloexec(fd: RawFd, on: bool) -> Result<()> {
    // SAFETY: `fd` is one of the state's descriptors, open in this process.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(borrowed, FcntlArg::F_SETFD(flags))
        .with_context(|| format!("fcntl on descriptor {fd}"))?;
    Ok(())
}
