//! Where log lines go: the journal (with structured fields) when systemd
//! connected our stderr to it (`JOURNAL_STREAM`), otherwise stderr; plus
//! `--log-file` when given. `-v` adds our debug lines; other crates (hyper,
//! rustls) only ever log warnings and errors.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use log::{LevelFilter, Log, Metadata, Record};
use systemd_journal_logger::{connected_to_journal, JournalLog};

/// One destination.
enum Output {
    Stderr,
    File(Mutex<File>),
    Journal(JournalLog),
}

struct Logger {
    level: LevelFilter,
    outputs: Vec<Output>,
}

/// Sets up logging once, at start. `instance` (the conf file's name)
/// becomes the `INSTANCE=` field of every journal entry.
pub fn init(verbose: bool, instance: Option<&str>, log_file: Option<&Path>) -> Result<()> {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let mut outputs = Vec::new();
    match journal(instance) {
        Some(Ok(j)) => outputs.push(Output::Journal(j)),
        Some(Err(e)) => {
            eprintln!("websockify: cannot log to the journal ({e}); using stderr");
            outputs.push(Output::Stderr);
        }
        None => outputs.push(Output::Stderr),
    }
    if let Some(path) = log_file {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("log-file {}", path.display()))?;
        outputs.push(Output::File(Mutex::new(file)));
    }
    // A second init (tests, reload) keeps the first logger.
    if log::set_boxed_logger(Box::new(Logger { level, outputs })).is_ok() {
        log::set_max_level(level);
    }
    Ok(())
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
            self.level
        } else {
            LevelFilter::Warn
        };
        m.level() <= limit
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = || {
            let ts = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            format!("{ts} {:<5} {}\n", record.level(), record.args())
        };
        for out in &self.outputs {
            match out {
                Output::Stderr => {
                    let _ = std::io::stderr().write_all(line().as_bytes());
                }
                Output::File(f) => {
                    if let Ok(mut f) = f.lock() {
                        let _ = f.write_all(line().as_bytes());
                    }
                }
                Output::Journal(j) => j.log(record),
            }
        }
    }

    fn flush(&self) {}
}
