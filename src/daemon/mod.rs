//! The `websockify` process: options, logging, sockets (inherited from
//! systemd or stdin, or bound here: `sockets`), readiness and signals
//! (`serve`), reload on SIGHUP (`reload`), Python's server-lifetime
//! options (`lifetime`), and `--check`'s look at the target (`check`).

mod certs;
mod check;
mod control;
mod handover;
mod health;
mod lifetime;
mod reload;
mod serve;
mod sockets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::cli::Cli;
use crate::config::options::{ConfFile, Merged};
use crate::config::{Config, Settings, Unsupported};
use crate::listen::{self, OpenSocket};
use crate::systemd::logging;
use reload::Reload;

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
    let handed = handover::take();
    let activated = listen::take_activated();
    let conf_path = cli.config.as_deref().map(absolute);
    let instance = conf_path
        .as_deref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned());
    logging::init(cli.options.verbose.is_some(), instance.as_deref());
    // Before the settings: the default max-connections follows the raised limit.
    listen::raise_fd_limit();
    let settings = match settings(&cli, conf_path.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if cli.check {
        let what = conf_path.map_or("options".into(), |p| p.display().to_string());
        return check::report(&settings, &what);
    }
    let reload = Reload::new(conf_path, cli.options());
    let handed = match handed {
        Ok(h) => h,
        Err(e) => return fail(e.context("the hand-over from the previous program failed")),
    };
    match start(settings, (activated, handed), reload) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Reads the conf, validates everything and sets up logging as configured.
fn settings(cli: &Cli, conf_path: Option<&Path>) -> Result<Settings> {
    let conf = conf_path.map(ConfFile::read).transpose()?;
    let merged = Merged::new(conf, cli.options());
    let settings = Settings::from_merged(&merged)?;
    logging::configure(&logging::Targets {
        verbose: settings.verbose,
        file: settings.log_file.as_deref(),
        syslog: settings.syslog.as_deref(),
        legacy_syslog: settings.legacy_syslog,
        daemon: settings.daemon,
    })?;
    if settings.config.traffic {
        print!("{}", crate::session::record::TRAFFIC_LEGEND);
    }
    if merged.options.libserver == Some(true) {
        log::warn!("libserver is deprecated and changes nothing here");
    }
    Ok(settings)
}

/// Binds (before detaching, so that errors reach the terminal), detaches
/// with `-D`, and serves until stopped. After a hand-over the listeners are
/// the previous program's, and the process is detached already.
fn start(
    mut settings: Settings,
    (activated, handed): (Result<Vec<OpenSocket>>, Option<handover::State>),
    reload: Reload,
) -> Result<()> {
    // Detached already, and forking again would change the PID systemd knows.
    settings.daemon &= handed.is_none();
    let (sockets, handed) = match handed {
        Some(mut state) => (state.take_sockets(), state),
        None => (
            activated.and_then(|a| sockets::open(&settings, a))?,
            Default::default(),
        ),
    };
    let metrics = sockets::open_metrics(&settings)?;
    let control = settings
        .control_socket
        .as_deref()
        .map(control::bind)
        .transpose()?;
    if settings.daemon {
        sockets::detach()?;
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    let control = control.into_iter().collect();
    let sockets = [sockets, metrics, control];
    let served = runtime.block_on(serve::serve(settings, sockets, reload, handed));
    logging::write_in_foreground();
    served
}

/// The web root, for the start (`serve`) and reload (`reload`) log lines:
/// kept in the parent of both, so that neither file imports the other.
fn web_note(config: &Config) -> String {
    config
        .web_root
        .as_ref()
        .map(|w| format!(", web root {}", w.display()))
        .unwrap_or_default()
}

/// `--generate-cert`: the admin command postinst uses (and documents).
fn generate_cert(cli: &Cli) -> ExitCode {
    let Some(cert) = &cli.options.cert else {
        eprintln!(
            "websockify: --generate-cert needs --cert FILE (and --key FILE for a separate key)"
        );
        return ExitCode::from(EXIT_UNSUPPORTED);
    };
    let key = cli.options.key.clone().unwrap_or_else(|| cert.clone());
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
