//! Option values as given, before validation: from a conf file (TOML whose
//! keys are the long option names) and from the command line, which wins.
//!
//! Every value remembers where it came from, so that a bad value is reported
//! as `/etc/websockify/display1.conf:3: target: ...` or `command line: ...`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::kind::{Expected, Kind};

/// `listen` in a conf file: one address or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `listen = "6080"`
    One(String),
    /// `listen = ["127.0.0.1:6080", "[::1]:6080"]`
    Many(Vec<String>),
}

impl OneOrMany {
    /// The addresses as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A whole number that is not a duration and may pass 4 GiB even where
/// `usize` cannot (`record-max-total`): bytes and days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Number(pub u64);

/// One `[users.NAME]` table: where that user's sessions go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UserEntry {
    /// `host:port` of the user's VNC server (or `unix_socket:PATH`).
    pub target: String,
    /// That server's VNC password, answered by the proxy.
    pub vnc_password_file: Option<PathBuf>,
}

/// Options whose values may hold a password or a key (`user:password`, a
/// Redis password, a URL with credentials): never shown by `Debug`.
pub const SECRET_KEYS: &[&str] = &["auth-source", "token-source", "key-password"];

/// Defines `Options` (every option a conf file may set; keys are the long
/// command-line option names, and any other key is an error), the list of its
/// keys, and the per-key helpers, from one list so they cannot drift apart.
/// Each key comes with an example value, for the message that a value has
/// the wrong type.
macro_rules! options {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty => $key:literal = $example:literal, )*) => {
        /// Raw option values; `None` where not given. `Debug` shows
        /// [`SECRET_KEYS`] as `<redacted>`.
        #[derive(Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct Options {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
        }

        /// Every key `Options` accepts (for the man page test and messages).
        pub const KEYS: &[&str] = &[$($key),*];

        /// What the value of `key` must look like, if `key` is one.
        pub fn expected(key: &str) -> Option<Expected> {
            match key {
                $( $key => Some(Expected {
                    what: <$ty as Kind>::WHAT,
                    example: $example,
                }), )*
                _ => None,
            }
        }

        impl Options {
            /// These values, with `top`'s wherever `top` has one.
            pub fn overlaid_with(&self, top: &Options) -> Options {
                Options { $( $field: top.$field.clone().or_else(|| self.$field.clone()), )* }
            }

            /// Writes the options that have values, secrets masked.
            fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
                $( if let Some(v) = &self.$field {
                    if SECRET_KEYS.contains(&$key) {
                        d.field(stringify!($field), &"<redacted>");
                    } else {
                        d.field(stringify!($field), v);
                    }
                } )*
            }

            /// Whether the option called `key` has a value.
            pub fn is_set(&self, key: &str) -> bool {
                match key {
                    $( $key => self.$field.is_some(), )*
                    _ => false,
                }
            }
        }
    };
}

options! {
    /// `[addr:]port` to listen on (socket activation replaces it).
    listen: OneOrMany => "listen" = r#""6080""#,
    /// `host:port` of the VNC server.
    target: String => "target" = r#""localhost:5901""#,
    /// Static web root.
    web: PathBuf => "web" = r#""/usr/share/novnc""#,
    /// Compatibility no-op: listings are always off.
    file_only: bool => "file-only" = "true",
    /// TLS certificate (PEM), may hold the key.
    cert: PathBuf => "cert" = r#""/etc/websockify/ssl/websockify.crt""#,
    /// TLS key (PEM).
    key: PathBuf => "key" = r#""/etc/websockify/ssl/websockify.key""#,
    /// Password of an encrypted key (refused: see `config`).
    key_password: String => "key-password" = r#""passphrase""#,
    /// Refuse plain connections.
    ssl_only: bool => "ssl-only" = "true",
    /// Lowest TLS version accepted from clients.
    ssl_version: String => "ssl-version" = r#""tlsv1_2""#,
    /// OpenSSL-style cipher list, mapped to rustls suites.
    ssl_ciphers: String => "ssl-ciphers" = r#""TLS13_AES_256_GCM_SHA384""#,
    /// Require a client certificate signed by `cafile`.
    verify_client: bool => "verify-client" = "true",
    /// CA bundle for client certificates.
    cafile: PathBuf => "cafile" = r#""/etc/websockify/clients-ca.pem""#,
    /// Names to get an ACME certificate for (instead of `cert`/`key`).
    acme_domain: OneOrMany => "acme-domain" = r#""vnc.example.com""#,
    /// Contact address of the ACME account.
    acme_email: String => "acme-email" = r#""admin@example.com""#,
    /// ACME directory URL (default: Let's Encrypt).
    acme_directory: String => "acme-directory" = r#""https://acme-v02.api.letsencrypt.org/directory""#,
    /// CAs (PEM) to trust for the ACME server itself.
    acme_ca: PathBuf => "acme-ca" = r#""/etc/websockify/acme-ca.pem""#,
    /// Where the ACME account and certificates are kept.
    acme_state: PathBuf => "acme-state" = r#""/var/lib/websockify/acme""#,
    /// Plain listener answering HTTP-01 challenges.
    acme_http_listen: String => "acme-http-listen" = r#""80""#,
    /// Connect to the target over TLS.
    ssl_target: bool => "ssl-target" = "true",
    /// Close sessions whose target does not open with an RFB version.
    require_rfb: bool => "require-rfb" = "true",
    /// The target VNC server's password (plain text or vncpasswd), answered by the proxy.
    vnc_password_file: PathBuf => "vnc-password-file" = r#""/etc/websockify/display1.vncpass""#,
    /// Listen on a unix socket instead of (or besides) TCP.
    unix_listen: PathBuf => "unix-listen" = r#""/run/websockify/display1/ws.sock""#,
    /// Mode of the listening unix socket, octal.
    unix_listen_mode: String => "unix-listen-mode" = r#""0660""#,
    /// Relay to a unix socket instead of TCP.
    unix_target: PathBuf => "unix-target" = r#""/run/vnc/display1.sock""#,
    /// Use the socket on standard input (inetd, `StandardInput=socket`).
    inetd: bool => "inetd" = "true",
    /// Prefer IPv6 when resolving the listen address.
    prefer_ipv6: bool => "prefer-ipv6" = "true",
    /// Detach from the terminal.
    daemon: bool => "daemon" = "true",
    /// Exit after the first WebSocket session ends.
    run_once: bool => "run-once" = "true",
    /// Stop accepting this many seconds after start.
    timeout: u64 => "timeout" = "3600",
    /// Exit after this many seconds without a session.
    idle_timeout: u64 => "idle-timeout" = "600",
    /// Ping interval in seconds, 0 = off.
    heartbeat: u64 => "heartbeat" = "20",
    /// Seconds for TLS handshake plus HTTP request head.
    handshake_timeout: u64 => "handshake-timeout" = "10",
    /// Seconds per target address.
    connect_timeout: u64 => "connect-timeout" = "5",
    /// Largest client message in bytes.
    max_message_size: usize => "max-message-size" = "16777216",
    /// Largest HTTP request head in bytes.
    max_header_size: usize => "max-header-size" = "16384",
    /// Seconds live sessions may go on after SIGTERM before they get 1001.
    shutdown_grace: u64 => "shutdown-grace" = "30",
    /// Token plugin (Python class name).
    token_plugin: String => "token-plugin" = r#""TokenFile""#,
    /// Argument of the token plugin.
    token_source: String => "token-source" = r#""/etc/websockify/desktops.tokens""#,
    /// Take the token from the Host header.
    host_token: bool => "host-token" = "true",
    /// Deprecated: `token-plugin = "TokenFile"` with this source.
    target_config: PathBuf => "target-config" = r#""/etc/websockify/desktops.tokens""#,
    /// Auth plugin (Python class name).
    auth_plugin: String => "auth-plugin" = r#""BasicHTTPAuth""#,
    /// Argument of the auth plugin.
    auth_source: String => "auth-source" = r#""user:password""#,
    /// Apply the auth plugin to static files too.
    web_auth: bool => "web-auth" = "true",
    /// Users and password hashes from an Apache htpasswd file (HTTP Basic auth).
    auth_file: PathBuf => "auth-file" = r#""/etc/websockify/htpasswd""#,
    /// Only these users (as the auth plugin names them) may use the instance.
    allowed_users: OneOrMany => "allowed-users" = r#"["alice", "bob"]"#,
    /// Each user's own target and VNC password: `[users.NAME]` tables (conf file only).
    users: BTreeMap<String, UserEntry> => "users" = r#"[users.alice] with target = "localhost:5901""#,
    /// Origins allowed to open sessions, or "*"; default: the page's own.
    allowed_origins: OneOrMany => "allowed-origins" = r#""https://vnc.example.com""#,
    /// Host names the instance answers to, or "*"; default: its own.
    server_names: OneOrMany => "server-names" = r#"["vnc.example.com", "*.example.org"]"#,
    /// Addresses (CIDR) whose X-Forwarded-For, Forwarded and PROXY headers are believed.
    trusted_proxies: OneOrMany => "trusted-proxies" = r#""127.0.0.1/32""#,
    /// Unix-socket peers (user names or uids) believed as trusted proxies are.
    trusted_unix_peers: OneOrMany => "trusted-unix-peers" = r#""www-data""#,
    /// OpenID Connect login: the issuer (https; http only on loopback).
    oidc_issuer: String => "oidc-issuer" = r#""https://sso.example.com/realms/desk""#,
    /// The client id registered at the issuer.
    oidc_client_id: String => "oidc-client-id" = r#""websockify""#,
    /// File holding the client secret (or credential:NAME).
    oidc_client_secret_file: PathBuf => "oidc-client-secret-file" = r#""/etc/websockify/oidc-secret""#,
    /// Groups whose members may log in; default: every user of the issuer.
    oidc_allowed_groups: OneOrMany => "oidc-allowed-groups" = r#"["desk", "admins"]"#,
    /// The ID-token claim naming the user (default preferred_username).
    oidc_user_claim: String => "oidc-user-claim" = r#""email""#,
    /// The ID-token claim listing the groups (default groups).
    oidc_groups_claim: String => "oidc-groups-claim" = r#""roles""#,
    /// The callback URL registered at the issuer (default: /oidc/callback here).
    oidc_redirect_url: String => "oidc-redirect-url" = r#""https://vnc.example.com/oidc/callback""#,
    /// Scopes asked for (default "openid profile").
    oidc_scopes: String => "oidc-scopes" = r#""openid profile groups""#,
    /// Trusted proxies send a PROXY protocol (v1 or v2) header first.
    proxy_protocol: bool => "proxy-protocol" = "true",
    /// Most connections at once (default from the open-file limit; 0: no cap).
    max_connections: usize => "max-connections" = "1000",
    /// Most connections at once from one client address (0: no cap).
    max_connections_per_client: usize => "max-connections-per-client" = "64",
    /// Most sessions at once to one target.
    max_sessions_per_target: usize => "max-sessions-per-target" = "4",
    /// Where /metrics, /healthz and /readyz are served (host:port or a unix path).
    metrics_listen: OneOrMany => "metrics-listen" = r#""127.0.0.1:9180""#,
    /// Seconds between failing health checks and closing the listeners on SIGTERM.
    drain_delay: u64 => "drain-delay" = "5",
    /// A unix socket for `websockifyctl sessions|kill|drain`.
    control_socket: PathBuf => "control-socket" = r#""/run/websockify/display1/control.sock""#,
    /// Also log to this file.
    log_file: PathBuf => "log-file" = r#""/var/log/websockify/display1.log""#,
    /// Also log to syslog: a socket path or UDP host:port.
    syslog: String => "syslog" = r#""/dev/log""#,
    /// Old BSD syslog format.
    legacy_syslog: bool => "legacy-syslog" = "true",
    /// Print frame symbols to stdout.
    traffic: bool => "traffic" = "true",
    /// Record each session to FILE.N in noVNC's playback format.
    record: PathBuf => "record" = r#""/var/tmp/display1.rec""#,
    /// Record every session, one file each, with an index (`record-dir`).
    record_sessions: bool => "record-sessions" = "true",
    /// Where `record-sessions` writes (default: the state directory's recordings/).
    record_dir: PathBuf => "record-dir" = r#""/var/lib/websockify/display1/recordings""#,
    /// Also record what the browser sent (keys, pointer: typed secrets).
    record_input: bool => "record-input" = "true",
    /// Largest recording, in bytes; it ends there and the session goes on.
    record_max_size: Number => "record-max-size" = "268435456",
    /// Most bytes all of an instance's recordings may take (0: no cap).
    record_max_total: Number => "record-max-total" = "10737418240",
    /// Days a recording is kept (0: for ever).
    record_max_age: Number => "record-max-age" = "90",
    /// Deprecated Python server variant: accepted, same behaviour.
    libserver: bool => "libserver" = "true",
    /// What to do when a wrapped program exits (wrap mode is refused).
    wrap_mode: String => "wrap-mode" = r#""exit""#,
    /// Debug logging.
    verbose: bool => "verbose" = "true",
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Options");
        self.debug_fields(&mut d);
        d.finish_non_exhaustive()
    }
}

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
}
