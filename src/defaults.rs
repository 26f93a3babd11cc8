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

/// Largest WebSocket message accepted from a client, in payload bytes (after
/// base64 decoding). Messages stream through without being gathered, so this
/// is policy, not memory protection: 16 MiB, as Python's default allows a
/// big clipboard paste; a client announcing more is closed with 1009.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

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

/// Bytes read from the target per WebSocket frame sent to the client. The
/// buffer is allocated only once the target socket is readable, so an idle
/// session holds none.
pub const TARGET_READ_CHUNK: usize = 64 * 1024;

/// Bytes read from the client at a time. Frames are decoded and their
/// payload written to the target as they arrive, so this one buffer is all a
/// session holds for the client, whatever size of message it sends; its pages
/// are only touched as far as reads fill them, so idle sessions stay small.
pub const CLIENT_READ_BUFFER: usize = 64 * 1024;

/// How long the server waits for sessions to send their close frames on shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long live sessions may go on after SIGTERM before they get 1001. A
/// noVNC session never ends by itself, so waiting only delays a restart:
/// by default they are closed at once and the browser can reconnect.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(0);
