//! Options at their extremes, in a conf file and on the command line:
//! whatever the parser and `Settings::from_merged` accept must be usable,
//! or a value that passed `--check` panics the daemon later (a heartbeat,
//! handshake timeout or shutdown grace of 2^64-1 seconds did: `Instant +
//! Duration` overflowed in every session, every connection, or at SIGTERM).
//!
//! The input is a list of entries, each two bytes and perhaps eight more:
//! the first picks the key (bit 7: command line instead of conf file; the
//! rest: a key with a range (`config::bounds::ranged`) first, then any key
//! of the conf file), the second the value (a list of extremes, the key's
//! bound and its neighbours, or the next eight bytes as a number).
#![no_main]

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser as _;
use libfuzzer_sys::fuzz_target;
use websockify::config::bounds::ranged;
use websockify::config::cli::Cli;
use websockify::config::options::{ConfFile, Merged, KEYS};
use websockify::config::Settings;

/// Values that broke or might break something: zero, the units the bounds
/// are made of and one past them, the ends of the integer types.
const EXTREMES: &[i128] = &[
    0,
    1,
    -1,
    59,
    3_600,
    86_400,
    86_401,
    31_536_000,
    8_191,
    8_192,
    1 << 20,
    1 << 30,
    u32::MAX as i128,
    1 << 53,
    i64::MAX as i128,
    i64::MIN as i128,
    u64::MAX as i128,
    u64::MAX as i128 + 1,
    1 << 40,
];

/// One option and its value, as the input picked them.
struct Entry {
    key: &'static str,
    value: i128,
    command_line: bool,
}

fn entries(mut data: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let ranged = ranged();
    while let [which, how, rest @ ..] = data {
        data = rest;
        let n = usize::from(which & 0x7f);
        let bound = ranged.get(n).map(|(_, range)| range);
        let key = match ranged.get(n) {
            Some((key, _)) => *key,
            None => KEYS[(n - ranged.len()) % KEYS.len()],
        };
        let pick = usize::from(*how);
        let near = pick.checked_sub(EXTREMES.len());
        let value = match (EXTREMES.get(pick), bound, near) {
            (Some(v), _, _) => *v,
            (None, Some(b), Some(near @ 0..=2)) => i128::from(b.max) + near as i128 - 1,
            _ => {
                let (bytes, rest) = data.split_at(data.len().min(8));
                data = rest;
                let mut raw = [0u8; 8];
                raw[..bytes.len()].copy_from_slice(bytes);
                i128::from(u64::from_le_bytes(raw))
            }
        };
        out.push(Entry {
            key,
            value,
            command_line: which & 0x80 != 0,
        });
    }
    out
}

/// The settings' durations: each is added to the clock by the daemon (as a
/// deadline, a tick, `shutdown-grace` plus the drain timeout, twice the
/// heartbeat), so four times each must still fit.
fn assert_usable(s: &Settings) {
    let limits = &s.config.limits;
    let durations = [
        ("shutdown-grace", Some(s.shutdown_grace)),
        ("drain-delay", Some(s.drain_delay)),
        ("timeout", s.lifetime.timeout),
        ("idle-timeout", s.lifetime.idle_timeout),
        ("heartbeat", s.config.heartbeat),
        ("handshake-timeout", Some(limits.handshake_timeout)),
        ("connect-timeout", Some(limits.connect_timeout)),
    ];
    let now = Instant::now();
    for (key, d) in durations {
        let Some(d) = d else { continue };
        let later = d.checked_mul(4).and_then(|d| now.checked_add(d));
        assert!(later.is_some(), "{key} = {d:?} overflows the clock");
    }
    // A zero period panics tokio's interval; a zero timeout refuses everyone.
    assert_ne!(s.config.heartbeat, Some(Duration::ZERO));
    assert!(!limits.handshake_timeout.is_zero() && !limits.connect_timeout.is_zero());
    // hyper panics on a read buffer below 8 KiB.
    assert!(limits.max_header_size >= 8192, "{}", limits.max_header_size);
    assert_ne!(limits.max_message_size, Some(0));
}

fuzz_target!(|data: &[u8]| {
    let mut conf = String::from("target = \"127.0.0.1:5901\"\n");
    let mut args = vec!["websockify".to_owned()];
    for e in entries(data) {
        if e.command_line {
            args.extend([format!("--{}", e.key), e.value.to_string()]);
        } else {
            conf += &format!("{} = {}\n", e.key, e.value);
        }
    }
    let Ok(conf) = ConfFile::parse(Path::new("fuzz.conf"), conf) else {
        return;
    };
    let Ok(cli) = Cli::try_parse_from(&args) else {
        return;
    };
    if let Ok(settings) = Settings::from_merged(&Merged::new(Some(conf), cli.options())) {
        assert_usable(&settings);
    }
});
