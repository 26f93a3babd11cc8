//! Listen and target addresses in Python websockify's spellings:
//! `[addr:]port`, `host:port`, `[v6addr]:port`.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// Why an address argument could not be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AddrError {
    /// The part after the last colon is not a port number.
    #[error("invalid port {port:?} in {input:?}: expected a number from 0 to 65535")]
    BadPort {
        /// The whole argument.
        input: String,
        /// The part that should have been a port.
        port: String,
    },
    /// A target needs a host and a port.
    #[error("invalid target {0:?}: expected host:port, e.g. localhost:5901 or [::1]:5901")]
    NoPort(String),
}

/// Where to listen. `host` is `None` for a bare port: every IPv4 and IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// Host name or address literal, brackets removed; `None` means all addresses.
    pub host: Option<String>,
    /// TCP port; 0 lets the kernel choose (the bound address is logged).
    pub port: u16,
}

/// Where to connect for each session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAddr {
    /// Host name or address literal, brackets removed.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ListenAddr {
    /// Parses `port`, `addr:port`, `[v6]:port` (or an unbracketed v6 `::1:port`,
    /// as Python's `rsplit(':', 1)` allows).
    pub fn parse(input: &str) -> Result<Self, AddrError> {
        let (host, port) = match input.rsplit_once(':') {
            Some((host, port)) => (Some(unbracket(host)), port),
            None => (None, input),
        };
        let port = parse_port(input, port)?;
        let host = host.filter(|h| !h.is_empty()).map(str::to_owned);
        Ok(Self { host, port })
    }
}

/// VNC display N listens on this port plus N.
const VNC_DISPLAY_BASE: u16 = 5900;

impl TargetAddr {
    /// Parses `host:port` or `[v6]:port`; an empty host (`:5900`, as in
    /// websockify's own README) means the local machine, as it does in Python.
    pub fn parse(input: &str) -> Result<Self, AddrError> {
        let (host, port) = input
            .rsplit_once(':')
            .ok_or_else(|| AddrError::NoPort(input.to_owned()))?;
        let port = parse_port(input, port)?;
        let host = match unbracket(host) {
            "" => "localhost",
            host => host,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// A hint when the port looks like a VNC display number (1 to 99, as
    /// `:1` or `localhost:1` would be to a VNC viewer) rather than a port:
    /// display N is port 5900 + N. For a target that does not answer as a
    /// VNC server; one that does is right whatever its port.
    pub fn display_hint(&self) -> Option<String> {
        let display = self.port;
        if !(1..100).contains(&display) {
            return None;
        }
        let port = VNC_DISPLAY_BASE + display;
        let meant = TargetAddr {
            host: self.host.clone(),
            port,
        };
        Some(format!(
            "port {display} looks like a VNC display number: display :{display} is port {port} \
             (give {meant})"
        ))
    }
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn parse_port(input: &str, port: &str) -> Result<u16, AddrError> {
    port.parse().map_err(|_| AddrError::BadPort {
        input: input.to_owned(),
        port: port.to_owned(),
    })
}

fn fmt_host_port(f: &mut fmt::Formatter<'_>, host: &str, port: u16) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]:{port}")
    } else {
        write!(f, "{host}:{port}")
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_host_port(f, &self.host, self.port)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(host) => fmt_host_port(f, host, self.port),
            None => write!(f, "*:{}", self.port),
        }
    }
}

/// Where sessions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port`.
    Tcp(TargetAddr),
    /// A unix stream socket (`--unix-target`, or a token's `unix_socket:`).
    Unix(PathBuf),
}

impl Target {
    /// A TCP target `host:port`.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Target::Tcp(TargetAddr {
            host: host.into(),
            port,
        })
    }

    /// [`TargetAddr::display_hint`] for a TCP target.
    pub fn display_hint(&self) -> Option<String> {
        match self {
            Target::Tcp(a) => a.display_hint(),
            Target::Unix(_) => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(a) => write!(f, "{a}"),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(host: Option<&str>, port: u16) -> ListenAddr {
        ListenAddr {
            host: host.map(str::to_owned),
            port,
        }
    }

    #[test]
    fn listen_forms() {
        assert_eq!(ListenAddr::parse("6080"), Ok(listen(None, 6080)));
        assert_eq!(ListenAddr::parse(":6080"), Ok(listen(None, 6080)));
        assert_eq!(
            ListenAddr::parse("127.0.0.1:6080"),
            Ok(listen(Some("127.0.0.1"), 6080))
        );
        assert_eq!(ListenAddr::parse("[::]:6443"), Ok(listen(Some("::"), 6443)));
        assert_eq!(ListenAddr::parse("::1:6443"), Ok(listen(Some("::1"), 6443)));
        assert!(ListenAddr::parse("localhost:http").is_err());
        assert!(ListenAddr::parse("70000").is_err());
    }

    #[test]
    fn target_forms() {
        let t = TargetAddr::parse("[::1]:5901").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 5901));
        assert_eq!(t.to_string(), "[::1]:5901");
        let t = TargetAddr::parse("localhost:5901").unwrap();
        assert_eq!(t.to_string(), "localhost:5901");
        assert_eq!(
            TargetAddr::parse("5901"),
            Err(AddrError::NoPort("5901".into()))
        );
        assert_eq!(TargetAddr::parse(":5901").unwrap().host, "localhost");
    }

    #[test]
    fn display_numbers_are_told_from_ports() {
        let hint = |t: &str| TargetAddr::parse(t).unwrap().display_hint();
        assert_eq!(
            hint(":1").as_deref(),
            Some("port 1 looks like a VNC display number: display :1 is port 5901 (give localhost:5901)")
        );
        assert_eq!(
            hint("[::1]:12").as_deref(),
            Some("port 12 looks like a VNC display number: display :12 is port 5912 (give [::1]:5912)")
        );
        assert_eq!(
            hint("localhost:99").map(|h| h.ends_with("(give localhost:5999)")),
            Some(true)
        );
        assert_eq!(hint("localhost:100"), None);
        assert_eq!(hint("localhost:5901"), None);
        assert_eq!(hint("localhost:0"), None);
    }
}
