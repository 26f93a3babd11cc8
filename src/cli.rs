//! The command line, spelled as Python websockify 0.13 spells it.
//!
//! Only parsing lives here; `config` turns a `Cli` into a validated `Config`.

use std::path::PathBuf;

use clap::Parser;

use crate::limits;

/// WebSocket-to-TCP bridge for noVNC, compatible with Python websockify.
///
/// Listens on [SOURCE_ADDR:]SOURCE_PORT for WebSocket clients (and, with
/// --web, browsers fetching noVNC) and relays each session's bytes to
/// TARGET_ADDR:TARGET_PORT.
#[derive(Debug, Parser)]
#[command(name = "websockify", version, max_term_width = 100)]
pub struct Cli {
    /// Where to listen: a port (all IPv4 and IPv6 addresses), ADDR:PORT or [V6ADDR]:PORT.
    #[arg(value_name = "[SOURCE_ADDR:]SOURCE_PORT")]
    pub listen: String,

    /// Where each WebSocket session is relayed: HOST:PORT or [V6ADDR]:PORT.
    #[arg(value_name = "TARGET_ADDR:TARGET_PORT")]
    pub target: String,

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
    /// answering; 0 turns it off. Keeps sessions alive behind reverse proxies.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::HEARTBEAT_SECS)]
    pub heartbeat: u64,

    /// Seconds a client has to finish the TLS handshake and send its HTTP request.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::HANDSHAKE_TIMEOUT.as_secs())]
    pub handshake_timeout: u64,

    /// Seconds to wait for a TCP connection to each address of the target.
    #[arg(long, value_name = "SECONDS", default_value_t = limits::CONNECT_TIMEOUT.as_secs())]
    pub connect_timeout: u64,

    /// Largest WebSocket message accepted from a client, in bytes (bigger: close 1009).
    #[arg(long, value_name = "BYTES", default_value_t = limits::MAX_MESSAGE_SIZE)]
    pub max_message_size: usize,

    /// Largest HTTP request head accepted, in bytes (bigger: the connection is refused).
    #[arg(long, value_name = "BYTES", default_value_t = limits::MAX_HEADER_SIZE)]
    pub max_header_size: usize,

    /// Log debug messages too (each HTTP request, TLS and handshake failures).
    #[arg(short, long)]
    pub verbose: bool,
}
