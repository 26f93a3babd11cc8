//! What a conf key's value must look like, for the message that a value
//! has the wrong type: the kind, from the key's type (`Kind`), and an
//! example, given with the key in `options!`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::options::{Number, OneOrMany, UserEntry};

/// The kind of value a conf key takes, in the words of websockify.conf(5).
pub trait Kind {
    /// E.g. "a number of seconds".
    const WHAT: &'static str;
}

impl Kind for String {
    const WHAT: &'static str = "a string in quotes";
}

impl Kind for PathBuf {
    const WHAT: &'static str = "a path in quotes";
}

impl Kind for bool {
    const WHAT: &'static str = "true or false";
}

/// Every `u64` option is a duration.
impl Kind for u64 {
    const WHAT: &'static str = "a number of seconds";
}

/// Every `usize` option is a size or a count.
impl Kind for usize {
    const WHAT: &'static str = "a whole number";
}

/// Sizes that may pass 4 GiB on 32-bit systems too, and days.
impl Kind for Number {
    const WHAT: &'static str = "a whole number";
}

impl Kind for OneOrMany {
    const WHAT: &'static str = "a string or a list of strings";
}

impl Kind for BTreeMap<String, UserEntry> {
    const WHAT: &'static str = "a table per user";
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
