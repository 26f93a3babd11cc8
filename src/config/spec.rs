//! What an option is, besides its name and type: where `--help` lists it,
//! its default as `--help` says it, an example for error messages, its
//! range, and whether its value is a secret. Each option's `Spec` is written
//! once, in its `options!` entry (`options.rs`), next to its doc comment,
//! which is its `--help` text; the command line, the conf file's messages,
//! the ranges and the secret masking all read it from there.

use std::fmt::Display;

use clap::Arg;

use super::bounds::Range;

/// One option's description (see the module doc).
#[derive(Debug, Clone)]
pub struct Spec {
    /// The `--help` heading; `None` for a conf-file-only key (the
    /// positional addresses and tables).
    pub heading: Option<&'static str>,
    /// The value's placeholder in `--help`, e.g. `SECONDS`.
    pub value_name: Option<&'static str>,
    /// A one-letter spelling, e.g. `-v`.
    pub short: Option<char>,
    /// The default as `--help` shows it, when there is one to show.
    pub default: Option<String>,
    /// A value the key takes, as written in a conf file (for the message
    /// that a value has the wrong type).
    pub example: &'static str,
    /// The range of a number.
    pub range: Option<Range>,
    /// The value may hold a password or a key: never shown.
    pub secret: bool,
    /// Accepted but left out of `--help` (Python options that are refused).
    pub hidden: bool,
}

impl Spec {
    /// A key of the conf file only, with a value it takes.
    pub fn new(example: &'static str) -> Self {
        Self {
            heading: None,
            value_name: None,
            short: None,
            default: None,
            example,
            range: None,
            secret: false,
            hidden: false,
        }
    }

    /// Also a long option, listed under `heading` in `--help`.
    pub fn cli(self, heading: &'static str) -> Self {
        Self {
            heading: Some(heading),
            ..self
        }
    }

    /// The value's placeholder in `--help`.
    pub fn value(self, name: &'static str) -> Self {
        Self {
            value_name: Some(name),
            ..self
        }
    }

    /// A one-letter spelling too.
    pub fn short(self, c: char) -> Self {
        Self {
            short: Some(c),
            ..self
        }
    }

    /// The default `--help` shows: a constant of `defaults`, or words where
    /// it depends on something else.
    pub fn default(self, value: impl Display) -> Self {
        Self {
            default: Some(value.to_string()),
            ..self
        }
    }

    /// The range of a number (`bounds`).
    pub fn range(self, range: Range) -> Self {
        Self {
            range: Some(range),
            ..self
        }
    }

    /// The value may hold a password or a key.
    pub fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }

    /// Hidden from `--help`.
    pub fn hidden(self) -> Self {
        Self {
            hidden: true,
            ..self
        }
    }

    /// The long option `--KEY` (none for a conf-only key), its help the
    /// doc comment's lines as one paragraph and the default after it.
    pub fn arg(&self, key: &'static str, doc: &str) -> Option<Arg> {
        let heading = self.heading?;
        let text = doc.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        let text = text.trim();
        // As clap's derive does: no full stop after a lone sentence.
        let help = match &self.default {
            Some(default) => format!("{text} [default: {default}]"),
            None => text.strip_suffix('.').unwrap_or(text).to_owned(),
        };
        let mut arg = Arg::new(key)
            .long(key)
            .help(help)
            .help_heading(heading)
            .hide(self.hidden);
        if let Some(name) = self.value_name {
            arg = arg.value_name(name);
        }
        if let Some(c) = self.short {
            arg = arg.short(c);
        }
        Some(arg)
    }
}
