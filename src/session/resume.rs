//! A session across a hand-over (SIGUSR2, `daemon::handover`): paused at a
//! clean point, it is `park`ed with its two sockets (duplicated, so closing
//! the old task's streams sends nothing) and what the relay knew
//! ([`relay::Paused`]); the new process (or this one, when the exec failed)
//! `resume`s it under the same id, user, start time and byte counts. The
//! client sees no close frame, only a pause.

use std::os::fd::{AsRawFd as _, FromRawFd as _, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::either::Either;

use super::count::LiveSession;
use super::relay::{self, Paused};

use super::table::{Known, Registration};
use super::target::TargetStream;
use super::{ConnCtx, Mode, Shared, Who};

/// One session on its way to the new process.
#[derive(Debug, Serialize, Deserialize)]
pub struct Moved {
    /// The session's number (the control socket's and the log's).
    pub id: u64,
    client: String,
    user: Option<String>,
    target: String,
    /// When the session opened, in milliseconds since the epoch.
    started_ms: u64,
    /// Payload bytes to the target and to the client so far.
    bytes: (u64, u64),
    mode: Mode,
    /// The client's socket, and whether it is a unix one.
    pub client_fd: (RawFd, bool),
    /// The target's socket, and whether it is a unix one.
    pub target_fd: (RawFd, bool),
    paused: Paused,
}

/// Sessions paused for a hand-over, until the daemon takes them.
#[derive(Debug, Default)]
pub struct Parked(Mutex<Vec<Moved>>);

impl Parked {
    /// Every session parked so far, taken.
    pub fn take(&self) -> Vec<Moved> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// How many are parked.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, moved: Moved) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(moved);
    }
}

/// The raw sockets of a session that can move: client and target, each
/// with whether it is a unix socket.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sockets {
    pub(super) client: (RawFd, bool),
    pub(super) target: (RawFd, bool),
}

impl Sockets {
    /// The sockets of a session whose client is `client` (`None` over TLS;
    /// with whether it is a unix socket) and whose target is `target`;
    /// `Err` says why it cannot move.
    pub(super) fn of(
        client: Option<(RawFd, bool)>,
        target: &TargetStream,
    ) -> Result<Sockets, &'static str> {
        let client = client.ok_or("a wss:// client's TLS state cannot move to a new process")?;
        let target = match target {
            TargetStream::Tcp(s) => (s.as_raw_fd(), false),
            TargetStream::Unix(s) => (s.as_raw_fd(), true),
            TargetStream::Tls(_) => Err("an --ssl-target session's TLS state cannot move")?,
        };
        Ok(Sockets { client, target })
    }
}

/// Parks a session the relay paused: its kept sockets (close-on-exec until
/// the daemon clears it on the ones it hands over) and its state; the
/// outcome back when it ended instead.
pub(super) fn park(
    shared: &Shared,
    (who, mode, started): (&Who<'_>, Mode, Instant),
    sockets: Result<Sockets, &'static str>,
    live: &Registration,
    mut out: relay::Outcome,
) -> Option<relay::Outcome> {
    let (Some(kept), Ok(sockets)) = (out.paused.take(), sockets) else {
        return Some(out);
    };
    let since = started.elapsed();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    let started_ms = now.unwrap_or_default().saturating_sub(since).as_millis();
    shared.parked.push(Moved {
        id: live.id(),
        client: who.client.to_owned(),
        user: (who.user != "-").then(|| who.user.to_owned()),
        target: who.target.to_owned(),
        started_ms: u64::try_from(started_ms).unwrap_or(u64::MAX),
        bytes: (out.to_target, out.to_client),
        mode,
        client_fd: (kept.fds[0], sockets.client.1),
        target_fd: (kept.fds[1], sockets.target.1),
        paused: kept.paused,
    });
    None
}

/// Goes on with a session another process handed over (or this one, after
/// a failed exec), until it ends or the next hand-over parks it again.
#[allow(unsafe_code)]
pub async fn resume(moved: Moved, ctx: ConnCtx) {
    let ConnCtx {
        config,
        mut shutdown,
        sessions,
        shared,
        ..
    } = ctx;
    let _live = LiveSession::new(&sessions, &shared.metrics);
    // SAFETY: the hand-over gave this process these descriptors, each once.
    let (client, target) = unsafe { (streams(moved.client_fd), target(moved.target_fd)) };
    let (client, target) = match (client, target) {
        (Ok(c), Ok(t)) => (c, t),
        (Err(e), _) | (_, Err(e)) => {
            return log::warn!("session {}: cannot resume: {e}", moved.id);
        }
    };
    let sockets = Sockets {
        client: moved.client_fd,
        target: moved.target_fd,
    };
    let started = started_at(moved.started_ms);
    let live = shared.table.register_known(Known {
        id: moved.id,
        client: &moved.client,
        user: moved.user.clone(),
        target: &moved.target,
        started,
        bytes: moved.bytes,
    });
    let who = Who {
        client: &moved.client,
        user: moved.user.as_deref().unwrap_or("-"),
        target: &moved.target,
        id: moved.id,
    };
    let params = super::relay_params(
        &config,
        moved.mode,
        Ok([sockets.client.0, sockets.target.0]),
    );
    let observe = relay::Observer::default();
    let (paused, shown) = (Some(moved.paused), (&observe, &live));
    let stops = (&mut shutdown, &shared.pipes);
    let out = relay_moved(client, target, params, stops, shown, paused).await;
    let whose = (&who, moved.mode, started);
    let Some(out) = park(&shared, whose, Ok(sockets), &live, out) else {
        return; // moved on to the next program
    };
    drop(live);
    super::report_closed(&shared.metrics, &who, &out, started.elapsed().as_secs_f64());
}

/// Runs the relay of a moved session. A plain TCP client in binary mode
/// may take the splice path again: a moved session has no recording or
/// `--traffic`, and its target is plain (a TLS target does not move).
async fn relay_moved(
    client: Either<TcpStream, UnixStream>,
    target: TargetStream,
    mut params: relay::RelayParams,
    (shutdown, pipes): (
        &mut crate::shutdown::Shutdown,
        &std::sync::Arc<relay::Pipes>,
    ),
    shown: (&relay::Observer, &Registration),
    paused: Option<Paused>,
) -> relay::Outcome {
    match client {
        Either::Left(tcp) if params.mode == Mode::Binary => {
            params.splice = Some(pipes.clone());
            let halves = super::plain::split(tcp, bytes::Bytes::new());
            relay::run(halves, target, params, shutdown, shown, paused).await
        }
        client => {
            let halves = tokio::io::split(client);
            relay::run(halves, target, params, shutdown, shown, paused).await
        }
    }
}

/// The monotonic instant of a wall-clock start in milliseconds since the epoch.
fn started_at(ms: u64) -> Instant {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    let ago = now
        .unwrap_or_default()
        .saturating_sub(Duration::from_millis(ms));
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

/// The client's stream from its descriptor.
///
/// # Safety
/// `fd` must be an open socket this process owns and uses nowhere else.
#[allow(unsafe_code)]
unsafe fn streams((fd, unix): (RawFd, bool)) -> std::io::Result<Either<TcpStream, UnixStream>> {
    Ok(if unix {
        let s = std::os::unix::net::UnixStream::from_raw_fd(fd);
        s.set_nonblocking(true)?;
        Either::Right(UnixStream::from_std(s)?)
    } else {
        let s = std::net::TcpStream::from_raw_fd(fd);
        s.set_nonblocking(true)?;
        Either::Left(TcpStream::from_std(s)?)
    })
}

/// The target's stream from its descriptor.
///
/// # Safety
/// As for [`streams`].
#[allow(unsafe_code)]
unsafe fn target(fd: (RawFd, bool)) -> std::io::Result<TargetStream> {
    Ok(match streams(fd)? {
        Either::Left(s) => TargetStream::Tcp(s),
        Either::Right(s) => TargetStream::Unix(s),
    })
}
