//! Logging: to the journal with structured fields when systemd connected our
//! stderr to it (`JOURNAL_STREAM`), otherwise plain lines on stderr.
//! `-v` adds debug messages; RUST_LOG overrides both on stderr.

use std::io::Write as _;

use log::{LevelFilter, Log, Metadata, Record};
use systemd_journal_logger::{connected_to_journal, JournalLog};

/// Sets up the logger once, at start. `instance` (the conf file's name)
/// becomes the `INSTANCE=` field of every journal entry.
pub fn init(verbose: bool, instance: Option<&str>) {
    let level = if verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    if connected_to_journal() {
        match journal(instance, level) {
            Ok(()) => return,
            Err(e) => eprintln!("websockify: cannot log to the journal ({e}); using stderr"),
        }
    }
    let default = format!("warn,websockify={}", level.as_str().to_lowercase());
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|buf, record| {
            let ts = buf.timestamp_seconds();
            writeln!(buf, "{ts} {:<5} {}", record.level(), record.args())
        })
        .try_init();
}

fn journal(instance: Option<&str>, level: LevelFilter) -> std::io::Result<()> {
    let mut inner = JournalLog::new()?.with_syslog_identifier("websockify".into());
    if let Some(name) = instance {
        inner = inner.with_extra_fields(vec![("INSTANCE", name)]);
    }
    log::set_boxed_logger(Box::new(OursOnly { inner, level })).map_err(std::io::Error::other)?;
    log::set_max_level(level);
    Ok(())
}

/// Our own messages at `level`; other crates' (hyper, rustls) from warnings up,
/// as the stderr logger's default filter does.
struct OursOnly<L> {
    inner: L,
    level: LevelFilter,
}

impl<L: Log> Log for OursOnly<L> {
    fn enabled(&self, m: &Metadata) -> bool {
        let limit = if m.target().starts_with("websockify") {
            self.level
        } else {
            LevelFilter::Warn
        };
        m.level() <= limit
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}
