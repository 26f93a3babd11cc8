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
//! most files Linux lets a process open by default. Each range is given in
//! its option's `options!` entry; every numeric option must have one (a unit
//! test checks it).

use anyhow::{bail, Result};

use super::options::{spec, Merged, KEYS};

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
pub struct Range {
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
    /// What it measures.
    pub unit: Unit,
    /// What to give instead of a huge value, if anything.
    pub instead: &'static str,
}

/// An hour, in seconds.
pub const HOUR: u64 = 3600;
/// A day, in seconds.
pub const DAY: u64 = 24 * HOUR;
/// A year, in seconds.
pub const YEAR: u64 = 365 * DAY;
/// Linux's default `fs.nr_open`: the most files a process may open unless
/// the administrator raises it, and each connection holds at least one.
pub const NR_OPEN: u64 = 1 << 20;

/// A number of seconds from `min` to `max`.
pub const fn secs(min: u64, max: u64, instead: &'static str) -> Range {
    Range {
        min,
        max,
        unit: Unit::Seconds,
        instead,
    }
}

/// A number of bytes from `min` to `max`.
pub const fn bytes(min: u64, max: u64, instead: &'static str) -> Range {
    Range {
        min,
        max,
        unit: Unit::Bytes,
        instead,
    }
}

/// A number of days, up to a century (far below a `SystemTime` overflow).
pub const fn days(instead: &'static str) -> Range {
    Range {
        min: 0,
        max: 36500,
        unit: Unit::Days,
        instead,
    }
}

/// A cap on connections or sessions, 0 for none.
pub const fn count() -> Range {
    Range {
        min: 0,
        max: NR_OPEN,
        unit: Unit::Count,
        instead: "0: no cap",
    }
}

/// Every option that has a range, with it, in `options!` order.
pub fn ranged() -> Vec<(&'static str, Range)> {
    KEYS.iter()
        .filter_map(|key| Some((*key, spec(key)?.range?)))
        .collect()
}

/// Refuses the first number outside its range, naming where it was given
/// and the bound.
pub(super) fn check(m: &Merged) -> Result<()> {
    for key in KEYS {
        let (Some(range), Some(n)) = (spec(key).and_then(|s| s.range), m.options.number(key))
        else {
            continue;
        };
        let at = m.origin(key);
        if n < range.min {
            bail!("{at}: {key}: must be at least {}", range.said(range.min));
        }
        if n > range.max {
            let instead = match range.instead {
                "" => String::new(),
                text => format!("; {text}"),
            };
            bail!(
                "{at}: {key}: must be at most {}, not {n}{instead}",
                range.said(range.max)
            );
        }
    }
    Ok(())
}

impl Range {
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
    use crate::config::options::ConfFile;

    /// Every key that takes a number has a range and reads that key's value
    /// (and no other's): a new numeric option without one fails here, not
    /// in production.
    #[test]
    fn every_numeric_key_has_a_range() {
        let mut numeric = 0;
        for key in KEYS {
            let Ok(conf) = ConfFile::parse(Path::new("t.conf"), format!("{key} = 1\n")) else {
                continue;
            };
            numeric += 1;
            assert!(
                spec(key).and_then(|s| s.range).is_some(),
                "{key} takes a number but has no range"
            );
            for other in KEYS {
                let want = (other == key).then_some(1);
                assert_eq!(conf.options.number(other), want, "{other}, given {key}");
            }
        }
        let ranged = KEYS
            .iter()
            .filter(|k| spec(k).and_then(|s| s.range).is_some())
            .count();
        assert_eq!(numeric, ranged, "a range for a key that is not numeric");
    }

    fn said(key: &str, n: u64) -> String {
        spec(key).and_then(|s| s.range).unwrap().said(n)
    }

    #[test]
    fn bounds_are_said_with_their_unit() {
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
        for key in KEYS {
            let Some(r) = spec(key)
                .and_then(|s| s.range)
                .filter(|r| r.unit == Unit::Seconds)
            else {
                continue;
            };
            let d = std::time::Duration::from_secs(r.max);
            assert!(now.checked_add(d.saturating_mul(2)).is_some(), "{key}");
            assert!(tokio::time::Instant::now().checked_add(d).is_some());
        }
    }
}
