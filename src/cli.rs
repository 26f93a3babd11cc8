//! The command line, spelled as Python websockify 0.13 spells it, plus
//! `--config FILE` and `--check`. Only parsing lives here: `options` merges it
//! with the conf file and `config` validates the result.

use std::path::PathBuf;

use clap::Parser;

use crate::options::{OneOrMany, Options};

/// WebSocket-to-TCP bridge for noVNC, compatible with Python websockify.
///
/// Listens on [SOURCE_ADDR:]SOURCE_PORT for WebSocket clients (and, with
/// --web, browsers fetching noVNC) and relays each session's bytes to
/// TARGET_ADDR:TARGET_PORT. Options may also come from a conf file
/// (--config, see websockify.conf(5)); the command line overrides it.
#[derive(Debug, Parser)]
#[command(name = "websockify", version, max_term_width = 100)]
pub struct Cli {
    /// Where to listen: a port (all IPv4 and IPv6 addresses), ADDR:PORT or [V6ADDR]:PORT.
    #[arg(value_name = "[SOURCE_ADDR:]SOURCE_PORT")]
    pub listen: Option<String>,

    /// Where each WebSocket session is relayed: HOST:PORT or [V6ADDR]:PORT.
    #[arg(value_name = "TARGET_ADDR:TARGET_PORT")]
    pub target: Option<String>,

    /// Read options from this TOML file (keys are the long option names).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Validate the options (and conf file, certificate, web root), print the
    /// result and exit: 0 when valid, 1 when not. Nothing is bound.
    #[arg(long)]
    pub check: bool,

    /// Serve static files (e.g. noVNC, /usr/share/novnc) from DIR on the same port.
    /// "/" serves index.html, or vnc.html when there is none; never a directory listing.
    #[arg(long, value_name = "DIR")]
    pub web: Option<PathBuf>,

    /// Accepted for compatibility: directory listings are always off.
    #[arg(long)]
    pub file_only: bool,

    /// TLS certificate chain (PEM); may also contain the private key.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM) when it is not in the --cert file.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Refuse plain (non-TLS) connections. Without it, plain and TLS clients share the port.
    #[arg(long)]
    pub ssl_only: bool,

    /// Send a WebSocket ping every SECONDS and close sessions whose peer stops
    /// answering; 0 turns it off. Keeps sessions alive behind reverse proxies. [default: 20]
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat: Option<u64>,

    /// Seconds a client has to finish the TLS handshake and send its HTTP request. [default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub handshake_timeout: Option<u64>,

    /// Seconds to wait for a TCP connection to each address of the target. [default: 5]
    #[arg(long, value_name = "SECONDS")]
    pub connect_timeout: Option<u64>,

    /// Largest WebSocket message accepted from a client (bigger: close 1009). [default: 16777216]
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,

    /// Largest HTTP request head accepted (at least 8192). [default: 16384]
    #[arg(long, value_name = "BYTES")]
    pub max_header_size: Option<usize>,

    /// Seconds live sessions may go on after SIGTERM before they are closed with 1001. [default: 0]
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,

    /// Log debug messages too (each HTTP request, TLS and handshake failures).
    #[arg(short, long)]
    pub verbose: bool,
}

impl Cli {
    /// The options given on the command line (flags only count when present).
    pub fn options(&self) -> Options {
        Options {
            listen: self.listen.clone().map(OneOrMany::One),
            target: self.target.clone(),
            web: self.web.clone(),
            file_only: self.file_only.then_some(true),
            cert: self.cert.clone(),
            key: self.key.clone(),
            ssl_only: self.ssl_only.then_some(true),
            heartbeat: self.heartbeat,
            handshake_timeout: self.handshake_timeout,
            connect_timeout: self.connect_timeout,
            max_message_size: self.max_message_size,
            max_header_size: self.max_header_size,
            shutdown_grace: self.shutdown_grace,
            verbose: self.verbose.then_some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::limits;

    /// The defaults shown in --help are written by hand (a clap default would
    /// hide whether the conf file set the value): they must match `limits`.
    #[test]
    fn help_defaults_match_the_limits() {
        let cmd = Cli::command();
        let expect = [
            ("heartbeat", limits::HEARTBEAT_SECS.to_string()),
            (
                "handshake_timeout",
                limits::HANDSHAKE_TIMEOUT.as_secs().to_string(),
            ),
            (
                "connect_timeout",
                limits::CONNECT_TIMEOUT.as_secs().to_string(),
            ),
            ("max_message_size", limits::MAX_MESSAGE_SIZE.to_string()),
            ("max_header_size", limits::MAX_HEADER_SIZE.to_string()),
            (
                "shutdown_grace",
                limits::SHUTDOWN_GRACE.as_secs().to_string(),
            ),
        ];
        for (id, default) in expect {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().unwrap().to_string();
            assert!(
                help.ends_with(&format!("[default: {default}]")),
                "{id}: {help}"
            );
        }
    }
}
