//! The `websockify` process: options, logging, listeners (inherited from
//! systemd or bound here), readiness, reload on SIGHUP, drain on SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::cli::Cli;
use crate::config::{Config, Settings};
use crate::limits::DRAIN_TIMEOUT;
use crate::listen::{self, ActivatedSocket, Listener};
use crate::logging;
use crate::notify;
use crate::options::{ConfFile, Merged, Options};
use crate::server::Server;

/// Runs the daemon for a parsed command line and returns the exit status.
pub fn main(cli: Cli) -> ExitCode {
    // Before any thread exists: taking the sockets edits the environment.
    let activated = listen::take_activated();
    let cli_options = cli.options();
    let conf = match cli.config.as_deref().map(ConfFile::read).transpose() {
        Ok(conf) => conf,
        Err(e) => {
            logging::init(cli.verbose, None);
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let instance = cli.config.as_deref().and_then(instance_name);
    let merged = Merged::new(conf, cli_options.clone());
    logging::init(merged.options.verbose == Some(true), instance.as_deref());
    let settings = match Settings::from_merged(&merged) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    if cli.check {
        let what = cli
            .config
            .as_deref()
            .map_or("options".into(), |p| p.display().to_string());
        println!("{what}: OK (target {})", settings.config.target);
        return ExitCode::SUCCESS;
    }
    let activated = match activated {
        Ok(a) => a,
        Err(e) => {
            log::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    listen::raise_fd_limit();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reload = Reload {
        conf: cli.config.clone(),
        cli: cli_options,
    };
    match runtime.block_on(serve(settings, activated, reload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `/etc/websockify/display1.conf` is instance `display1`.
fn instance_name(conf: &Path) -> Option<String> {
    conf.file_stem().map(|s| s.to_string_lossy().into_owned())
}

async fn listeners(settings: &Settings, activated: Vec<ActivatedSocket>) -> Result<Vec<Listener>> {
    if !activated.is_empty() {
        let names: Vec<String> = activated
            .iter()
            .map(|a| match a {
                ActivatedSocket::Tcp(_, n) | ActivatedSocket::Unix(_, n) => n.clone(),
            })
            .collect();
        let listeners = activated
            .into_iter()
            .map(ActivatedSocket::into_listener)
            .collect::<Result<Vec<_>>>()?;
        for (l, name) in listeners.iter().zip(names) {
            log::info!("listening on {l} (socket {name:?} passed in by systemd)");
        }
        if !settings.listen.is_empty() {
            log::info!("socket activation: the configured listen addresses are not bound");
        }
        return Ok(listeners);
    }
    if settings.listen.is_empty() {
        bail!("no listen address: give [SOURCE_ADDR:]SOURCE_PORT or `listen` in the conf file");
    }
    let mut all = Vec::new();
    for addr in &settings.listen {
        all.extend(listen::bind(addr).await?);
    }
    for l in &all {
        log::info!("listening on {l}");
    }
    Ok(all)
}

async fn serve(settings: Settings, activated: Vec<ActivatedSocket>, reload: Reload) -> Result<()> {
    let socket_activated = !activated.is_empty();
    let listeners = listeners(&settings, activated).await?;
    let first = Arc::new(settings.config);
    log::info!("relaying to {}{}", first.target, web_note(&first));
    let (config_tx, config_rx) = watch::channel(first);
    let server = Server::new(listeners, config_rx.clone()).grace(settings.shutdown_grace);
    tokio::spawn(notify::watchdog());
    tokio::spawn(notify::track_sessions(server.sessions(), config_rx.clone()));
    notify::ready(&notify::status_line(0, &config_rx.borrow().target));

    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut sessions = server.sessions();
    let grace = settings.shutdown_grace;
    let listen = settings.listen;
    let stop = async move {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = hup.recv() => reload.apply(&config_tx, &listen, socket_activated, *sessions.borrow_and_update()),
            }
        }
        notify::stopping(grace + DRAIN_TIMEOUT);
    };
    server.run(stop).await;
    Ok(())
}

fn web_note(config: &Config) -> String {
    config
        .web_root
        .as_ref()
        .map(|w| format!(", web root {}", w.display()))
        .unwrap_or_default()
}

/// What a reload re-reads: the conf file, with the command line on top.
struct Reload {
    conf: Option<std::path::PathBuf>,
    cli: Options,
}

impl Reload {
    /// Builds and installs a new config; on any error the old one stays.
    fn apply(
        &self,
        config: &watch::Sender<Arc<Config>>,
        listen: &[crate::addr::ListenAddr],
        socket_activated: bool,
        sessions: usize,
    ) {
        notify::reloading();
        log::info!("SIGHUP: reloading {}", self.describe());
        match self.load() {
            Ok(new) => {
                if !socket_activated && new.listen != listen {
                    log::warn!(
                        "reload: `listen` changed; the new addresses take effect after a restart"
                    );
                }
                log::info!(
                    "reload: relaying new sessions to {}{}",
                    new.config.target,
                    web_note(&new.config)
                );
                let status = notify::status_line(sessions, &new.config.target);
                config.send_replace(Arc::new(new.config));
                notify::ready(&status);
            }
            Err(e) => {
                log::error!("reload failed, the previous settings stay in force: {e:#}");
                let status = format!(
                    "reload failed ({e:#}); previous settings in force; {}",
                    notify::status_line(sessions, &config.borrow().target)
                );
                notify::ready(&status);
            }
        }
    }

    fn load(&self) -> Result<Settings> {
        let conf = self.conf.as_deref().map(ConfFile::read).transpose()?;
        Settings::from_merged(&Merged::new(conf, self.cli.clone()))
    }

    fn describe(&self) -> String {
        self.conf
            .as_ref()
            .map_or("certificates and web root".into(), |p| {
                p.display().to_string()
            })
    }
}
