//! Where log lines go: the journal (with structured fields) when systemd
//! connected our stderr to it (`JOURNAL_STREAM`), otherwise stderr; plus
//! `--log-file` when given. `-v` adds our debug lines; other crates (hyper,
//! rustls) only ever log warnings and errors. While the daemon serves, a
//! writer thread does the writing (`log_queue`).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use log::{LevelFilter, Log, Metadata, Record};
use systemd_journal_logger::{connected_to_journal, JournalLog};

use super::escape::escape;
use super::log_queue::{Line, Queue};
use crate::defaults::LOG_FLUSH_WAIT;

/// One destination.
enum Output {
    Stderr,
    File(Mutex<File>),
    Journal(JournalLog),
    Syslog5424(Mutex<syslog::Logger<syslog::LoggerBackend, syslog::Formatter5424>>),
    Syslog3164(Mutex<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>),
}

/// Where to log, besides the journal or stderr.
#[derive(Debug, Default, Clone)]
pub struct Targets<'a> {
    /// Debug lines too.
    pub verbose: bool,
    /// `--log-file`.
    pub file: Option<&'a Path>,
    /// `--syslog`: a unix socket path, or UDP `host:port`.
    pub syslog: Option<&'a str>,
    /// `--legacy-syslog`: RFC 3164 instead of RFC 5424.
    pub legacy_syslog: bool,
    /// Running with `--daemon`: facility daemon instead of user, as Python does.
    pub daemon: bool,
}

struct Logger {
    /// The journal or stderr, chosen at start.
    primary: Output,
    /// `--log-file` and `--syslog`, added once the options are known.
    extra: OnceLock<Vec<Output>>,
    verbose: AtomicBool,
    queue: Queue,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Starts logging to the journal or stderr, before the options are read, so
/// that what the option checks log (e.g. a token file's bad line) is seen.
/// `instance` (the conf file's name) becomes the journal's `INSTANCE=`.
pub fn init(verbose: bool, instance: Option<&str>) {
    let logger = LOGGER.get_or_init(|| {
        let primary = match journal(instance) {
            Some(Ok(j)) => Output::Journal(j),
            Some(Err(e)) => {
                eprintln!("websockify: cannot log to the journal ({e}); using stderr");
                Output::Stderr
            }
            None => Output::Stderr,
        };
        Logger {
            primary,
            extra: OnceLock::new(),
            verbose: AtomicBool::new(verbose),
            queue: Queue::default(),
        }
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level(verbose));
    }
}

fn level(verbose: bool) -> LevelFilter {
    if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    }
}

/// Applies the options: the level, and `--log-file` / `--syslog` outputs.
pub fn configure(to: &Targets) -> Result<()> {
    let Some(logger) = LOGGER.get() else {
        return Ok(());
    };
    logger.verbose.store(to.verbose, Ordering::Relaxed);
    log::set_max_level(level(to.verbose));
    let mut extra = Vec::new();
    if let Some(path) = to.file {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("log-file {}", path.display()))?;
        extra.push(Output::File(Mutex::new(file)));
    }
    if let Some(server) = to.syslog {
        extra.push(syslog_output(server, to.legacy_syslog, to.daemon)?);
    }
    let _ = logger.extra.set(extra);
    Ok(())
}

/// From now on, lines are written by a thread of their own, so an output
/// that stalls never stalls sessions. For the serving daemon, after any fork.
pub fn write_in_background() {
    if let Some(logger) = LOGGER.get() {
        logger.queue.start(|lines| logger.write_all(lines));
    }
}

/// Back to writing lines where they are logged, once the queued ones are
/// written (for at most `LOG_FLUSH_WAIT`): for the lines of an exit.
pub fn write_in_foreground() {
    if let Some(logger) = LOGGER.get() {
        logger.queue.stop(LOG_FLUSH_WAIT);
    }
}

/// Python's syslog handler: ident `websockify`, facility user (daemon with
/// `-D`), to a local socket path or a UDP `host:port`.
fn syslog_output(server: &str, legacy: bool, daemon: bool) -> Result<Output> {
    use syslog::Facility;
    let facility = if daemon {
        Facility::LOG_DAEMON
    } else {
        Facility::LOG_USER
    };
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok());
    let pid = std::process::id();
    let process = "websockify".to_owned();
    let context = || format!("syslog {server}");
    let udp = !server.contains('/');
    if legacy {
        let f = syslog::Formatter3164 {
            facility,
            hostname,
            process,
            pid,
        };
        Ok(Output::Syslog3164(Mutex::new(
            connect_syslog(f, server, udp).with_context(context)?,
        )))
    } else {
        let f = syslog::Formatter5424 {
            facility,
            hostname,
            process,
            pid,
        };
        Ok(Output::Syslog5424(Mutex::new(
            connect_syslog(f, server, udp).with_context(context)?,
        )))
    }
}

fn connect_syslog<F>(
    f: F,
    server: &str,
    udp: bool,
) -> Result<syslog::Logger<syslog::LoggerBackend, F>> {
    let logger = if udp {
        syslog::udp(f, "0.0.0.0:0", server)
    } else {
        syslog::unix_custom(f, server)
    };
    logger.map_err(|e| anyhow::anyhow!("{e}"))
}

fn journal(instance: Option<&str>) -> Option<std::io::Result<JournalLog>> {
    if !connected_to_journal() {
        return None;
    }
    Some(JournalLog::new().map(|j| {
        let j = j.with_syslog_identifier("websockify".into());
        match instance {
            Some(name) => j.with_extra_fields(vec![("INSTANCE", name)]),
            None => j,
        }
    }))
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        let limit = if m.target().starts_with("websockify") {
            level(self.verbose.load(Ordering::Relaxed))
        } else {
            LevelFilter::Warn
        };
        m.level() <= limit
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let journal = matches!(self.primary, Output::Journal(_));
        if let Some(line) = self.queue.push(Line::of(record, journal)) {
            self.write(&line);
        }
    }

    fn flush(&self) {}
}

impl Logger {
    /// Writes lines in order: to stderr and the file as one write for all
    /// (a syscall per line was most of the writer thread's cost at a few
    /// thousand sessions per second), to the journal and syslog one by one.
    fn write_all(&self, lines: &[Line]) {
        let extra = self.extra.get().map_or(&[][..], Vec::as_slice);
        let streams = std::iter::once(&self.primary)
            .chain(extra)
            .all(|out| matches!(out, Output::Stderr | Output::File(_)));
        if !streams || lines.len() < 2 {
            return lines.iter().for_each(|line| self.write(line));
        }
        let mut text = String::new();
        for line in lines {
            text.push_str(&stream_text(line, &escape(&line.text)));
        }
        for out in std::iter::once(&self.primary).chain(extra) {
            write_stream(out, &text);
        }
    }

    /// Writes one line to every output, the same text everywhere: with its
    /// control characters escaped, so that what a client chose (a close
    /// reason, a web path) cannot forge a line (`escape`).
    fn write(&self, line: &Line) {
        let message = escape(&line.text);
        let extra = self.extra.get().map_or(&[][..], Vec::as_slice);
        for out in std::iter::once(&self.primary).chain(extra) {
            match out {
                Output::Stderr | Output::File(_) => {
                    write_stream(out, &stream_text(line, &message));
                }
                Output::Journal(j) => line.as_record(&message, |r| j.log(r)),
                Output::Syslog5424(l) => {
                    if let Ok(mut l) = l.lock() {
                        let msg = (1u32, Default::default(), message.to_string());
                        let _ = syslog_send(&mut l, line.level, msg);
                    }
                }
                Output::Syslog3164(l) => {
                    if let Ok(mut l) = l.lock() {
                        let _ = syslog_send(&mut l, line.level, message.to_string());
                    }
                }
            }
        }
    }
}

/// A line as stderr and `--log-file` show it: time, level, escaped message.
fn stream_text(line: &Line, message: &str) -> String {
    let ts = humantime::format_rfc3339_seconds(line.stamp);
    format!("{ts} {:<5} {message}\n", line.level)
}

/// Writes `text` (whole lines) to stderr or the log file; other outputs
/// take records, not text.
fn write_stream(out: &Output, text: &str) {
    match out {
        Output::Stderr => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        Output::File(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(text.as_bytes());
            }
        }
        _ => {}
    }
}

fn syslog_send<F, T>(
    l: &mut syslog::Logger<syslog::LoggerBackend, F>,
    level: log::Level,
    msg: T,
) -> syslog::Result<()>
where
    F: syslog::LogFormat<T>,
{
    match level {
        log::Level::Error => l.err(msg),
        log::Level::Warn => l.warning(msg),
        log::Level::Info => l.info(msg),
        log::Level::Debug | log::Level::Trace => l.debug(msg),
    }
}
