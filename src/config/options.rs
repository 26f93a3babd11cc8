//! Every option, described once: its `options!` entry below gives the
//! field of `Options` (the raw values, from a conf file whose keys are the
//! long option names, or from the command line, which wins), its conf key,
//! its doc comment (which is its `--help` text) and its `Spec` (heading,
//! default, example, range, secret). From that one list come the conf
//! file's keys and their messages, the command line (`Options` is the
//! `clap::Args` that `Cli` flattens), the ranges `bounds` checks, the
//! "did you mean" list and the masking of secrets. Adding an option is one
//! entry here (and its man page entries, which tests/it/man.rs checks).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use clap::{ArgMatches, Command};
use serde::Deserialize;

use super::bounds::{bytes, count, days, secs, Range, DAY, HOUR, YEAR};
use super::kind::{Expected, Kind};
use super::spec::Spec;
use crate::defaults;

pub use super::conf_file::{ConfError, ConfFile, Merged, Origin};

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

/// Policy, not memory (messages stream through): beyond any message a VNC
/// client sends, and beyond the 1 GiB ones scripts/bench sends.
const MESSAGE_SIZE: Range = bytes(1, 1 << 40, "leave it out for no limit");
/// Below a frame of a small screen a recording says nothing.
const RECORD_SIZE: Range = bytes(1 << 10, 1 << 40, "");
/// A petabyte: beyond any disk, far below an overflow of the sum.
const RECORD_TOTAL: Range = bytes(0, 1 << 50, "0: no cap");

/// Defines `Options`, the list of its keys, each key's `Spec` and the
/// per-key helpers, from one list so they cannot drift apart (see the
/// module doc).
macro_rules! options {
    ($( $(#[doc = $doc:literal])* $field:ident: $ty:ty => $key:literal = $spec:expr, )*) => {
        /// Raw option values; `None` where not given. `Debug` shows secret
        /// values as `<redacted>`.
        #[derive(Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct Options {
            $( $(#[doc = $doc])* pub $field: Option<$ty>, )*
        }

        /// Every key `Options` accepts (for the man page test and messages).
        pub const KEYS: &[&str] = &[$($key),*];

        /// The description of the option called `key`, if it is one.
        pub fn spec(key: &str) -> Option<Spec> {
            match key {
                $( $key => Some($spec), )*
                _ => None,
            }
        }

        /// What the value of `key` must look like, if `key` is one.
        pub fn expected(key: &str) -> Option<Expected> {
            match key {
                $( $key => Some(Expected {
                    what: <$ty as Kind>::WHAT,
                    example: spec(key)?.example,
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
                    if is_secret($key) {
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

            /// The value of `key` as a number, if it has a numeric one.
            pub fn number(&self, key: &str) -> Option<u64> {
                match key {
                    $( $key => self.$field.as_ref().and_then(Kind::number), )*
                    _ => None,
                }
            }
        }

        impl clap::FromArgMatches for Options {
            fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
                Ok(Options { $( $field: <$ty as Kind>::given(m, $key), )* })
            }

            fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(m)?;
                Ok(())
            }
        }

        /// The long options, in this list's order.
        impl clap::Args for Options {
            fn augment_args(cmd: Command) -> Command {
                let args = [$(
                    spec($key)
                        .and_then(|s| s.arg($key, concat!($($doc, "\n",)*)))
                        .map(<$ty as Kind>::takes),
                )*];
                cmd.args(args.into_iter().flatten())
            }

            fn augment_args_for_update(cmd: Command) -> Command {
                Self::augment_args(cmd)
            }
        }
    };
}

/// Whether the value of `key` may hold a password or a key (`user:password`,
/// a Redis password, a URL with credentials): never shown.
pub fn is_secret(key: &str) -> bool {
    spec(key).is_some_and(|s| s.secret)
}

options! {
    /// `[addr:]port` to listen on (socket activation replaces it).
    listen: OneOrMany => "listen" = Spec::new(r#""6080""#),
    /// Each user's own target and VNC password: `[users.NAME]` tables (conf file only).
    users: BTreeMap<String, UserEntry> => "users" = Spec::new(r#"[users.alice] with target = "localhost:5901""#),
    /// Where each WebSocket session is relayed: HOST:PORT or [V6ADDR]:PORT.
    target: String => "target" = Spec::new(r#""localhost:5901""#),
    /// Log debug messages too (each HTTP request, TLS and handshake failures).
    verbose: bool => "verbose" = Spec::new("true").cli("General").short('v'),
    /// Listen on this unix socket (a socket left there is replaced, anything else refused).
    unix_listen: PathBuf => "unix-listen" = Spec::new(r#""/run/websockify/display1/ws.sock""#)
        .cli("Listening")
        .value("FILE")
        .default("none"),
    /// Mode of the --unix-listen socket, octal.
    unix_listen_mode: String => "unix-listen-mode" = Spec::new(r#""0660""#)
        .cli("Listening")
        .value("MODE")
        .default("0600"),
    /// Use the listening socket on standard input (inetd, systemd StandardInput=socket).
    inetd: bool => "inetd" = Spec::new("true").cli("Listening"),
    /// Prefer IPv6 when resolving the listen address (every resolved address is bound anyway).
    prefer_ipv6: bool => "prefer-ipv6" = Spec::new("true").cli("Listening").short('6'),
    /// Relay to this unix socket instead of a TCP target.
    unix_target: PathBuf => "unix-target" = Spec::new(r#""/run/vnc/display1.sock""#)
        .cli("Target")
        .value("FILE")
        .default("none"),
    /// Connect to the target over TLS, verified against the system's CAs.
    ssl_target: bool => "ssl-target" = Spec::new("true").cli("Target"),
    /// Close a session with 1011 when its target does not open with an RFB (VNC) version within
    /// --connect-timeout.
    require_rfb: bool => "require-rfb" = Spec::new("true").cli("Target"),
    /// The target VNC server's password file (text or vncpasswd; credential:NAME): the proxy
    /// answers VNC Authentication, the browser gets none. Needs access control.
    vnc_password_file: PathBuf => "vnc-password-file" = Spec::new(r#""/etc/websockify/display1.vncpass""#)
        .cli("Target")
        .value("FILE"),
    /// Seconds to wait for a TCP connection to each address of the target.
    connect_timeout: u64 => "connect-timeout" = Spec::new("5")
        .cli("Target")
        .value("SECONDS")
        .default(defaults::CONNECT_TIMEOUT.as_secs())
        .range(secs(1, HOUR, "")),
    /// Serve static files (e.g. noVNC, /usr/share/novnc) from DIR on the same port. "/" serves
    /// index.html, or vnc.html when there is none; never a directory listing.
    web: PathBuf => "web" = Spec::new(r#""/usr/share/novnc""#)
        .cli("Web pages")
        .value("DIR")
        .default("none: no web pages"),
    /// Accepted for compatibility: directory listings are always off.
    file_only: bool => "file-only" = Spec::new("true").cli("Web pages"),
    /// Apply --auth-plugin to the static web pages too.
    web_auth: bool => "web-auth" = Spec::new("true").cli("Web pages"),
    /// TLS certificate chain (PEM); may also contain the private key.
    cert: PathBuf => "cert" = Spec::new(r#""/etc/websockify/ssl/websockify.crt""#)
        .cli("TLS")
        .value("FILE")
        .default("none: no TLS"),
    /// TLS private key (PEM) when it is not in the --cert file.
    key: PathBuf => "key" = Spec::new(r#""/etc/websockify/ssl/websockify.key""#)
        .cli("TLS")
        .value("FILE")
        .default("in the --cert file"),
    /// Refuse plain (non-TLS) connections. Without it, plain and TLS clients share the port.
    ssl_only: bool => "ssl-only" = Spec::new("true").cli("TLS"),
    /// Lowest TLS version accepted: default (TLS 1.2), tlsv1_2 or tlsv1_3 (tlsv1_1 is refused:
    /// rustls has no TLS 1.1).
    ssl_version: String => "ssl-version" = Spec::new(r#""tlsv1_2""#)
        .cli("TLS")
        .value("VERSION")
        .default("default"),
    /// Allowed TLS cipher suites, OpenSSL names separated by ':' (e.g.
    /// ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256); unknown names are an error.
    ssl_ciphers: String => "ssl-ciphers" = Spec::new(r#""TLS13_AES_256_GCM_SHA384""#)
        .cli("TLS")
        .value("LIST")
        .default("every suite of rustls's safe profile"),
    /// Require clients to present a certificate signed by --cafile.
    verify_client: bool => "verify-client" = Spec::new("true").cli("TLS"),
    /// CA certificates (PEM) for --verify-client.
    cafile: PathBuf => "cafile" = Spec::new(r#""/etc/websockify/clients-ca.pem""#)
        .cli("TLS")
        .value("FILE")
        .default("the system's CAs"),
    /// Get and renew a certificate for NAME from the ACME CA instead of --cert/--key (repeatable:
    /// one certificate for every name).
    acme_domain: OneOrMany => "acme-domain" = Spec::new(r#""vnc.example.com""#)
        .cli("ACME")
        .value("NAME")
        .default("none"),
    /// Contact address of the ACME account.
    acme_email: String => "acme-email" = Spec::new(r#""admin@example.com""#)
        .cli("ACME")
        .value("EMAIL")
        .default("none"),
    /// ACME directory URL.
    acme_directory: String => "acme-directory" = Spec::new(r#""https://acme-v02.api.letsencrypt.org/directory""#)
        .cli("ACME")
        .value("URL")
        .default(crate::tls::acme::LETS_ENCRYPT),
    /// CA certificates (PEM) to trust for the ACME server itself.
    acme_ca: PathBuf => "acme-ca" = Spec::new(r#""/etc/websockify/acme-ca.pem""#)
        .cli("ACME")
        .value("FILE")
        .default("the system's CAs"),
    /// Directory for the ACME account and certificates (mode 0600 files).
    acme_state: PathBuf => "acme-state" = Spec::new(r#""/var/lib/websockify/acme""#)
        .cli("ACME")
        .value("DIR")
        .default("$STATE_DIRECTORY/acme, else /var/lib/websockify/acme"),
    /// Answer HTTP-01 challenges on this plain listener (PORT or ADDR:PORT, normally 80) instead of
    /// TLS-ALPN-01 on the TLS port.
    acme_http_listen: String => "acme-http-listen" = Spec::new(r#""80""#)
        .cli("ACME")
        .value("ADDR")
        .default("off"),
    /// Route each session by a token: TokenFile, ReadOnlyTokenFile, TokenFileName, BaseTokenAPI,
    /// JSONTokenApi, JWTTokenApi, TokenRedis or UnixDomainSocketDirectory.
    token_plugin: String => "token-plugin" = Spec::new(r#""TokenFile""#)
        .cli("Tokens")
        .value("CLASS")
        .default("none: every session goes to TARGET_ADDR:TARGET_PORT"),
    /// Argument of --token-plugin (file, directory, URL, key file or Redis address).
    token_source: String => "token-source" = Spec::new(r#""/etc/websockify/desktops.tokens""#)
        .cli("Tokens")
        .value("ARG")
        .default("none")
        .secret(),
    /// Take the token from the Host header instead of `?token=`.
    host_token: bool => "host-token" = Spec::new("true").cli("Tokens"),
    /// Deprecated: same as --token-plugin TokenFile --token-source FILE.
    target_config: PathBuf => "target-config" = Spec::new(r#""/etc/websockify/desktops.tokens""#)
        .cli("Tokens")
        .value("FILE")
        .default("none"),
    /// Check each WebSocket request: BasicHTTPAuth, ExpectOrigin or ClientCertCNAuth.
    auth_plugin: String => "auth-plugin" = Spec::new(r#""BasicHTTPAuth""#)
        .cli("Access control")
        .value("CLASS")
        .default("none: no authentication"),
    /// Argument of --auth-plugin (user:password, origins, or client certificate CNs).
    auth_source: String => "auth-source" = Spec::new(r#""user:password""#)
        .cli("Access control")
        .value("ARG")
        .default("none")
        .secret(),
    /// HTTP Basic auth from an Apache htpasswd file (bcrypt, SHA-crypt, APR1, SHA1 lines).
    auth_file: PathBuf => "auth-file" = Spec::new(r#""/etc/websockify/htpasswd""#)
        .cli("Access control")
        .value("FILE")
        .default("none"),
    /// Only these users may use this instance, separated by spaces or commas (user names as the
    /// auth plugin gives them).
    allowed_users: OneOrMany => "allowed-users" = Spec::new(r#"["alice", "bob"]"#)
        .cli("Access control")
        .value("USERS")
        .default("every user of the auth plugin"),
    /// Forward authentication (nginx auth_request semantics): ask this http(s) URL about every
    /// page request and upgrade, with the browser's cookies; 2xx lets in, 401 means sign in first.
    auth_request: String => "auth-request" = Spec::new(r#""http://127.0.0.1:4180/oauth2/auth""#)
        .cli("Access control")
        .value("URL")
        .default("none")
        .secret(),
    /// Where --auth-request sends page requests that are not signed in (302, with the page's URL
    /// as rd=).
    auth_request_signin: String => "auth-request-signin" = Spec::new(r#""https://vnc.example.com/oauth2/start""#)
        .cli("Access control")
        .value("URL")
        .default("none: 401"),
    /// The header of --auth-request's 2xx answer that names the user.
    auth_request_user_header: String => "auth-request-user-header" = Spec::new(r#""Remote-User""#)
        .cli("Access control")
        .value("NAME")
        .default(crate::access::forward_auth::DEFAULT_USER_HEADER),
    /// The header of --auth-request's 2xx answer that lists the user's groups, separated by
    /// commas.
    auth_request_groups_header: String => "auth-request-groups-header" = Spec::new(r#""Remote-Groups""#)
        .cli("Access control")
        .value("NAME")
        .default(crate::access::forward_auth::DEFAULT_GROUPS_HEADER),
    /// Only members of these groups (separated by spaces or commas, as the auth service names
    /// them) may come in with --auth-request; others get 403.
    auth_request_allowed_groups: OneOrMany => "auth-request-allowed-groups" = Spec::new(r#"["vnc-users"]"#)
        .cli("Access control")
        .value("GROUPS")
        .default("every user the auth service lets in"),
    /// Seconds to wait for --auth-request's answer (and a free slot for the sub-request) before
    /// the request gets 503.
    auth_request_timeout: u64 => "auth-request-timeout" = Spec::new("3")
        .cli("Access control")
        .value("SECONDS")
        .default(defaults::AUTH_REQUEST_TIMEOUT.as_secs())
        .range(secs(1, 60, "")),
    /// The user as a front end in --trusted-proxies names it in this request header
    /// (X-Remote-User, say); ignored from any other peer.
    trusted_user_header: String => "trusted-user-header" = Spec::new(r#""X-Remote-User""#)
        .cli("Access control")
        .value("NAME")
        .default("none"),
    /// Log users in with this OpenID Connect provider (https; http only on loopback).
    oidc_issuer: String => "oidc-issuer" = Spec::new(r#""https://sso.example.com/realms/desk""#)
        .cli("OpenID Connect")
        .value("URL")
        .default("none"),
    /// The client id registered at the provider.
    oidc_client_id: String => "oidc-client-id" = Spec::new(r#""websockify""#)
        .cli("OpenID Connect")
        .value("ID")
        .default("none"),
    /// File holding the client secret, or credential:NAME.
    oidc_client_secret_file: PathBuf => "oidc-client-secret-file" = Spec::new(r#""/etc/websockify/oidc-secret""#)
        .cli("OpenID Connect")
        .value("FILE")
        .default("none"),
    /// Only members of these groups may log in, separated by spaces or commas.
    oidc_allowed_groups: OneOrMany => "oidc-allowed-groups" = Spec::new(r#"["desk", "admins"]"#)
        .cli("OpenID Connect")
        .value("GROUPS")
        .default("every user of the provider"),
    /// The ID token claim naming the user.
    oidc_user_claim: String => "oidc-user-claim" = Spec::new(r#""email""#)
        .cli("OpenID Connect")
        .value("CLAIM")
        .default(crate::access::oidc::settings::USER_CLAIM),
    /// The ID token claim listing the user's groups.
    oidc_groups_claim: String => "oidc-groups-claim" = Spec::new(r#""roles""#)
        .cli("OpenID Connect")
        .value("CLAIM")
        .default(crate::access::oidc::settings::GROUPS_CLAIM),
    /// The callback URL registered at the provider.
    oidc_redirect_url: String => "oidc-redirect-url" = Spec::new(r#""https://vnc.example.com/oidc/callback""#)
        .cli("OpenID Connect")
        .value("URL")
        .default("/oidc/callback under the address the browser used"),
    /// The scopes asked for, separated by spaces.
    oidc_scopes: String => "oidc-scopes" = Spec::new(r#""openid profile groups""#)
        .cli("OpenID Connect")
        .value("SCOPES")
        .default(format!("\"{}\"", crate::access::oidc::settings::SCOPES)),
    /// Origins allowed to open sessions, separated by spaces or commas, or "*".
    allowed_origins: OneOrMany => "allowed-origins" = Spec::new(r#""https://vnc.example.com""#)
        .cli("Access control")
        .value("ORIGINS")
        .default("the origin of the page, i.e. scheme://Host"),
    /// Host names this instance answers to (others get 421), separated by spaces or commas, or "*".
    server_names: OneOrMany => "server-names" = Spec::new(r#"["vnc.example.com", "*.example.org"]"#)
        .cli("Access control")
        .value("NAMES")
        .default("the certificate's names, acme-domain, this host's name and localhost; any name behind trusted proxies or with --host-token"),
    /// Proxies (addresses or CIDRs, separated by spaces or commas) whose
    /// X-Forwarded-For/-Proto/-Host, Forwarded and PROXY headers are believed (over TCP; see
    /// --trusted-unix-peers).
    trusted_proxies: OneOrMany => "trusted-proxies" = Spec::new(r#""127.0.0.1/32""#)
        .cli("Access control")
        .value("CIDRS")
        .default("none"),
    /// Users (names or uids, separated by spaces or commas) whose connections to --unix-listen are
    /// believed as a trusted proxy's.
    trusted_unix_peers: OneOrMany => "trusted-unix-peers" = Spec::new(r#""www-data""#)
        .cli("Access control")
        .value("USERS")
        .default("none"),
    /// Trusted proxies send a PROXY protocol v1/v2 header before anything else.
    proxy_protocol: bool => "proxy-protocol" = Spec::new("true").cli("Access control"),
    /// Send a WebSocket ping every SECONDS and close sessions whose peer stops answering; 0 turns
    /// it off. Keeps sessions alive behind reverse proxies.
    heartbeat: u64 => "heartbeat" = Spec::new("20")
        .cli("Limits")
        .value("SECONDS")
        .default(defaults::HEARTBEAT_SECS)
        .range(secs(0, DAY, "0 turns heartbeats off")),
    /// Seconds a client has to finish the TLS handshake and send its HTTP request.
    handshake_timeout: u64 => "handshake-timeout" = Spec::new("10")
        .cli("Limits")
        .value("SECONDS")
        .default(defaults::HANDSHAKE_TIMEOUT.as_secs())
        .range(secs(1, HOUR, "")),
    /// Largest WebSocket message accepted from a client, in payload bytes after base64 decoding
    /// (bigger: close 1009).
    max_message_size: usize => "max-message-size" = Spec::new("16777216")
        .cli("Limits")
        .value("BYTES")
        .default("no limit")
        .range(MESSAGE_SIZE),
    /// Largest HTTP request head accepted (at least 8192).
    max_header_size: usize => "max-header-size" = Spec::new("16384")
        .cli("Limits")
        .value("BYTES")
        .default(defaults::MAX_HEADER_SIZE)
        .range(bytes(8192, 1 << 20, "")),
    /// Most connections at once (further ones are closed at once); 0: no cap.
    max_connections: usize => "max-connections" = Spec::new("1000")
        .cli("Limits")
        .value("N")
        .default("the open-file limit less 64, halved")
        .range(count()),
    /// Most connections at once from one client address (IPv6: per /64; further ones get 503); 0:
    /// no cap.
    max_connections_per_client: usize => "max-connections-per-client" = Spec::new("64")
        .cli("Limits")
        .value("N")
        .default(defaults::MAX_CONNECTIONS_PER_CLIENT)
        .range(count()),
    /// Most sessions at once to one target (e.g. 1: one desktop, one viewer); 0: no cap.
    max_sessions_per_target: usize => "max-sessions-per-target" = Spec::new("4")
        .cli("Limits")
        .value("N")
        .default("no cap")
        .range(count()),
    /// Serve /metrics, /healthz and /readyz on ADDR (host:port or a unix socket path; repeatable);
    /// never on the public listener.
    metrics_listen: OneOrMany => "metrics-listen" = Spec::new(r#""127.0.0.1:9180""#)
        .cli("Metrics and health")
        .value("ADDR")
        .default("off"),
    /// On SIGTERM, fail health checks for SECONDS while still accepting, so a load balancer moves
    /// new users elsewhere first.
    drain_delay: u64 => "drain-delay" = Spec::new("5")
        .cli("Metrics and health")
        .value("SECONDS")
        .default(0)
        .range(secs(0, HOUR, "")),
    /// Answer `websockifyctl sessions|kill|drain|reload` on this unix socket (mode 0660).
    control_socket: PathBuf => "control-socket" = Spec::new(r#""/run/websockify/display1/control.sock""#)
        .cli("Metrics and health")
        .value("PATH")
        .default("off; the unit: /run/websockify/NAME/control.sock"),
    /// Detach from the terminal and run in the background.
    daemon: bool => "daemon" = Spec::new("true").cli("Lifetime").short('D'),
    /// Exit after the first WebSocket session ends.
    run_once: bool => "run-once" = Spec::new("true").cli("Lifetime"),
    /// Stop accepting SECONDS after start and exit once live sessions end (0: never).
    timeout: u64 => "timeout" = Spec::new("3600")
        .cli("Lifetime")
        .value("SECONDS")
        .default(0)
        .range(secs(0, YEAR, "0: never")),
    /// Exit after SECONDS with no live session (0: never).
    idle_timeout: u64 => "idle-timeout" = Spec::new("600")
        .cli("Lifetime")
        .value("SECONDS")
        .default(0)
        .range(secs(0, YEAR, "0: never")),
    /// Seconds live sessions may go on after SIGTERM before they are closed with 1001.
    shutdown_grace: u64 => "shutdown-grace" = Spec::new("30")
        .cli("Lifetime")
        .value("SECONDS")
        .default(defaults::SHUTDOWN_GRACE.as_secs())
        .range(secs(0, HOUR, "")),
    /// Also write log lines to FILE.
    log_file: PathBuf => "log-file" = Spec::new(r#""/var/log/websockify/display1.log""#)
        .cli("Logging and recording")
        .value("FILE")
        .default("none"),
    /// Also log to syslog: a unix socket path (e.g. /dev/log) or UDP HOST:PORT.
    syslog: String => "syslog" = Spec::new(r#""/dev/log""#)
        .cli("Logging and recording")
        .value("SERVER")
        .default("none"),
    /// Use the old BSD syslog format (RFC 3164) instead of RFC 5424.
    legacy_syslog: bool => "legacy-syslog" = Spec::new("true").cli("Logging and recording"),
    /// Print a symbol per WebSocket frame to standard output.
    traffic: bool => "traffic" = Spec::new("true").cli("Logging and recording"),
    /// Record each session's traffic to FILE.N in noVNC's playback format.
    record: PathBuf => "record" = Spec::new(r#""/var/tmp/display1.rec""#)
        .cli("Logging and recording")
        .value("FILE")
        .default("none"),
    /// Record every session to its own file in --record-dir, with an index (index.jsonl) of who,
    /// when, what and its SHA-256.
    record_sessions: bool => "record-sessions" = Spec::new("true").cli("Logging and recording"),
    /// Where --record-sessions writes (made mode 0700).
    record_dir: PathBuf => "record-dir" = Spec::new(r#""/var/lib/websockify/display1/recordings""#)
        .cli("Logging and recording")
        .value("DIR")
        .default("$STATE_DIRECTORY/recordings; the unit: /var/lib/websockify/NAME/recordings"),
    /// Also record what the browser sent: keys and pointer, so everything typed, passwords
    /// included.
    record_input: bool => "record-input" = Spec::new("true")
        .cli("Logging and recording")
        .default("only what the VNC server sent"),
    /// A recording ends at BYTES (with a marker); the session goes on.
    record_max_size: Number => "record-max-size" = Spec::new("268435456")
        .cli("Logging and recording")
        .value("BYTES")
        .default(RECORD_SIZE.said(defaults::RECORD_MAX_SIZE))
        .range(RECORD_SIZE),
    /// Before a new recording, remove the oldest until all take less than BYTES (0: no cap).
    record_max_total: Number => "record-max-total" = Spec::new("10737418240")
        .cli("Logging and recording")
        .value("BYTES")
        .default(RECORD_TOTAL.said(defaults::RECORD_MAX_TOTAL))
        .range(RECORD_TOTAL),
    /// Before a new recording, remove those older than DAYS (0: keep).
    record_max_age: Number => "record-max-age" = Spec::new("90")
        .cli("Logging and recording")
        .value("DAYS")
        .default(defaults::RECORD_MAX_AGE_DAYS)
        .range(days("0 keeps them")),
    /// Deprecated Python server variant; accepted, behaves as without it.
    libserver: bool => "libserver" = Spec::new("true").cli("Compatibility"),
    /// Refused (exit 2; hidden from --help): password of an encrypted --key. Not supported: decrypt
    /// the key instead (`openssl pkey -in enc.pem -out key.pem`); a password on the command line is
    /// visible in `ps`.
    key_password: String => "key-password" = Spec::new(r#""passphrase""#)
        .cli("None")
        .value("PASSWORD")
        .hidden()
        .secret(),
    /// Refused (exit 2; hidden from --help): wrap mode (exit, ignore, respawn), see WRAP_COMMAND.
    wrap_mode: String => "wrap-mode" = Spec::new(r#""exit""#).cli("None").value("MODE").hidden(),
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Options");
        self.debug_fields(&mut d);
        d.finish_non_exhaustive()
    }
}
