//! One WebSocket session: after the 101, connect the target (`target`), check
//! or authenticate it as a VNC server when asked (`rfb`), pump bytes both
//! ways (`relay`), observe them (`record`), and log the result.
//! The live count (`count`) and the shared context (`context`) live here too,
//! because the session is the lowest layer that needs them.

pub mod codec;
mod context;
mod count;
mod no_shutdown;
pub mod plain;
pub mod record;
pub mod relay;
pub mod resume;
pub mod rfb;
pub mod table;
pub mod target;

use std::sync::Arc;
use std::time::Instant;

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;

pub use codec::Mode;
pub use context::{ConnCtx, Shared};
pub use count::SessionCount;

use crate::access::Grant;
use crate::addr::Target;
use crate::config::Config;
use crate::defaults::CLOSE_TIMEOUT;
use crate::metrics::Metrics;
use count::LiveSession;
use record::Recorder;
use target::TargetStream;

/// Runs a session once its 101 is out, until both sides have closed.
///
/// The target connect starts at once, beside the write of the 101, rather
/// than after it: setting up a session then waits for one loopback round trip
/// less, which `scripts/bench` counts in connections/s. A client whose
/// upgrade fails only costs a target connection that is closed at once.
///
/// `unwrap` takes a plain TCP client out of `Upgraded`, for the splice path.
pub async fn start(
    on_upgrade: OnUpgrade,
    grant: Grant,
    mode: Mode,
    ctx: ConnCtx,
    unwrap: plain::Unwrap,
) {
    let started = Instant::now();
    let (upgraded, connected) = tokio::join!(on_upgrade, connect(&grant.dest.target, &ctx));
    match upgraded {
        Ok(upgraded) => {
            let client = (upgraded, unwrap);
            run(client, connected, grant, mode, ctx, started).await;
        }
        Err(e) => log::info!("{}: upgrade failed: {e}", grant.client),
    }
}

/// The session on its upgraded connection, `connected` the target connect's
/// result. The VNC password answered is the destination's own (the fixed
/// target's `vnc-password-file`, the token's or the user's), never another
/// target's.
async fn run(
    (upgraded, unwrap): (Upgraded, plain::Unwrap),
    connected: std::io::Result<TargetStream>,
    grant: Grant,
    mode: Mode,
    ctx: ConnCtx,
    started: Instant,
) {
    let Grant { client, user, dest } = grant;
    let (target, vnc_password) = (dest.target, dest.vnc_password);
    let ConnCtx {
        config,
        mut shutdown,
        sessions,
        shared,
        client_fd,
        ..
    } = ctx;
    let metrics = &shared.metrics;
    let _live = LiveSession::new(&sessions, metrics);
    let mut io = TokioIo::new(upgraded);
    let mut stream = match connected {
        Ok(stream) => stream,
        Err(e) => {
            unreachable_target(&mut io, &client, &target, e).await;
            return closed_early(metrics, 1011, started);
        }
    };
    let (policy, timeouts) = (config.rfb.for_session(vnc_password), rfb_timeouts(&config));
    let shown = match rfb::prepare(&mut io, &mut stream, &policy, mode, timeouts).await {
        Ok(shown) => shown,
        Err(r) => {
            let code = refuse(&mut io, &client, &target, r).await;
            return closed_early(metrics, code, started);
        }
    };
    let (client_s, target_s) = (client.as_str(), target.to_string());
    let live = shared.table.register(client_s, user.clone(), &target_s);
    let who = Who {
        client: client_s,
        user: user.as_deref().unwrap_or("-"),
        target: &target_s,
        id: live.id(),
    };
    who.log_open(mode);
    let mut observe = observer(&config, &who, user.as_deref(), metrics, &shown).await;
    let sockets = movable(&observe).and_then(|()| resume::Sockets::of(client_fd, &stream));
    let params = relay_params(&config, mode, sockets.map(|s| [s.client.0, s.target.0]));
    let client = (io, unwrap, &shared.pipes);
    let out = relay_on(client, stream, params, &mut shutdown, (&observe, &live)).await;
    let Some(out) = resume::park(&shared, (&who, mode, started), sockets, &live, out) else {
        return; // moved on to the next program
    };
    // Out of the live list before the log says closed: `websockifyctl
    // sessions` after that line never shows it.
    drop(live);
    let end = who.record_end(user.clone(), &out);
    finish(&mut observe, end).await; // before the session is reported closed
    report_closed(metrics, &who, &out, started.elapsed().as_secs_f64());
}

/// Runs the relay. Target to client goes by splice when nothing needs its
/// bytes and both sockets are plain (`relay::splice`); else each reason to
/// copy is said at debug level.
async fn relay_on(
    (io, unwrap, pipes): (TokioIo<Upgraded>, plain::Unwrap, &Arc<relay::Pipes>),
    stream: TargetStream,
    mut params: relay::RelayParams,
    shutdown: &mut crate::shutdown::Shutdown,
    (observe, live): (&relay::Observer, &table::Registration),
) -> relay::Outcome {
    let io = match copy_reason(params.mode, &stream, observe) {
        Some(why) => {
            log::debug!("target->client by copy: {why}");
            io
        }
        None => {
            match unwrap(io.into_inner()) {
                Ok((tcp, head)) => {
                    params.splice = Some(pipes.clone());
                    let client = plain::split(tcp, head);
                    let shown = (observe, live);
                    return relay::run(client, stream, params, shutdown, shown, None).await;
                }
                Err(upgraded) => {
                    log::debug!("target->client by copy: the client is not plain TCP (TLS or a unix socket)");
                    TokioIo::new(upgraded)
                }
            }
        }
    };
    let client = tokio::io::split(io);
    relay::run(client, stream, params, shutdown, (observe, live), None).await
}

/// Why target-to-client bytes must go through user space, if they must:
/// something reads or changes them, or the target is TLS.
fn copy_reason(
    mode: Mode,
    target: &TargetStream,
    observe: &relay::Observer,
) -> Option<&'static str> {
    if mode == Mode::Base64 {
        Some("base64 mode")
    } else if observe.traffic {
        Some("--traffic shows each frame")
    } else if observe.recorder.is_some() {
        Some("the session is recorded")
    } else if matches!(target, TargetStream::Tls(_)) {
        Some("TLS to the target (--ssl-target)")
    } else {
        None
    }
}

/// How long the RFB steps before the relay may wait on each side.
fn rfb_timeouts(config: &Config) -> rfb::Timeouts {
    rfb::Timeouts {
        target: config.limits.connect_timeout,
        client: config.limits.handshake_timeout,
    }
}

/// What the relay runs with, from the settings in force; `movable` are the
/// sockets that move at a hand-over, or why the session cannot.
fn relay_params(
    config: &Config,
    mode: Mode,
    movable: Result<[std::os::fd::RawFd; 2], &'static str>,
) -> relay::RelayParams {
    relay::RelayParams {
        mode,
        heartbeat: config.heartbeat,
        max_message: config.limits.max_message_size,
        splice: None,
        movable,
    }
}

/// What the session shows of itself (`--traffic`, recording), with `shown`,
/// what the proxy sent the client before the relay, recorded already.
async fn observer(
    config: &Config,
    who: &Who<'_>,
    user: Option<&str>,
    metrics: &Arc<Metrics>,
    shown: &[u8],
) -> relay::Observer {
    let observe = relay::Observer {
        traffic: config.traffic,
        recorder: recorder(config, who, user, metrics).await,
    };
    observe.shown(shown);
    observe
}

/// Recording and `--traffic` write from this process: such a session
/// closes (1012) at a hand-over rather than lose what it shows.
fn movable(observe: &relay::Observer) -> Result<(), &'static str> {
    match observe.traffic || observe.recorder.is_some() {
        true => Err("recording and --traffic do not move to a new process"),
        false => Ok(()),
    }
}

/// A session that ended before its relay started: counted as closed.
fn closed_early(metrics: &Metrics, code: u16, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    metrics.session_closed(0, 0, code, secs);
}

/// Who a session is, for its log lines and journal fields.
struct Who<'a> {
    client: &'a str,
    /// The user, or `-` when the session has none.
    user: &'a str,
    target: &'a str,
    id: u64,
}

impl Who<'_> {
    /// The session-open line, with the journal fields.
    fn log_open(&self, mode: Mode) {
        let (client, target, mode_name) = (self.client, self.target, mode.name());
        log::info!(
            client = client, user = self.user, session_id = self.id, target = target,
            target_addr = target, mode = mode_name;
            "{client}: session open to {target} ({mode_name} frames): session {}, {}",
            self.id, self.named()
        );
    }

    /// The recording's index entry for a session that ended with `out`.
    fn record_end(&self, user: Option<String>, out: &relay::Outcome) -> record::End {
        record::End {
            user,
            client: self.client.to_owned(),
            target: self.target.to_owned(),
            session_id: self.id,
            to_target: out.to_target,
            to_client: out.to_client,
            code: out.code,
        }
    }

    /// "user NAME" or "no user", for messages.
    fn named(&self) -> String {
        match self.user {
            "-" => "no user".into(),
            user => format!("user {}", crate::access::users::shown(user)),
        }
    }
}

/// Counts and logs a session that ran: the audit line, with who, from
/// where, to what, what it carried, how long and how it ended.
fn report_closed(metrics: &Metrics, who: &Who<'_>, out: &relay::Outcome, secs: f64) {
    metrics.session_closed(out.to_target, out.to_client, out.code, secs);
    let (client, target) = (who.client, who.target);
    log::info!(
        client = client, user = who.user, session_id = who.id, target = target, target_addr = target,
        bytes_to_target = out.to_target, bytes_to_client = out.to_client,
        duration_s = format!("{secs:.1}").as_str(), close_code = out.code, close_reason = out.reason.as_str();
        "{client}: session closed: target {target}, {} bytes to target, {} bytes to client, {secs:.1} s, close {} ({}): session {}, {}",
        out.to_target,
        out.to_client,
        out.code,
        out.reason,
        who.id,
        who.named(),
    );
}

/// Connects the target, counting the outcome in the metrics.
async fn connect(target: &Target, ctx: &ConnCtx) -> std::io::Result<TargetStream> {
    let (config, metrics) = (&ctx.config, &ctx.shared.metrics);
    let timeout = config.limits.connect_timeout;
    let started = Instant::now();
    let connected = target::connect(target, timeout, config.target_tls.as_ref()).await;
    match &connected {
        Ok(_) => metrics.target_connected(started.elapsed().as_secs_f64()),
        Err(e) => metrics.target_failed(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "refused",
            std::io::ErrorKind::TimedOut => "timeout",
            _ => "other",
        }),
    }
    connected
}

/// Tells the client 1011 when its target could not be reached, and logs why.
async fn unreachable_target(
    io: &mut TokioIo<Upgraded>,
    client: &str,
    target: &Target,
    e: std::io::Error,
) {
    log::warn!(
        client = client, target_addr = target.to_string().as_str(), close_code = 1011;
        "{client}: session refused: target {target}: {e}; sent close 1011"
    );
    let mut writer = relay::ClientWriter::new(io);
    let reason = "Failed to connect to downstream server";
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer.close(Some(1011), reason)).await;
}

/// Ends a session the RFB step refused: logs why, sends its close frame;
/// the close code, for the metrics (1006 when the client was gone).
async fn refuse(
    io: &mut TokioIo<Upgraded>,
    client: &str,
    target: &Target,
    r: rfb::HandshakeRefusal,
) -> u16 {
    let code = r.close.as_ref().map_or(1006, |(code, _)| *code);
    log::warn!(
        client = client, target_addr = target.to_string().as_str(), close_code = code;
        "{client}: session refused: target {target}: {}; close {code}", r.log
    );
    if let Some((code, reason)) = r.close {
        let mut writer = relay::ClientWriter::new(io);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer.close(Some(code), &reason)).await;
    }
    code
}

/// The recording of this session, if recording is on and it opens:
/// `record-sessions` (in `record-dir`, with an index line), else `--record`.
/// It starts here, after `rfb::prepare`: with `vnc-password-file` the
/// proxy's own VNC authentication (the DES challenge and response) is over
/// and never recorded.
async fn recorder(
    config: &Config,
    who: &Who<'_>,
    user: Option<&str>,
    metrics: &Arc<Metrics>,
) -> Option<std::sync::Mutex<Recorder>> {
    let limit = config.record_max_size;
    let (opened, shown) = match (&config.recordings, &config.record) {
        (Some(rec), _) => (
            Recorder::open_session(rec, limit, who.id, user, metrics.clone()).await,
            rec.dir.display().to_string(),
        ),
        (None, Some(base)) => (
            Recorder::open(base, limit, metrics.clone()).await,
            format!("{}.N", base.display()),
        ),
        (None, None) => return None,
    };
    match opened {
        Ok(r) => {
            log::debug!("{}: recording to {}", who.client, r.path().display());
            Some(std::sync::Mutex::new(r))
        }
        Err(e) => {
            log::warn!(
                "{}: cannot record to {shown}: {e}; the session goes on unrecorded",
                who.client
            );
            metrics.recording_failed();
            None
        }
    }
}

/// Completes what the session showed: its recording is whole on disk and its
/// `--traffic` symbols are on standard output.
async fn finish(observe: &mut relay::Observer, end: record::End) {
    if let Some(r) = observe.recorder.take() {
        r.into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .close(Some(end))
            .await;
    }
    if observe.traffic {
        record::traffic_flushed().await;
    }
}
