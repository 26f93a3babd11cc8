//! The range of every number an option takes (durations, sizes, counts),
//! checked before anything is built from them, with the bound in the error.
//!
//! Without an upper bound a value such as 2^64-1 seconds passed `--check`
//! and then panicked at its first use (`Instant + Duration` overflows):
//! every session with `heartbeat`, every connection with
//! `handshake-timeout`, the daemon at SIGTERM with `shutdown-grace`. The
//! bounds are far beyond any sensible setting and far below any overflow:
//! a day for the heartbeat, an hour for a network step and for the steps of
//! a shutdown, a year for the server's own lifetime, and for counts the
//! most files Linux lets a process open by default. Every numeric option
//! must have an entry here (a unit test checks it).

use anyhow::{bail, Result};

use super::options::{Merged, Options};

/// What a number measures, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// Connections or sessions.
    Count,
    /// Whole days.
    Days,
}

/// The range of one option.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The option (conf key and long option name).
    pub key: &'static str,
    /// Its value, if given.
    pub value: fn(&Options) -> Option<u64>,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
    /// What it measures.
    pub unit: Unit,
    /// What to give instead of a huge value, if anything.
    pub instead: &'static str,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
const YEAR: u64 = 365 * DAY;
/// Linux's default `fs.nr_open`: the most files a process may open unless
/// the administrator raises it, and each connection holds at least one.
const NR_OPEN: u64 = 1 << 20;

/// Every numeric option's range.
pub const BOUNDS: &[Bound] = &[
    secs(
        "heartbeat",
        |o| o.heartbeat,
        0,
        DAY,
        "0 turns heartbeats off",
    ),
    secs("handshake-timeout", |o| o.handshake_timeout, 1, HOUR, ""),
    secs("connect-timeout", |o| o.connect_timeout, 1, HOUR, ""),
    // systemd takes at most u32::MAX microseconds (71 min) as the stop
    // time `notify::stopping` asks for, grace and drain timeout together.
    secs("shutdown-grace", |o| o.shutdown_grace, 0, HOUR, ""),
    secs("drain-delay", |o| o.drain_delay, 0, HOUR, ""),
    secs("timeout", |o| o.timeout, 0, YEAR, "0: never"),
    secs("idle-timeout", |o| o.idle_timeout, 0, YEAR, "0: never"),
    Bound {
        key: "max-message-size",
        value: |o| wide(o.max_message_size),
        min: 1,
        // Policy, not memory (messages stream through): beyond any message a
        // VNC client sends, and beyond the 1 GiB ones scripts/bench sends.
        max: 1 << 40,
        unit: Unit::Bytes,
        instead: "leave it out for no limit",
    },
    Bound {
        key: "max-header-size",
        value: |o| wide(o.max_header_size),
        min: 8192,
        max: 1 << 20,
        unit: Unit::Bytes,
        instead: "",
    },
    Bound {
        key: "record-max-size",
        value: |o| o.record_max_size.map(|n| n.0),
        // Below a frame of a small screen a recording says nothing.
        min: 1 << 10,
        max: 1 << 40,
        unit: Unit::Bytes,
        instead: "",
    },
    Bound {
        key: "record-max-total",
        value: |o| o.record_max_total.map(|n| n.0),
        min: 0,
        // A petabyte: beyond any disk, far below an overflow of the sum.
        max: 1 << 50,
        unit: Unit::Bytes,
        instead: "0: no cap",
    },
    Bound {
        key: "record-max-age",
        value: |o| o.record_max_age.map(|n| n.0),
        min: 0,
        // A century, in days: far below a `SystemTime` overflow.
        max: 36500,
        unit: Unit::Days,
        instead: "0 keeps them",
    },
    count("max-connections", |o| wide(o.max_connections)),
    count("max-connections-per-client", |o| {
        wide(o.max_connections_per_client)
    }),
    count("max-sessions-per-target", |o| {
        wide(o.max_sessions_per_target)
    }),
];

const fn secs(
    key: &'static str,
    value: fn(&Options) -> Option<u64>,
    min: u64,
    max: u64,
    instead: &'static str,
) -> Bound {
    Bound {
        key,
        value,
        min,
        max,
        unit: Unit::Seconds,
        instead,
    }
}

const fn count(key: &'static str, value: fn(&Options) -> Option<u64>) -> Bound {
    Bound {
        key,
        value,
        min: 0,
        max: NR_OPEN,
        unit: Unit::Count,
        instead: "0: no cap",
    }
}

/// A `usize` option as `u64` (never wider on any target Rust supports).
fn wide(n: Option<usize>) -> Option<u64> {
    n.map(|n| u64::try_from(n).unwrap_or(u64::MAX))
}

/// Refuses the first number outside its range, naming where it was given
/// and the bound.
pub(super) fn check(m: &Merged) -> Result<()> {
    for bound in BOUNDS {
        let Some(n) = (bound.value)(&m.options) else {
            continue;
        };
        let (key, at) = (bound.key, m.origin(bound.key));
        if n < bound.min {
            bail!("{at}: {key}: must be at least {}", bound.said(bound.min));
        }
        if n > bound.max {
            let instead = match bound.instead {
                "" => String::new(),
                text => format!("; {text}"),
            };
            bail!(
                "{at}: {key}: must be at most {}, not {n}{instead}",
                bound.said(bound.max)
            );
        }
    }
    Ok(())
}

impl Bound {
    /// `n` with its unit: "86400 seconds (1 day)", "1048576 bytes (1 MiB)".
    pub fn said(&self, n: u64) -> String {
        let (word, larger): (&str, &[(u64, &str)]) = match self.unit {
            Unit::Count => return n.to_string(),
            Unit::Days if n == 1 => return "1 day".into(),
            Unit::Days => return format!("{n} days"),
            Unit::Seconds if n == 1 => return "1 second".into(),
            Unit::Seconds => (
                "seconds",
                &[(YEAR, " year"), (DAY, " day"), (HOUR, " hour")],
            ),
            Unit::Bytes => (
                "bytes",
                &[
                    (1 << 40, " TiB"),
                    (1 << 30, " GiB"),
                    (1 << 20, " MiB"),
                    (1 << 10, " KiB"),
                ],
            ),
        };
        match larger.iter().find(|(u, _)| n >= *u && n.is_multiple_of(*u)) {
            Some((u, name)) => {
                let plural = if self.unit == Unit::Seconds && n / u > 1 {
                    "s"
                } else {
                    ""
                };
                format!("{n} {word} ({}{name}{plural})", n / u)
            }
            None => format!("{n} {word}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::options::{ConfFile, KEYS};

    /// Every key that takes a number has a range that reads that key's
    /// value (and no other's): a new numeric option without one fails
    /// here, not in production.
    #[test]
    fn every_numeric_key_has_a_bound_that_reads_it() {
        let mut numeric = 0;
        for key in KEYS {
            let Ok(conf) = ConfFile::parse(Path::new("t.conf"), format!("{key} = 1\n")) else {
                continue;
            };
            numeric += 1;
            assert!(
                BOUNDS.iter().any(|b| b.key == *key),
                "{key} takes a number but has no bound"
            );
            for b in BOUNDS {
                let want = (b.key == *key).then_some(1);
                assert_eq!((b.value)(&conf.options), want, "{}, given {key}", b.key);
            }
        }
        assert_eq!(
            numeric,
            BOUNDS.len(),
            "a bound for a key that is not numeric"
        );
    }

    #[test]
    fn bounds_are_said_with_their_unit() {
        let said = |key: &str, n| BOUNDS.iter().find(|b| b.key == key).unwrap().said(n);
        assert_eq!(said("heartbeat", DAY), "86400 seconds (1 day)");
        assert_eq!(said("handshake-timeout", 1), "1 second");
        assert_eq!(said("connect-timeout", HOUR), "3600 seconds (1 hour)");
        assert_eq!(said("timeout", YEAR), "31536000 seconds (1 year)");
        assert_eq!(said("heartbeat", 2 * DAY), "172800 seconds (2 days)");
        assert_eq!(said("max-header-size", 8192), "8192 bytes (8 KiB)");
        assert_eq!(
            said("max-message-size", 1 << 30),
            "1073741824 bytes (1 GiB)"
        );
        assert_eq!(
            said("max-message-size", 1 << 40),
            "1099511627776 bytes (1 TiB)"
        );
        assert_eq!(said("max-connections", NR_OPEN), "1048576");
    }

    /// The largest values can be added to a clock: what panicked before.
    #[test]
    fn the_largest_durations_fit_a_clock() {
        let now = std::time::Instant::now();
        for b in BOUNDS.iter().filter(|b| b.unit == Unit::Seconds) {
            let d = std::time::Duration::from_secs(b.max);
            assert!(now.checked_add(d.saturating_mul(2)).is_some(), "{}", b.key);
            assert!(tokio::time::Instant::now().checked_add(d).is_some());
        }
    }
}
