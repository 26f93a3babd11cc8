//! systemd's notify socket as the service manager hands it to a service
//! (`NOTIFY_SOCKET`): the states the daemon reports (READY=1 once everything
//! accepts, RELOADING=1 then READY=1 around a reload, STOPPING=1, STATUS=,
//! WATCHDOG=1), which are also what a test can wait on instead of log text.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Instant;

use super::{blocking, TempDir, WAIT};

/// A bound notify socket; WATCHDOG=1 pings are kept apart with their times.
pub struct Notify {
    pub sock: UnixDatagram,
    path: PathBuf,
    /// When each WATCHDOG=1 ping that [`Notify::next`] skipped arrived.
    pub watchdog: Vec<Instant>,
}

impl Notify {
    /// A socket `notify.sock` in `dir`; reads time out after [`WAIT`].
    pub fn new(dir: &TempDir) -> Notify {
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        sock.set_read_timeout(Some(WAIT)).expect("read timeout");
        Notify {
            sock,
            path,
            watchdog: Vec::new(),
        }
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn path(&self) -> String {
        self.path.to_str().expect("UTF-8 temp path").to_owned()
    }

    /// The next message that is not only a watchdog ping.
    pub fn next(&mut self) -> String {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = blocking(|| self.sock.recv(&mut buf)).expect("no notify message");
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.trim() == "WATCHDOG=1" {
                self.watchdog.push(Instant::now());
                continue;
            }
            return msg;
        }
    }

    /// Skips messages until one contains `needle`.
    pub fn until(&mut self, needle: &str) -> String {
        self.upto(needle).pop().expect("one message at least")
    }

    /// Every message up to and including the first that contains `needle`.
    pub fn upto(&mut self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let msg = self.next();
            let found = msg.contains(needle);
            seen.push(msg);
            if found {
                return seen;
            }
        }
    }

    /// Waits for the end of a reload (SIGHUP): RELOADING=1, then READY=1,
    /// which the daemon sends once new sessions get the new settings (a
    /// refused reload sends neither, only STATUS=). Returns the READY=1
    /// message, whose STATUS= names the target in force.
    pub fn reloaded(&mut self) -> String {
        self.until("RELOADING=1");
        self.until("READY=1")
    }
}
