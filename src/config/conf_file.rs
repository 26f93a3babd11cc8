//! Conf files as read (`ConfFile`), merged with the command line
//! (`Merged`), and where each value came from (`Origin`), so that a bad value
//! is reported as `/etc/websockify/display1.conf:3: target: ...` or
//! `command line: ...`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::options::Options;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Not given anywhere: the built-in default.
    Default,
    /// Given on the command line.
    CommandLine,
    /// Given in a conf file, at this line (1-based).
    File(PathBuf, usize),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::CommandLine => write!(f, "command line"),
            Origin::File(path, line) => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// A conf file as read: its options and its text (to find keys' lines).
/// `Debug` shows neither the text nor secret values.
#[derive(Clone)]
pub struct ConfFile {
    /// Path as given.
    pub path: PathBuf,
    /// Parsed options.
    pub options: Options,
    source: String,
}

/// Why a conf file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax, unknown key or wrong type; toml's message names the key.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line of the error (0 when toml gives none).
        line: usize,
        /// toml's description and the offending line, its value hidden
        /// where it may be a secret (`parse_error`).
        message: String,
    },
}

impl fmt::Debug for ConfFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfFile")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ConfFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, ConfError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(path, source)
    }

    /// Parses `source` as the contents of `path`.
    pub fn parse(path: &Path, source: String) -> Result<Self, ConfError> {
        let options = toml::from_str(&source).map_err(|e: toml::de::Error| {
            let (line, message) = super::parse_error::describe(&e, &source);
            ConfError::Parse {
                path: path.display().to_string(),
                line,
                message,
            }
        })?;
        Ok(Self {
            path: path.to_owned(),
            options,
            source,
        })
    }

    /// The 1-based line where top-level `key` is set, if it is.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.source
            .lines()
            .position(|line| {
                let line = line.trim_start();
                let rest = line
                    .strip_prefix(key)
                    .or_else(|| line.strip_prefix(&format!("\"{key}\"")))
                    .or_else(|| line.strip_prefix(&format!("'{key}'")));
                rest.is_some_and(|r| r.trim_start().starts_with('='))
            })
            .map(|i| i + 1)
    }
}

/// The conf file's options with the command line's on top, and where each came from.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// The effective raw values.
    pub options: Options,
    conf: Option<ConfFile>,
    cli: Options,
}

impl Merged {
    /// Command-line values override the conf file's, key by key.
    pub fn new(conf: Option<ConfFile>, cli: Options) -> Self {
        let options = match &conf {
            Some(conf) => conf.options.overlaid_with(&cli),
            None => cli.clone(),
        };
        Self { options, conf, cli }
    }

    /// The conf file, if one was given.
    pub fn conf(&self) -> Option<&ConfFile> {
        self.conf.as_ref()
    }

    /// Where the effective value of `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        if self.cli.is_set(key) {
            return Origin::CommandLine;
        }
        match &self.conf {
            Some(conf) if conf.options.is_set(key) => {
                Origin::File(conf.path.clone(), conf.line_of(key).unwrap_or(0))
            }
            _ => Origin::Default,
        }
    }

    /// Refuses the first of `keys` that is set, when the key they all
    /// belong to (`needed`, e.g. `acme-domain`) is not: what the caller
    /// checks once it knows `needed` is missing.
    pub fn refuse_without(&self, keys: &[&str], needed: &str) -> anyhow::Result<()> {
        match keys.iter().find(|key| self.options.is_set(key)) {
            Some(key) => anyhow::bail!("{}: {key}: `{key}` needs `{needed}`", self.origin(key)),
            None => Ok(()),
        }
    }
}
