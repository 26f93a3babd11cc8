//! One look at a target, outside any session: does it accept a connection,
//! and does it open with an RFB ProtocolVersion? `--check`, `/readyz` and
//! `websockifyctl status` all ask this. The connection is closed right after
//! the 12 bytes, before any security handshake, so a VNC server counts no
//! failed login.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::banner;
use crate::addr::Target;
use crate::session::target;

/// What the target did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A VNC server: its banner without the newline, e.g. `RFB 003.008`.
    Vnc(String),
    /// It accepted the connection but is not a VNC server (why).
    NotVnc(String),
    /// It did not accept a connection (why).
    Down(String),
}

impl Probe {
    /// Connects within `limit` (per address) and reads the banner within
    /// `limit`; over TLS when `tls` is given (`ssl-target`).
    pub async fn run(
        target: &Target,
        limit: Duration,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Probe {
        let mut stream = match target::connect(target, limit, tls).await {
            Ok(s) => s,
            Err(e) => return Probe::Down(e.to_string()),
        };
        match banner::read(&mut stream, limit).await {
            Ok((bytes, _)) => Probe::Vnc(String::from_utf8_lossy(&bytes[..banner::LEN - 1]).into()),
            Err(e) => {
                let why = e.to_string();
                let why = why.strip_prefix(banner::NOT_VNC_PREFIX).unwrap_or(&why);
                Probe::NotVnc(why.to_owned())
            }
        }
    }

    /// Whether the target accepted the connection.
    pub fn answers(&self) -> bool {
        !matches!(self, Probe::Down(_))
    }

    /// The banner, when the target is a VNC server.
    pub fn rfb(&self) -> Option<&str> {
        match self {
            Probe::Vnc(banner) => Some(banner),
            _ => None,
        }
    }
}

impl fmt::Display for Probe {
    /// `RFB 003.008`, `not VNC (...)` or `not answering (...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Vnc(banner) => f.write_str(banner),
            Probe::NotVnc(why) => write!(f, "not VNC ({why})"),
            Probe::Down(why) => write!(f, "not answering ({why})"),
        }
    }
}
