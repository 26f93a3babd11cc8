//! Serving: listeners from the open sockets, readiness and status for
//! systemd, and the signals (SIGTERM, SIGINT, SIGHUP) and lifetime that stop
//! or reload the server.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use super::handover;
use super::lifetime::lifetime_over;
use super::reload::{self, Reload, Requests};
use super::web_note;
use crate::addr::ListenAddr;
use crate::config::{Config, Settings};
use crate::defaults::DRAIN_TIMEOUT;
use crate::listen::{Listener, OpenSocket};
use crate::metrics::endpoint;
use crate::metrics::health::Health;
use crate::metrics::Metrics;
use crate::server::{Server, Stop};
use crate::session::resume::Moved;
use crate::session::table::Table;
use crate::session::{SessionCount, Shared};
use crate::systemd::notify;

/// Serves until a signal or the lifetime stops the server; a hand-over
/// (SIGUSR2) execs the new program, or, when that fails, goes on here.
pub(super) async fn serve(
    settings: Settings,
    [sockets, metrics, control]: [Vec<OpenSocket>; 3],
    reload: Reload,
    handed: handover::State,
) -> Result<()> {
    // Before the first "listening on": a signal that arrives once we look
    // ready must find its handler, not the default action that kills us.
    let signals = Signals::install()?;
    crate::systemd::logging::write_in_background();
    let socket_activated = sockets.iter().any(|s| s.origin.contains("systemd"));
    let origins: Vec<String> = sockets.iter().map(|s| s.origin.clone()).collect();
    let listeners = listeners(sockets)?;
    if socket_activated && !settings.listen.is_empty() {
        log::info!("socket activation: the configured listen addresses are not bound");
    }
    let first = Arc::new(settings.config);
    log::info!("relaying to {}{}", first.gate.route, web_note(&first));
    log::info!("caps: {}", first.caps);
    let (config_tx, config_rx) = watch::channel(first);
    // Made once for the process: a reload keeps the counters, the
    // password failures and the live sessions.
    let shared = Shared::new();
    shared.table.continue_after(handed.last_id);
    let sessions = Arc::new(watch::channel(SessionCount::default()).0);
    let health = Arc::new(Health::default());
    start_metrics(metrics, (&health, &shared.metrics), config_rx.clone())?;
    let (reloader, reloads) = reload::channel();
    for socket in control {
        super::control::start(socket, reloader.clone(), shared.table.clone())?;
    }
    background(&config_rx, &sessions);
    let stop = Stopper {
        signals,
        sessions: sessions.subscribe(),
        reload,
        reloads,
        config: config_tx,
        listen: settings.listen,
        socket_activated,
        health,
        drain_delay: settings.drain_delay,
        table: shared.table.clone(),
    };
    let lifetime = lifetime_over(settings.lifetime, sessions.subscribe());
    let serving = Serving {
        config: config_rx,
        shared,
        sessions,
        grace: settings.shutdown_grace,
        origins,
    };
    serving
        .run(stop, lifetime, listeners, handed.sessions)
        .await;
    Ok(())
}

/// What each server of the process is made with: one, or one more after
/// each hand-over whose exec failed.
struct Serving {
    config: watch::Receiver<Arc<Config>>,
    shared: Shared,
    sessions: Arc<watch::Sender<SessionCount>>,
    grace: std::time::Duration,
    /// Where each listener came from, in order, for the new program's log.
    origins: Vec<String>,
}

impl Serving {
    /// Serves until stopped; at a hand-over, execs the new program, or, if
    /// that fails, serves again with the same listeners and sessions.
    async fn run(
        &self,
        mut stop: Stopper,
        lifetime: impl std::future::Future<Output = String>,
        mut listeners: Vec<Listener>,
        mut adopted: Vec<Moved>,
    ) {
        tokio::pin!(lifetime);
        let shared = &self.shared;
        loop {
            if !adopted.is_empty() {
                log::info!("hand-over: {} sessions go on", adopted.len());
            }
            let route = &self.config.borrow().gate.route.to_string();
            notify::ready(&notify::status_line(adopted.len(), route));
            let server = Server::new(listeners, self.config.clone(), shared.clone())
                .grace(self.grace)
                .counting(self.sessions.clone())
                .adopt(std::mem::take(&mut adopted));
            let how = stop.wait(lifetime.as_mut());
            let kept = server.run(notify_stop(how, self.grace)).await;
            if kept.is_empty() {
                return;
            }
            let moved = shared.parked.take();
            let state = handover::State::new(&kept, &self.origins, moved, shared.table.last_id());
            let e = handover::exec(&state);
            let n = state.sessions.len();
            log::error!("hand-over failed: {e:#}; this program goes on with its {n} sessions");
            shared.table.pause_all(false);
            (listeners, adopted) = (kept, state.sessions);
        }
    }
}

/// The stop, told to systemd: `STOPPING=1`, or for a hand-over nothing yet
/// (`handover::exec` says `RELOADING=1`).
async fn notify_stop(
    how: impl std::future::Future<Output = Stop>,
    grace: std::time::Duration,
) -> Stop {
    let how = how.await;
    if how != Stop::HandOver {
        notify::stopping(grace + DRAIN_TIMEOUT);
    }
    how
}

/// The daemon's background tasks: the certificate kept current, the
/// watchdog, the session count in `STATUS=`.
fn background(config: &watch::Receiver<Arc<Config>>, sessions: &watch::Sender<SessionCount>) {
    tokio::spawn(super::certs::keep_current(config.clone()));
    tokio::spawn(notify::watchdog());
    tokio::spawn(notify::track_sessions(sessions.subscribe(), config.clone()));
}

/// Listeners for the open sockets, each logged with where it came from.
fn listeners(sockets: Vec<OpenSocket>) -> Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    for socket in sockets {
        let origin = socket.origin.clone();
        let listener = socket.into_listener()?;
        match origin.as_str() {
            "" => log::info!("listening on {listener}"),
            o => log::info!("listening on {listener} ({o})"),
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves metrics and health on their own listeners, and keeps the cached
/// target check of `/readyz` current.
fn start_metrics(
    sockets: Vec<OpenSocket>,
    (health, metrics): (&Arc<Health>, &Arc<Metrics>),
    config: watch::Receiver<Arc<Config>>,
) -> Result<()> {
    if sockets.is_empty() {
        return Ok(());
    }
    let mut listeners = Vec::new();
    for socket in sockets {
        let listener = socket.into_listener()?;
        log::info!("metrics: serving on {listener}");
        listeners.push(listener);
    }
    tokio::spawn(endpoint::serve(listeners, health.clone(), metrics.clone()));
    tokio::spawn(super::health::check_target(config, health.clone()));
    Ok(())
}

/// The signals the daemon handles, installed together before it serves.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    /// The live hand-over to a re-executed binary (`handover`).
    usr2: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
            usr2: signal(SignalKind::user_defined2()).context("SIGUSR2 handler")?,
        })
    }
}

/// What stops the server, and reloads (SIGHUP, control socket) in the
/// meantime, one at a time.
struct Stopper {
    signals: Signals,
    sessions: watch::Receiver<SessionCount>,
    reload: Reload,
    reloads: Requests,
    config: watch::Sender<Arc<Config>>,
    listen: Vec<ListenAddr>,
    socket_activated: bool,
    health: Arc<Health>,
    drain_delay: std::time::Duration,
    /// Live sessions, for the revocations of a reload.
    table: Arc<Table>,
}

impl Stopper {
    /// Reloads on each SIGHUP or control-socket request until a signal or
    /// the lifetime says how to stop.
    async fn wait(
        &mut self,
        mut lifetime: std::pin::Pin<&mut impl std::future::Future<Output = String>>,
    ) -> Stop {
        loop {
            tokio::select! {
                _ = self.signals.usr2.recv() => {
                    log::info!("SIGUSR2: handing the live sessions over to a new program");
                    break Stop::HandOver;
                }
                _ = self.signals.int.recv() => break Stop::Now,
                _ = self.signals.term.recv() => {
                    self.drain().await;
                    break Stop::Now;
                }
                reason = &mut lifetime => {
                    log::info!("{reason}: stopping");
                    break Stop::WhenIdle;
                }
                _ = self.signals.hup.recv() => {
                    // Logged and shown in systemctl status; no one to answer.
                    let _ = self.reload("SIGHUP");
                }
                Some(reply) = self.reloads.recv() => {
                    let _ = reply.send(self.reload("control socket"));
                }
            }
        }
    }

    fn reload(&self, cause: &str) -> reload::ReloadOutcome {
        let live = self.sessions.borrow().live;
        let (listen, activated) = (&self.listen, self.socket_activated);
        self.reload
            .apply(cause, (&self.config, &self.table), listen, activated, live)
    }
}

impl Stopper {
    /// Health checks fail from now on; new sessions are still accepted for
    /// `drain-delay` (a second SIGTERM ends the wait), so a load balancer
    /// moves new users elsewhere before anyone is refused.
    async fn drain(&mut self) {
        self.health.start_draining();
        if self.drain_delay.is_zero() {
            return;
        }
        let delay = self.drain_delay;
        log::info!("SIGTERM: draining, health checks fail; closing listeners in {delay:?}");
        notify::status(&format!("draining: listeners close in {delay:?}"));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = self.signals.term.recv() => log::info!("second SIGTERM: closing listeners now"),
        }
    }
}
