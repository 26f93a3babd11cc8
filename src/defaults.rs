//! Every default limit and timer of the proxy, in one place, with the reason for its value.

use std::time::Duration;

/// Time a client gets from TCP accept to a complete TLS handshake and a complete
/// HTTP request head. Python websockify waits 3 s for the first byte and then
/// forever; 10 s is generous for a browser on a slow link and still stops a
/// slow-loris client from holding sockets open (nginx's CIS benchmark uses 10 s).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest HTTP request head (request line plus headers) we read. Browsers send
/// about 1 KiB to noVNC; 16 KiB leaves room for big cookies behind a reverse
/// proxy (nginx reads up to 4 x 8 KiB) while bounding memory per connection.
pub const MAX_HEADER_SIZE: usize = 16 * 1024;

/// Most header lines in one request, as Python's `http.client` allows.
pub const MAX_HEADERS: usize = 100;

/// Time allowed for a TCP connection to one resolved address of the target.
/// The OS default (about two minutes of SYN retries) would leave noVNC
/// showing "Connecting..." long after the user gave up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Seconds between WebSocket pings. Below nginx's default 60 s
/// `proxy_read_timeout`, which otherwise drops every quiet noVNC session.
pub const HEARTBEAT_SECS: u64 = 20;

/// Time to wait for the peer's reply to our close frame (and for the last
/// client data after the target closed) before dropping the connection.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a session may take to reach a clean point for a hand-over (SIGUSR2):
/// the frame being written to the client finished, what was decoded written to
/// the target. One that cannot (a stalled client or target) is closed with 1012.
pub const PAUSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes read from the target per WebSocket frame sent to the client. The
/// buffer is allocated only once the target socket is readable, so an idle
/// session holds none.
pub const TARGET_READ_CHUNK: usize = 64 * 1024;

/// Bytes read from the client at a time. Frames are decoded and their
/// payload written to the target as they arrive, so this one buffer is all a
/// session holds for the client, whatever size of message it sends; its pages
/// are only touched as far as reads fill them, so idle sessions stay small.
pub const CLIENT_READ_BUFFER: usize = 32 * 1024;

/// The client read buffer a session starts with: noVNC's input events and
/// heartbeat pongs fit, and a session only grows to `CLIENT_READ_BUFFER`
/// once a read fills this, so idle sessions cost little memory.
pub const CLIENT_READ_START: usize = 512;

/// Pings of one client read answered, each with its own pong, as RFC 6455
/// asks (and Autobahn's case 2.10 checks with ten). Past this, the oldest
/// unanswered ones are dropped, as the RFC allows (answering only the most
/// recent is enough), so a ping flood costs at most this many pongs (about
/// 2 KiB) per read.
pub const MAX_QUEUED_PONGS: usize = 16;

/// How long the server waits for sessions to send their close frames on shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long live sessions may go on after SIGTERM before they get 1001. A
/// noVNC session never ends by itself, so waiting only delays a restart:
/// by default they are closed at once and the browser can reconnect.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(0);

/// Password checks (bcrypt, SHA-crypt, APR1 from `auth-file`) run at once: one
/// per core but one, at least one. Each check keeps a core busy for its whole
/// duration, so without a bound a flood of wrong passwords takes every core
/// from the sessions; with it, one core is always left for relaying.
pub fn password_checks() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.saturating_sub(1).max(1)
}

/// How long a request waits for a free password check before it gets 503.
/// A few seconds absorbs a burst of logins (at cost 12, about 20 checks per
/// core); longer would only let a flood hold connections open.
pub const PASSWORD_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Successful `auth-file` logins remembered, so that a browser's next
/// requests with the same credentials (noVNC's page loads some 60 files,
/// each with the Authorization header) cost no hash: at most this many
/// (the oldest go first), each for [`VERIFIED_LOGIN_TTL`], forgotten at
/// every reload. Only a login that passed the hash is remembered, so a
/// client cannot fill the table with guesses.
pub const VERIFIED_LOGINS: usize = 1024;

/// How long a remembered login is trusted without a new hash.
pub const VERIFIED_LOGIN_TTL: Duration = Duration::from_secs(300);

/// Highest bcrypt cost accepted in `auth-file`. Each step doubles the work:
/// cost 12 takes about 250 ms on one core today, 13 half a second, and
/// htpasswd's limit of 17 eight seconds per login, which turns every request
/// into a denial of service. `htpasswd -B` writes cost 5 by default.
pub const MAX_BCRYPT_COST: u32 = 12;

/// Highest SHA-256/512-crypt `rounds=` accepted in `auth-file`. glibc's
/// default is 5000 (a few milliseconds); 100000 is twenty times that, about
/// 50-100 ms per check, below bcrypt cost 12, where glibc allows 999999999
/// (minutes). APR1 and MD5-crypt have a fixed 1000 rounds and SHA-1 one,
/// so there is nothing to bound there.
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 100_000;

/// Wrong passwords from one client (IPv6: one /64) within
/// [`FAILURE_WINDOW`] before it is locked out. Five covers typing mistakes
/// and a browser retrying a remembered password; it is what fail2ban's
/// default `maxretry` is.
pub const MAX_FAILURES: u32 = 5;

/// The window in which [`MAX_FAILURES`] count (fail2ban's `findtime` is 10 min;
/// one minute is enough to stop guessing at full speed without remembering much).
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// How long a locked-out client gets 429 without its password being checked.
/// Short enough that a user who mistyped is not shut out for long; with it a
/// guesser gets at most 5 tries per half minute instead of hundreds per second.
pub const LOCKOUT: Duration = Duration::from_secs(30);

/// Most clients whose failures are remembered at once; when full, the one
/// seen longest ago is forgotten. Bounds memory (well under 1 MiB) against an
/// attacker with many addresses.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Refusal lines one client (IPv4 address, IPv6 /64) may cause at once,
/// then [`REFUSAL_LINES_PER_SECOND`]; past that its refusals are counted, not
/// logged, and a summary line says how many. Without this, one keep-alive
/// connection made 2,000 lines in 50 ms, and journald's rate limit then
/// dropped the lines that matter (lockouts, failed logins). Ten shows what a
/// misconfigured client does; the summary tells how much more it did.
pub const REFUSAL_LINES_BURST: u32 = 10;

/// Refusal lines per second one client may cause after its burst.
pub const REFUSAL_LINES_PER_SECOND: u32 = 2;

/// Refusal lines per second from all clients together (and their burst,
/// [`REFUSAL_LINES_ALL_BURST`]), so that many addresses cannot flood the log
/// either: well below journald's default rate limit (10,000 per 30 s).
pub const REFUSAL_LINES_ALL_PER_SECOND: u32 = 20;

/// The burst of refusal lines from all clients together.
pub const REFUSAL_LINES_ALL_BURST: u32 = 100;

/// Clients whose refusal lines are counted at once (about 100 KiB); those
/// beyond share one budget. Forgotten once quiet for a few seconds.
pub const REFUSAL_LOG_CLIENTS: usize = 1024;

/// How often suppressed refusals are summed up in summary lines, one per
/// client (the [`REFUSAL_SUMMARY_CLIENTS`] busiest, the rest in one line).
pub const REFUSAL_SUMMARY_INTERVAL: Duration = Duration::from_secs(1);

/// Clients named in summary lines per interval; the others are summed up in one.
pub const REFUSAL_SUMMARY_CLIENTS: usize = 10;

/// Open files kept back from the connection cap, at most half the limit: the
/// listening sockets, standard streams and log destinations, the runtime's
/// own descriptors, token and auth files while they are read, Redis and
/// token-API connections, static files being sent, and the splice path's pipes
/// (at most 16 descriptors, `session::relay::splice`). 64 covers them with
/// room to spare; a file still being read when the cap is reached only makes
/// that one request fail, never the proxy.
pub const RESERVED_FDS: u64 = 64;

/// Default `max-connections`: the open-file limit (as raised at start to the
/// hard limit) less [`RESERVED_FDS`], halved, since each session holds two
/// descriptors, the client's and the target's (with `record`, a third).
/// Beyond it, accept() would fail with EMFILE for every listener while
/// sessions already open could not reach their targets; at the cap, new
/// connections are closed at once and the open ones go on.
pub fn max_connections() -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    connections_for_open_files(soft)
}

/// [`max_connections`] for an open-file limit of `files`; at least one.
pub fn connections_for_open_files(files: u64) -> usize {
    let usable = files - RESERVED_FDS.min(files / 2);
    usize::try_from(usable / 2).unwrap_or(usize::MAX).max(1)
}

/// Default `max-connections-per-client` (one IPv4 address, one IPv6 /64).
/// A browser opens at most 6 connections to a site for the page and one
/// WebSocket per noVNC tab, so one person needs about ten; 64 lets a small
/// office share an address behind NAT, while it takes many addresses, not
/// one, to use up the total.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 64;

/// Log text waiting for a slow log output (an unread stderr pipe, a busy
/// journald, a slow disk) while the daemon serves. Sessions never wait for
/// the log: past this, lines are dropped and counted, and the count is
/// logged once the output takes lines again. 1 MiB holds thousands of
/// session lines, far more than a healthy output ever lags behind.
pub const LOG_QUEUE_BYTES: usize = 1024 * 1024;

/// Time the last log lines get to reach their output when the daemon exits.
pub const LOG_FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Largest recording (`record`, `record-max-size`), after which it ends with
/// a marker and the session goes on: an all-day session of a busy 1080p
/// desktop would otherwise grow to tens of GiB and fill the disk.
pub const RECORD_MAX_SIZE: u64 = 256 * 1024 * 1024;

/// What all of an instance's recordings may take (`record-max-total`):
/// forty full-size recordings, small beside a server's disk and large
/// enough that the 90 days of `record-max-age` usually decide first.
pub const RECORD_MAX_TOTAL: u64 = 10 * 1024 * 1024 * 1024;

/// Days a recording is kept (`record-max-age`): a quarter, which is what
/// audits of remote access commonly look back on, without keeping every
/// typed word for ever.
pub const RECORD_MAX_AGE_DAYS: u64 = 90;

/// Time `auth-request` gives its auth service for one answer, waiting for a
/// free sub-request included: a browser is waiting, and a stuck service must
/// give 503 soon rather than hold connections (nginx's `auth_request` waits
/// for its `proxy_read_timeout`, 60 s, which is long for a page load).
pub const AUTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Most `auth-request` sub-requests in flight at once; the others wait for
/// one (within [`AUTH_REQUEST_TIMEOUT`]). Answers are cached and shared, so
/// this is reached only by many different clients at once, and it keeps a
/// flood of them from becoming a flood on the auth service.
pub const AUTH_REQUESTS_AT_ONCE: usize = 32;

/// How long an `auth-request` answer (let in, or sign in first) is reused
/// for the same cookies and credentials: one noVNC page load is some 60
/// requests, and a logout or a removed user takes effect after this.
pub const AUTH_REQUEST_CACHE_TTL: Duration = Duration::from_secs(5);

/// Most `auth-request` answers remembered (the oldest go first); each is a
/// hash of the credentials and a user name.
pub const AUTH_REQUEST_CACHE_ENTRIES: usize = 1024;

/// Longest user name taken from an auth service's answer or a trusted
/// front end's header; a longer one is refused as malformed.
pub const MAX_FRONT_USER_LEN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_for_open_files_keeps_a_reserve_and_halves() {
        assert_eq!(connections_for_open_files(1024), 480);
        assert_eq!(connections_for_open_files(200), 68);
        assert_eq!(connections_for_open_files(524_288), 262_112);
        assert_eq!(
            connections_for_open_files(40),
            10,
            "small limit: half reserved"
        );
        assert_eq!(connections_for_open_files(0), 1);
        assert!(connections_for_open_files(u64::MAX) > 1 << 40);
    }
}
