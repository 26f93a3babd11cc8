//! The command line, spelled as Python websockify 0.13 spells it, plus
//! `--config FILE` and `--check`. Only parsing lives here: `options` merges it
//! with the conf file and `config` validates the result.

use std::path::PathBuf;

use clap::Parser;

use crate::config::options::{OneOrMany, Options};

/// WebSocket-to-TCP bridge for noVNC, compatible with Python websockify.
///
/// Listens on [SOURCE_ADDR:]SOURCE_PORT for WebSocket clients (and, with
/// --web, browsers fetching noVNC) and relays each session's bytes to
/// TARGET_ADDR:TARGET_PORT. Options may also come from a conf file
/// (--config, see websockify.conf(5)); the command line overrides it.
#[derive(Parser)]
#[command(
    name = "websockify",
    version,
    max_term_width = 100,
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// Where to listen: a port (all IPv4 and IPv6 addresses), ADDR:PORT or [V6ADDR]:PORT.
    #[arg(value_name = "[SOURCE_ADDR:]SOURCE_PORT")]
    pub listen: Option<String>,

    /// Where each WebSocket session is relayed: HOST:PORT or [V6ADDR]:PORT.
    #[arg(value_name = "TARGET_ADDR:TARGET_PORT")]
    pub target: Option<String>,

    /// Read options from this TOML file (keys are the long option names). [default: none]
    #[arg(long, value_name = "FILE", help_heading = "General")]
    pub config: Option<PathBuf>,

    /// Validate the options (and conf file, certificate, web root), try the
    /// listen ports and a fixed target, print warnings and a verdict, and
    /// exit: 0 when valid (with or without warnings), 1 when not.
    #[arg(long, help_heading = "General")]
    pub check: bool,

    /// Print help (a summary with -h, every detail with --help).
    #[arg(short, long, action = clap::ArgAction::Help, help_heading = "General")]
    pub help: Option<bool>,

    /// Print the version.
    #[arg(short = 'V', long, action = clap::ArgAction::Version, help_heading = "General")]
    pub version: Option<bool>,

    /// Every option that is also a conf key (options.rs).
    #[command(flatten)]
    pub options: Options,

    /// Write a new self-signed certificate to --cert and its key to --key (or
    /// --cert), naming this host's names and addresses, then exit; never overwrites.
    #[arg(long, help_heading = "Certificates")]
    pub generate_cert: bool,

    /// With --generate-cert: a name or address for the certificate, first in
    /// its subject (repeatable; this host's names and addresses are added).
    #[arg(long, value_name = "NAME", help_heading = "Certificates")]
    pub cert_name: Vec<String>,

    /// Refused (exit 2; hidden from --help): wrap mode (`-- COMMAND ARGS`, which needs rebind.so).
    #[arg(last = true, value_name = "WRAP_COMMAND", hide = true)]
    pub wrap_command: Vec<String>,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("config", &self.config)
            .field("check", &self.check)
            .field("generate_cert", &self.generate_cert)
            .field("options", &self.options())
            .finish_non_exhaustive()
    }
}

impl Cli {
    /// The options given on the command line (flags only count when present).
    pub fn options(&self) -> Options {
        // With --inetd Python takes the one positional argument as the target.
        let (listen, target) = match (self.options.inetd, &self.listen, &self.target) {
            (Some(true), Some(only), None) => (None, Some(only.clone())),
            _ => (self.listen.clone(), self.target.clone()),
        };
        Options {
            listen: listen.map(OneOrMany::One),
            target,
            ..self.options.clone()
        }
    }
}
