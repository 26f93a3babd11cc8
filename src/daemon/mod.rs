//! The `websockify` process: options, logging, sockets (inherited from
//! systemd or stdin, or bound here), readiness, reload on SIGHUP, drain on
//! SIGTERM, and Python's server-lifetime options.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::addr::ListenAddr;
use crate::config::cli::Cli;
use crate::config::options::{ConfFile, Merged, Options};
use crate::config::{Config, Lifetime, Settings, Unsupported};
use crate::defaults::DRAIN_TIMEOUT;
use crate::listen::{self, OpenSocket};
use crate::server::{Server, Stop};
use crate::session::SessionCount;
use crate::systemd::logging;
use crate::systemd::notify;

/// Exit status for an option that is recognised but not carried out.
const EXIT_UNSUPPORTED: u8 = 2;

/// Runs the daemon for a parsed command line and returns the exit status.
pub fn main(cli: Cli) -> ExitCode {
    if !cli.wrap_command.is_empty() {
        eprintln!("websockify: -- {}: wrap mode (LD_PRELOAD rebind.so) is not supported: start the program separately and give its address as the target", cli.wrap_command.join(" "));
        return ExitCode::from(EXIT_UNSUPPORTED);
    }
    if cli.generate_cert {
        return generate_cert(&cli);
    }
    // Before any thread exists: taking the sockets edits the environment.
    let activated = listen::take_activated();
    let conf_path = cli.config.as_deref().map(absolute);
    let instance = conf_path
        .as_deref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned());
    logging::init(cli.verbose, instance.as_deref());
    let conf = match conf_path.as_deref().map(ConfFile::read).transpose() {
        Ok(conf) => conf,
        Err(e) => return fail(e.into()),
    };
    let merged = Merged::new(conf, cli.options());
    let settings = match Settings::from_merged(&merged) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let log_to = logging::Targets {
        verbose: settings.verbose,
        file: settings.log_file.as_deref(),
        syslog: settings.syslog.as_deref(),
        legacy_syslog: settings.legacy_syslog,
        daemon: settings.daemon,
    };
    if let Err(e) = logging::configure(&log_to) {
        return fail(e);
    }
    if settings.config.traffic {
        print!("{}", crate::session::record::TRAFFIC_LEGEND);
    }
    if merged.options.libserver == Some(true) {
        log::warn!("libserver is deprecated and changes nothing here");
    }
    if cli.check {
        let what = conf_path.map_or("options".into(), |p| p.display().to_string());
        println!("{what}: OK (target {})", settings.config.gate.route);
        return ExitCode::SUCCESS;
    }
    // Bind before detaching, so that errors reach the terminal.
    let sockets = match activated.and_then(|a| open_sockets(&settings, a)) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if settings.daemon {
        if let Err(e) = detach() {
            return fail(e);
        }
    }
    listen::raise_fd_limit();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow::Error::new(e).context("cannot start the runtime")),
    };
    let reload = Reload {
        conf: conf_path,
        cli: cli.options(),
    };
    match runtime.block_on(serve(settings, sockets, reload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `--generate-cert`: the admin command postinst uses (and documents).
fn generate_cert(cli: &Cli) -> ExitCode {
    let Some(cert) = &cli.cert else {
        eprintln!(
            "websockify: --generate-cert needs --cert FILE (and --key FILE for a separate key)"
        );
        return ExitCode::from(EXIT_UNSUPPORTED);
    };
    let key = cli.key.clone().unwrap_or_else(|| cert.clone());
    let mut names = cli.cert_name.clone();
    names.extend(crate::tls::cert::default_names());
    match crate::tls::cert::generate(cert, &key, &names) {
        Ok(()) => {
            println!(
                "wrote {} and {} for {}",
                cert.display(),
                key.display(),
                names.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Logs (or, before logging is set up, prints) an error and picks the status.
fn fail(e: anyhow::Error) -> ExitCode {
    if log::max_level() == log::LevelFilter::Off {
        eprintln!("websockify: {e:#}");
    } else {
        log::error!("{e:#}");
    }
    if e.is::<Unsupported>() {
        ExitCode::from(EXIT_UNSUPPORTED)
    } else {
        ExitCode::FAILURE
    }
}

/// Reload re-reads the conf after `--daemon` moved to `/`: keep it absolute.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// `-D`: detach from the terminal (fork, new session, cwd `/`, stdio to
/// /dev/null), as Python's `--daemon` does.
fn detach() -> Result<()> {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        bail!("--daemon under systemd (Type=notify) would lose the main process: drop it");
    }
    nix::unistd::daemon(false, false).context("--daemon")?;
    Ok(())
}

/// The sockets to serve: systemd's, stdin's, or bound from the settings.
fn open_sockets(settings: &Settings, activated: Vec<OpenSocket>) -> Result<Vec<OpenSocket>> {
    if !activated.is_empty() {
        return Ok(activated);
    }
    if settings.inetd {
        return Ok(vec![listen::take_inetd()?]);
    }
    let mut all = Vec::new();
    for addr in &settings.listen {
        all.extend(listen::bind(addr)?);
    }
    if let Some(u) = &settings.unix_listen {
        all.push(listen::bind_unix(&u.path, u.mode)?);
    }
    if all.is_empty() {
        bail!("no listen address: give [SOURCE_ADDR:]SOURCE_PORT, --unix-listen, or `listen` in the conf file");
    }
    Ok(all)
}

async fn serve(settings: Settings, sockets: Vec<OpenSocket>, reload: Reload) -> Result<()> {
    let socket_activated = sockets.iter().any(|s| s.origin.contains("systemd"));
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
    if socket_activated && !settings.listen.is_empty() {
        log::info!("socket activation: the configured listen addresses are not bound");
    }
    let first = Arc::new(settings.config);
    log::info!("relaying to {}{}", first.gate.route, web_note(&first));
    let (config_tx, config_rx) = watch::channel(first);
    let server = Server::new(listeners, config_rx.clone()).grace(settings.shutdown_grace);
    tokio::spawn(notify::watchdog());
    tokio::spawn(notify::track_sessions(server.sessions(), config_rx.clone()));
    notify::ready(&notify::status_line(0, &config_rx.borrow().gate.route));

    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let sessions = server.sessions();
    let lifetime = lifetime_over(settings.lifetime, server.sessions());
    let grace = settings.shutdown_grace;
    let listen = settings.listen;
    let stop = async move {
        tokio::pin!(lifetime);
        let stop = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break Stop::Now,
                _ = term.recv() => break Stop::Now,
                reason = &mut lifetime => {
                    log::info!("{reason}: stopping");
                    break Stop::WhenIdle;
                }
                _ = hup.recv() => {
                    let live = sessions.borrow().live;
                    reload.apply(&config_tx, &listen, socket_activated, live);
                }
            }
        };
        notify::stopping(grace + DRAIN_TIMEOUT);
        stop
    };
    server.run(stop).await;
    Ok(())
}

/// Completes when the server's lifetime (`--run-once`, `--timeout`,
/// `--idle-timeout`) is over, with the reason; never when none is set.
async fn lifetime_over(lifetime: Lifetime, sessions: watch::Receiver<SessionCount>) -> String {
    let mut ended = sessions.clone();
    let mut idle_watch = sessions;
    let run_once = async {
        if lifetime.run_once {
            let _ = ended.wait_for(|c| c.ended > 0).await;
            return "--run-once: the first session ended".to_owned();
        }
        std::future::pending().await
    };
    let timeout = async {
        match lifetime.timeout {
            Some(t) => {
                tokio::time::sleep(t).await;
                format!("--timeout: {t:?} since start")
            }
            None => std::future::pending().await,
        }
    };
    let idle = async {
        let Some(limit) = lifetime.idle_timeout else {
            return std::future::pending().await;
        };
        loop {
            let _ = idle_watch.wait_for(|c| c.live == 0).await;
            let busy = idle_watch.wait_for(|c| c.live > 0);
            if tokio::time::timeout(limit, busy).await.is_err() {
                return format!("--idle-timeout: no session for {limit:?}");
            }
        }
    };
    tokio::select! {
        r = run_once => r,
        r = timeout => r,
        r = idle => r,
    }
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
    conf: Option<PathBuf>,
    cli: Options,
}

impl Reload {
    /// Builds and installs a new config; on any error the old one stays.
    fn apply(
        &self,
        config: &watch::Sender<Arc<Config>>,
        listen: &[ListenAddr],
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
                    new.config.gate.route,
                    web_note(&new.config)
                );
                let status = notify::status_line(sessions, &new.config.gate.route);
                config.send_replace(Arc::new(new.config));
                notify::ready(&status);
            }
            Err(e) => {
                log::error!("reload failed, the previous settings stay in force: {e:#}");
                let status = format!(
                    "reload failed ({e:#}); previous settings in force; {}",
                    notify::status_line(sessions, &config.borrow().gate.route)
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
