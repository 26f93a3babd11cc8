//! One look at a target, outside any session: does it accept a connection,
//! does it open with an RFB ProtocolVersion, and, given the VNC password,
//! does it take it? `--check`, `/readyz` and `websockifyctl status` ask this.
//!
//! Why log in at all: TigerVNC black-marks every connection that does not
//! authenticate (`BlacklistThreshold`, 5) and, past that, refuses the
//! address ("Too many security failures") until a login succeeds. Behind a
//! proxy every user shares the proxy's address, so a check that only read
//! the banner every few seconds would lock them all out. With the password
//! the check logs in, which clears the marks, and finds a wrong password
//! before a user does. It closes before ClientInit, so it never takes the
//! place of, or disconnects, a viewer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;

use super::{banner, handshake};
use crate::access::vnc_password::VncPassword;
use crate::addr::Target;
use crate::session::target;

/// What the target did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A VNC server: its banner without the newline, e.g. `RFB 003.008`.
    Vnc(String),
    /// A VNC server that took the password.
    LoggedIn(String),
    /// A VNC server that did not let the proxy in (its banner, why).
    Refused(String, String),
    /// It accepted the connection but is not a VNC server (why).
    NotVnc(String),
    /// It did not accept a connection (why).
    Down(String),
}

impl Probe {
    /// Connects within `limit` (per address) and reads the banner within
    /// `limit`, over TLS when `tls` is given (`ssl-target`); with a
    /// `password`, also logs in within `limit`.
    pub async fn run(
        target: &Target,
        limit: Duration,
        tls: Option<&Arc<rustls::ClientConfig>>,
        password: Option<&VncPassword>,
    ) -> Probe {
        let mut stream = match target::connect(target, limit, tls).await {
            Ok(s) => s,
            Err(e) => return Probe::Down(e.to_string()),
        };
        let (bytes, version) = match banner::read(&mut stream, limit).await {
            Ok(read) => read,
            Err(e) => {
                let why = e.to_string();
                let why = why.strip_prefix(banner::NOT_VNC_PREFIX).unwrap_or(&why);
                return Probe::NotVnc(why.to_owned());
            }
        };
        let banner = String::from_utf8_lossy(&bytes[..banner::LEN - 1]).into_owned();
        let Some(password) = password else {
            return Probe::Vnc(banner);
        };
        let login = handshake::authenticate(&mut stream, version, password);
        match timeout(limit, login).await {
            Ok(Ok(())) => Probe::LoggedIn(banner),
            Ok(Err(handshake::Refused(why))) => Probe::Refused(banner, why),
            Err(_) => Probe::Refused(banner, format!("no login within {limit:?}")),
        }
    }

    /// Whether the target accepted the connection.
    pub fn answers(&self) -> bool {
        !matches!(self, Probe::Down(_))
    }

    /// The banner, when the target is a VNC server.
    pub fn rfb(&self) -> Option<&str> {
        match self {
            Probe::Vnc(banner) | Probe::LoggedIn(banner) | Probe::Refused(banner, _) => {
                Some(banner)
            }
            Probe::NotVnc(_) | Probe::Down(_) => None,
        }
    }
}

impl fmt::Display for Probe {
    /// `RFB 003.008` (`, password accepted`, or `, but: WHY`),
    /// `not VNC (...)` or `not answering (...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Vnc(banner) => f.write_str(banner),
            Probe::LoggedIn(banner) => write!(f, "{banner}, password accepted"),
            Probe::Refused(banner, why) => write!(f, "{banner}, but: {why}"),
            Probe::NotVnc(why) => write!(f, "not VNC ({why})"),
            Probe::Down(why) => write!(f, "not answering ({why})"),
        }
    }
}
