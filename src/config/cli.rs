//! The command line, spelled as Python websockify 0.13 spells it, plus
//! `--config FILE` and `--check`. Only parsing lives here: `options` merges it
//! with the conf file and `config` validates the result.

use std::path::PathBuf;

use clap::Parser;

use crate::config::options::{Number, OneOrMany, Options};

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

    /// Log debug messages too (each HTTP request, TLS and handshake failures).
    #[arg(short, long, help_heading = "General")]
    pub verbose: bool,

    /// Print help (a summary with -h, every detail with --help).
    #[arg(short, long, action = clap::ArgAction::Help, help_heading = "General")]
    pub help: Option<bool>,

    /// Print the version.
    #[arg(short = 'V', long, action = clap::ArgAction::Version, help_heading = "General")]
    pub version: Option<bool>,

    /// Listen on this unix socket (a socket left there is replaced, anything
    /// else refused). [default: none]
    #[arg(long, value_name = "FILE", help_heading = "Listening")]
    pub unix_listen: Option<PathBuf>,

    /// Mode of the --unix-listen socket, octal. [default: 0600]
    #[arg(long, value_name = "MODE", help_heading = "Listening")]
    pub unix_listen_mode: Option<String>,

    /// Use the listening socket on standard input (inetd, systemd StandardInput=socket).
    #[arg(long, help_heading = "Listening")]
    pub inetd: bool,

    /// Prefer IPv6 when resolving the listen address (every resolved address is bound anyway).
    #[arg(short = '6', long, help_heading = "Listening")]
    pub prefer_ipv6: bool,

    /// Relay to this unix socket instead of a TCP target. [default: none]
    #[arg(long, value_name = "FILE", help_heading = "Target")]
    pub unix_target: Option<PathBuf>,

    /// Connect to the target over TLS, verified against the system's CAs.
    #[arg(long, help_heading = "Target")]
    pub ssl_target: bool,

    /// Close a session with 1011 when its target does not open with an RFB
    /// (VNC) version within --connect-timeout.
    #[arg(long, help_heading = "Target")]
    pub require_rfb: bool,

    /// The target VNC server's password file (text or vncpasswd; credential:NAME):
    /// the proxy answers VNC Authentication, the browser gets none. Needs access control.
    #[arg(long, value_name = "FILE", help_heading = "Target")]
    pub vnc_password_file: Option<PathBuf>,

    /// Seconds to wait for a TCP connection to each address of the target. [default: 5]
    #[arg(long, value_name = "SECONDS", help_heading = "Target")]
    pub connect_timeout: Option<u64>,

    /// Serve static files (e.g. noVNC, /usr/share/novnc) from DIR on the same port.
    /// "/" serves index.html, or vnc.html when there is none; never a directory listing. [default: none: no web pages]
    #[arg(long, value_name = "DIR", help_heading = "Web pages")]
    pub web: Option<PathBuf>,

    /// Accepted for compatibility: directory listings are always off.
    #[arg(long, help_heading = "Web pages")]
    pub file_only: bool,

    /// Apply --auth-plugin to the static web pages too.
    #[arg(long, help_heading = "Web pages")]
    pub web_auth: bool,

    /// TLS certificate chain (PEM); may also contain the private key. [default: none: no TLS]
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM) when it is not in the --cert file. [default: in the --cert file]
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub key: Option<PathBuf>,

    /// Refuse plain (non-TLS) connections. Without it, plain and TLS clients share the port.
    #[arg(long, help_heading = "TLS")]
    pub ssl_only: bool,

    /// Lowest TLS version accepted: default (TLS 1.2), tlsv1_2 or tlsv1_3 (tlsv1_1 is refused: rustls has no TLS 1.1). [default: default]
    #[arg(long, value_name = "VERSION", help_heading = "TLS")]
    pub ssl_version: Option<String>,

    /// Allowed TLS cipher suites, OpenSSL names separated by ':' (e.g.
    /// ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256); unknown names are an error.
    /// [default: every suite of rustls's safe profile]
    #[arg(long, value_name = "LIST", help_heading = "TLS")]
    pub ssl_ciphers: Option<String>,

    /// Require clients to present a certificate signed by --cafile.
    #[arg(long, help_heading = "TLS")]
    pub verify_client: bool,

    /// CA certificates (PEM) for --verify-client. [default: the system's CAs]
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cafile: Option<PathBuf>,

    /// The --acme-* options (cli_acme.rs).
    #[command(flatten)]
    pub acme: crate::config::cli_acme::AcmeArgs,

    /// The --oidc-* options (cli_oidc.rs).
    #[command(flatten)]
    pub oidc: crate::config::cli_oidc::OidcArgs,
    /// Write a new self-signed certificate to --cert and its key to --key (or
    /// --cert), naming this host's names and addresses, then exit; never overwrites.
    #[arg(long, help_heading = "Certificates")]
    pub generate_cert: bool,

    /// With --generate-cert: a name or address for the certificate, first in
    /// its subject (repeatable; this host's names and addresses are added).
    #[arg(long, value_name = "NAME", help_heading = "Certificates")]
    pub cert_name: Vec<String>,

    /// Route each session by a token: TokenFile, ReadOnlyTokenFile, TokenFileName,
    /// BaseTokenAPI, JSONTokenApi, JWTTokenApi, TokenRedis or UnixDomainSocketDirectory.
    /// [default: none: every session goes to TARGET_ADDR:TARGET_PORT]
    #[arg(long, value_name = "CLASS", help_heading = "Tokens")]
    pub token_plugin: Option<String>,

    /// Argument of --token-plugin (file, directory, URL, key file or Redis address). [default: none]
    #[arg(long, value_name = "ARG", help_heading = "Tokens")]
    pub token_source: Option<String>,

    /// Take the token from the Host header instead of `?token=`.
    #[arg(long, help_heading = "Tokens")]
    pub host_token: bool,

    /// Deprecated: same as --token-plugin TokenFile --token-source FILE. [default: none]
    #[arg(long, value_name = "FILE", help_heading = "Tokens")]
    pub target_config: Option<PathBuf>,

    /// Check each WebSocket request: BasicHTTPAuth, ExpectOrigin or ClientCertCNAuth.
    /// [default: none: no authentication]
    #[arg(long, value_name = "CLASS", help_heading = "Access control")]
    pub auth_plugin: Option<String>,

    /// Argument of --auth-plugin (user:password, origins, or client certificate CNs). [default: none]
    #[arg(long, value_name = "ARG", help_heading = "Access control")]
    pub auth_source: Option<String>,

    /// HTTP Basic auth from an Apache htpasswd file (bcrypt, SHA-crypt, APR1, SHA1 lines).
    /// [default: none]
    #[arg(long, value_name = "FILE", help_heading = "Access control")]
    pub auth_file: Option<PathBuf>,

    /// Only these users may use this instance, separated by spaces or commas
    /// (user names as the auth plugin gives them). [default: every user of the auth plugin]
    #[arg(long, value_name = "USERS", help_heading = "Access control")]
    pub allowed_users: Option<String>,

    /// Origins allowed to open sessions, separated by spaces or commas, or "*".
    /// [default: the origin of the page, i.e. scheme://Host]
    #[arg(long, value_name = "ORIGINS", help_heading = "Access control")]
    pub allowed_origins: Option<String>,

    /// Host names this instance answers to (others get 421), separated by spaces
    /// or commas, or "*". [default: the certificate's names, acme-domain, this
    /// host's name and localhost; any name behind trusted proxies or with --host-token]
    #[arg(long, value_name = "NAMES", help_heading = "Access control")]
    pub server_names: Option<String>,

    /// Proxies (addresses or CIDRs, separated by spaces or commas) whose
    /// X-Forwarded-For/-Proto/-Host, Forwarded and PROXY headers are believed
    /// (over TCP; see --trusted-unix-peers). [default: none]
    #[arg(long, value_name = "CIDRS", help_heading = "Access control")]
    pub trusted_proxies: Option<String>,

    /// Users (names or uids, separated by spaces or commas) whose connections
    /// to --unix-listen are believed as a trusted proxy's. [default: none]
    #[arg(long, value_name = "USERS", help_heading = "Access control")]
    pub trusted_unix_peers: Option<String>,

    /// Trusted proxies send a PROXY protocol v1/v2 header before anything else.
    #[arg(long, help_heading = "Access control")]
    pub proxy_protocol: bool,

    /// Send a WebSocket ping every SECONDS and close sessions whose peer stops
    /// answering; 0 turns it off. Keeps sessions alive behind reverse proxies. [default: 20]
    #[arg(long, value_name = "SECONDS", help_heading = "Limits")]
    pub heartbeat: Option<u64>,

    /// Seconds a client has to finish the TLS handshake and send its HTTP request. [default: 10]
    #[arg(long, value_name = "SECONDS", help_heading = "Limits")]
    pub handshake_timeout: Option<u64>,

    /// Largest WebSocket message accepted from a client, in payload bytes after base64 decoding (bigger: close 1009). [default: no limit]
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub max_message_size: Option<usize>,

    /// Largest HTTP request head accepted (at least 8192). [default: 16384]
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub max_header_size: Option<usize>,

    /// Most connections at once (further ones are closed at once); 0: no cap.
    /// [default: the open-file limit less 64, halved]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_connections: Option<usize>,

    /// Most connections at once from one client address (IPv6: per /64;
    /// further ones get 503); 0: no cap. [default: 64]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_connections_per_client: Option<usize>,

    /// Most sessions at once to one target (e.g. 1: one desktop, one viewer);
    /// 0: no cap. [default: no cap]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_sessions_per_target: Option<usize>,

    /// Serve /metrics, /healthz and /readyz on ADDR (host:port or a unix
    /// socket path; repeatable); never on the public listener. [default: off]
    #[arg(long, value_name = "ADDR", help_heading = "Metrics and health")]
    pub metrics_listen: Vec<String>,

    /// On SIGTERM, fail health checks for SECONDS while still accepting, so a
    /// load balancer moves new users elsewhere first. [default: 0]
    #[arg(long, value_name = "SECONDS", help_heading = "Metrics and health")]
    pub drain_delay: Option<u64>,

    /// Answer `websockifyctl sessions|kill|drain|reload` on this unix socket (mode
    /// 0660). [default: off; the unit: /run/websockify/NAME/control.sock]
    #[arg(long, value_name = "PATH", help_heading = "Metrics and health")]
    pub control_socket: Option<PathBuf>,

    /// Detach from the terminal and run in the background.
    #[arg(short = 'D', long, help_heading = "Lifetime")]
    pub daemon: bool,

    /// Exit after the first WebSocket session ends.
    #[arg(long, help_heading = "Lifetime")]
    pub run_once: bool,

    /// Stop accepting SECONDS after start and exit once live sessions end (0: never). [default: 0]
    #[arg(long, value_name = "SECONDS", help_heading = "Lifetime")]
    pub timeout: Option<u64>,

    /// Exit after SECONDS with no live session (0: never). [default: 0]
    #[arg(long, value_name = "SECONDS", help_heading = "Lifetime")]
    pub idle_timeout: Option<u64>,

    /// Seconds live sessions may go on after SIGTERM before they are closed with 1001. [default: 0]
    #[arg(long, value_name = "SECONDS", help_heading = "Lifetime")]
    pub shutdown_grace: Option<u64>,

    /// Also write log lines to FILE. [default: none]
    #[arg(long, value_name = "FILE", help_heading = "Logging and recording")]
    pub log_file: Option<PathBuf>,

    /// Also log to syslog: a unix socket path (e.g. /dev/log) or UDP HOST:PORT. [default: none]
    #[arg(long, value_name = "SERVER", help_heading = "Logging and recording")]
    pub syslog: Option<String>,

    /// Use the old BSD syslog format (RFC 3164) instead of RFC 5424.
    #[arg(long, help_heading = "Logging and recording")]
    pub legacy_syslog: bool,

    /// Print a symbol per WebSocket frame to standard output.
    #[arg(long, help_heading = "Logging and recording")]
    pub traffic: bool,

    /// Record each session's traffic to FILE.N in noVNC's playback format. [default: none]
    #[arg(long, value_name = "FILE", help_heading = "Logging and recording")]
    pub record: Option<PathBuf>,

    /// Record every session to its own file in --record-dir, with an index
    /// (index.jsonl) of who, when, what and its SHA-256.
    #[arg(long, help_heading = "Logging and recording")]
    pub record_sessions: bool,

    /// Where --record-sessions writes (made mode 0700). [default: $STATE_DIRECTORY/recordings;
    /// the unit: /var/lib/websockify/NAME/recordings]
    #[arg(long, value_name = "DIR", help_heading = "Logging and recording")]
    pub record_dir: Option<PathBuf>,

    /// Also record what the browser sent: keys and pointer, so everything typed,
    /// passwords included. [default: only what the VNC server sent]
    #[arg(long, help_heading = "Logging and recording")]
    pub record_input: bool,

    /// A recording ends at BYTES (with a marker); the session goes on. [default: 268435456, 256 MiB]
    #[arg(long, value_name = "BYTES", help_heading = "Logging and recording")]
    pub record_max_size: Option<u64>,

    /// Before a new recording, remove the oldest until all take less than BYTES
    /// (0: no cap). [default: 10737418240, 10 GiB]
    #[arg(long, value_name = "BYTES", help_heading = "Logging and recording")]
    pub record_max_total: Option<u64>,

    /// Before a new recording, remove those older than DAYS (0: keep). [default: 90]
    #[arg(long, value_name = "DAYS", help_heading = "Logging and recording")]
    pub record_max_age: Option<u64>,

    /// Deprecated Python server variant; accepted, behaves as without it.
    #[arg(long, help_heading = "Compatibility")]
    pub libserver: bool,

    /// Refused (exit 2; hidden from --help): password of an encrypted --key. Not supported: decrypt the key instead
    /// (`openssl pkey -in enc.pem -out key.pem`); a password on the command line is visible in `ps`.
    #[arg(long, value_name = "PASSWORD", hide = true)]
    pub key_password: Option<String>,

    /// Refused (exit 2; hidden from --help): wrap mode (exit, ignore, respawn), see WRAP_COMMAND.
    #[arg(long, value_name = "MODE", hide = true)]
    pub wrap_mode: Option<String>,

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
        let (listen, target) = match (self.inetd, &self.listen, &self.target) {
            (true, Some(only), None) => (None, Some(only.clone())),
            _ => (self.listen.clone(), self.target.clone()),
        };
        Options {
            listen: listen.map(OneOrMany::One),
            target,
            web: self.web.clone(),
            file_only: self.file_only.then_some(true),
            cert: self.cert.clone(),
            key: self.key.clone(),
            ssl_only: self.ssl_only.then_some(true),
            key_password: self.key_password.clone(),
            ssl_version: self.ssl_version.clone(),
            ssl_ciphers: self.ssl_ciphers.clone(),
            verify_client: self.verify_client.then_some(true),
            cafile: self.cafile.clone(),
            ssl_target: self.ssl_target.then_some(true),
            require_rfb: self.require_rfb.then_some(true),
            vnc_password_file: self.vnc_password_file.clone(),
            unix_listen: self.unix_listen.clone(),
            unix_listen_mode: self.unix_listen_mode.clone(),
            unix_target: self.unix_target.clone(),
            inetd: self.inetd.then_some(true),
            prefer_ipv6: self.prefer_ipv6.then_some(true),
            ..self.access_and_limits()
        }
    }

    /// Tokens, auth, trusted proxies and caps (with `lifetime_and_logging`).
    fn access_and_limits(&self) -> Options {
        Options {
            token_plugin: self.token_plugin.clone(),
            token_source: self.token_source.clone(),
            host_token: self.host_token.then_some(true),
            target_config: self.target_config.clone(),
            auth_plugin: self.auth_plugin.clone(),
            auth_source: self.auth_source.clone(),
            auth_file: self.auth_file.clone(),
            allowed_users: self.allowed_users.clone().map(OneOrMany::One),
            web_auth: self.web_auth.then_some(true),
            allowed_origins: self.allowed_origins.clone().map(OneOrMany::One),
            server_names: self.server_names.clone().map(OneOrMany::One),
            trusted_proxies: self.trusted_proxies.clone().map(OneOrMany::One),
            trusted_unix_peers: self.trusted_unix_peers.clone().map(OneOrMany::One),
            proxy_protocol: self.proxy_protocol.then_some(true),
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            max_sessions_per_target: self.max_sessions_per_target,
            metrics_listen: (!self.metrics_listen.is_empty())
                .then(|| OneOrMany::Many(self.metrics_listen.clone())),
            drain_delay: self.drain_delay,
            control_socket: self.control_socket.clone(),
            heartbeat: self.heartbeat,
            handshake_timeout: self.handshake_timeout,
            connect_timeout: self.connect_timeout,
            max_message_size: self.max_message_size,
            max_header_size: self.max_header_size,
            ..self.lifetime_and_logging()
        }
    }

    /// Server lifetime, logging and the rest.
    fn lifetime_and_logging(&self) -> Options {
        Options {
            shutdown_grace: self.shutdown_grace,
            daemon: self.daemon.then_some(true),
            run_once: self.run_once.then_some(true),
            timeout: self.timeout,
            idle_timeout: self.idle_timeout,
            verbose: self.verbose.then_some(true),
            log_file: self.log_file.clone(),
            syslog: self.syslog.clone(),
            legacy_syslog: self.legacy_syslog.then_some(true),
            traffic: self.traffic.then_some(true),
            record: self.record.clone(),
            record_sessions: self.record_sessions.then_some(true),
            record_dir: self.record_dir.clone(),
            record_input: self.record_input.then_some(true),
            record_max_size: self.record_max_size.map(Number),
            record_max_total: self.record_max_total.map(Number),
            record_max_age: self.record_max_age.map(Number),
            libserver: self.libserver.then_some(true),
            wrap_mode: self.wrap_mode.clone(),
            ..self.acme.options().overlaid_with(&self.oidc.options())
        }
    }
}
