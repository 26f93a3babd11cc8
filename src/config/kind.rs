//! What each type of option value is, wherever the type decides: the
//! words for a conf value of the wrong type (`WHAT`, with the example of the
//! key's `Spec`), how clap takes it from the command line, and whether it is
//! a number with a range (`bounds`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches};

use super::options::{Number, OneOrMany, UserEntry};

/// The kind of value an option takes.
pub trait Kind: Sized {
    /// In the words of websockify.conf(5), e.g. "a number of seconds".
    const WHAT: &'static str;

    /// How clap reads it: a flag, one value or a repeatable one.
    fn takes(arg: Arg) -> Arg;

    /// The value given on the command line, if any.
    fn given(m: &ArgMatches, id: &str) -> Option<Self>;

    /// The value as a number, for its range; `None` for what is no number.
    fn number(&self) -> Option<u64> {
        None
    }
}

/// A value clap parses into `T` and keeps as it is.
fn one<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Option<T> {
    m.try_get_one::<T>(id).ok().flatten().cloned()
}

impl Kind for String {
    const WHAT: &'static str = "a string in quotes";
    fn takes(arg: Arg) -> Arg {
        arg.value_parser(value_parser!(String))
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        one(m, id)
    }
}

impl Kind for PathBuf {
    const WHAT: &'static str = "a path in quotes";
    fn takes(arg: Arg) -> Arg {
        arg.value_parser(value_parser!(PathBuf))
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        one(m, id)
    }
}

/// On the command line a flag: present is `true`, absent is not given (so
/// that the conf file's value stands).
impl Kind for bool {
    const WHAT: &'static str = "true or false";
    fn takes(arg: Arg) -> Arg {
        arg.action(ArgAction::SetTrue)
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        m.get_flag(id).then_some(true)
    }
}

/// Every `u64` option is a duration.
impl Kind for u64 {
    const WHAT: &'static str = "a number of seconds";
    fn takes(arg: Arg) -> Arg {
        arg.value_parser(value_parser!(u64))
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        one(m, id)
    }
    fn number(&self) -> Option<u64> {
        Some(*self)
    }
}

/// Every `usize` option is a size or a count.
impl Kind for usize {
    const WHAT: &'static str = "a whole number";
    fn takes(arg: Arg) -> Arg {
        arg.value_parser(value_parser!(usize))
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        one(m, id)
    }
    fn number(&self) -> Option<u64> {
        // Never wider than u64 on any target Rust supports.
        Some(u64::try_from(*self).unwrap_or(u64::MAX))
    }
}

/// Sizes that may pass 4 GiB on 32-bit systems too, and days.
impl Kind for Number {
    const WHAT: &'static str = "a whole number";
    fn takes(arg: Arg) -> Arg {
        arg.value_parser(value_parser!(u64))
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        one(m, id).map(Number)
    }
    fn number(&self) -> Option<u64> {
        Some(self.0)
    }
}

/// Repeatable on the command line; each value may itself be a list
/// separated by spaces or commas, as in the conf file.
impl Kind for OneOrMany {
    const WHAT: &'static str = "a string or a list of strings";
    fn takes(arg: Arg) -> Arg {
        arg.value_parser(value_parser!(String))
            .action(ArgAction::Append)
    }
    fn given(m: &ArgMatches, id: &str) -> Option<Self> {
        let mut all: Vec<String> = m.try_get_many(id).ok()??.cloned().collect();
        match all.len() {
            0 => None,
            1 => all.pop().map(OneOrMany::One),
            _ => Some(OneOrMany::Many(all)),
        }
    }
}

/// Tables exist in conf files only.
impl Kind for BTreeMap<String, UserEntry> {
    const WHAT: &'static str = "a table per user";
    fn takes(arg: Arg) -> Arg {
        arg
    }
    fn given(_: &ArgMatches, _: &str) -> Option<Self> {
        None
    }
}

/// What a key's value must look like: its kind and an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The kind, from the key's type.
    pub what: &'static str,
    /// A value that works, as written in a conf file; or, for a table,
    /// how to write it.
    pub example: &'static str,
}

impl Expected {
    /// "expected a number of seconds, such as heartbeat = 20".
    pub fn describe(&self, key: &str) -> String {
        let (what, example) = (self.what, self.example);
        if example.starts_with('[') {
            format!("expected {what}, such as {example}")
        } else {
            format!("expected {what}, such as {key} = {example}")
        }
    }
}
