//! Where connections come from: sockets passed in by systemd (`LISTEN_FDS`),
//! or the listen addresses, bound here. A bare port means every IPv4 and
//! IPv6 address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{bail, Context, Result};
use socket2::{Domain, Socket, Type};
use tokio::net::{TcpListener, UnixListener};

use crate::addr::ListenAddr;

mod accept;
pub use accept::{Incoming, Stream};

/// Kernel accept queue length per listener (Python websockify uses 100;
/// browsers open several connections at once when loading noVNC).
const BACKLOG: i32 = 1024;

/// A listening socket of either kind.
#[derive(Debug)]
pub enum Listener {
    /// TCP, IPv4 or IPv6.
    Tcp(TcpListener),
    /// A unix stream socket (e.g. behind nginx, or passed in by systemd).
    Unix(UnixListener),
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => write!(f, "{a}"),
                Err(_) => write!(f, "a TCP socket"),
            },
            Listener::Unix(l) => match l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            {
                Some(path) => write!(f, "unix:{path}"),
                None => write!(f, "an unnamed unix socket"),
            },
        }
    }
}

/// Who is on the other end of a connection, for log lines.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// A client on a unix socket (usually a reverse proxy on this host),
    /// with its user id from `SO_PEERCRED` (`None` if the kernel gave none).
    Unix(Option<u32>),
}

impl Peer {
    /// The address the caps count this peer as (before any trusted proxy
    /// speaks for a client): a unix peer is this host, 127.0.0.1.
    pub fn ip(&self) -> IpAddr {
        match self {
            Peer::Tcp(a) => a.ip(),
            Peer::Unix(_) => IpAddr::from([127, 0, 0, 1]),
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Unix(Some(uid)) => write!(f, "unix-client uid={uid}"),
            Peer::Unix(None) => write!(f, "unix-client"),
        }
    }
}

/// A listening socket opened before the async runtime starts (bound here,
/// passed in by systemd, or inherited on stdin), with a note of its origin.
#[derive(Debug)]
pub struct OpenSocket {
    socket: StdSocket,
    /// Where it came from, for the start-up log line.
    pub origin: String,
}

#[derive(Debug)]
enum StdSocket {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl OpenSocket {
    /// A TCP listener opened elsewhere (`origin` says where).
    pub fn tcp(l: std::net::TcpListener, origin: impl Into<String>) -> Self {
        Self {
            socket: StdSocket::Tcp(l),
            origin: origin.into(),
        }
    }

    /// A unix listener opened elsewhere (`origin` says where).
    pub fn unix(l: std::os::unix::net::UnixListener, origin: impl Into<String>) -> Self {
        Self {
            socket: StdSocket::Unix(l),
            origin: origin.into(),
        }
    }

    /// Makes it a tokio listener (inside the runtime).
    pub fn into_listener(self) -> Result<Listener> {
        Ok(match self.socket {
            StdSocket::Tcp(l) => {
                l.set_nonblocking(true)?;
                Listener::Tcp(TcpListener::from_std(l)?)
            }
            StdSocket::Unix(l) => {
                l.set_nonblocking(true)?;
                Listener::Unix(UnixListener::from_std(l)?)
            }
        })
    }
}

/// Sockets passed in by systemd socket activation, taken before any other
/// thread exists (taking them edits the environment). Empty when not
/// socket-activated.
pub fn take_activated() -> Result<Vec<OpenSocket>> {
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let mut names = names.split(':');
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Vec::new();
    for idx in 0..fds.len() {
        let name = names.next().unwrap_or("");
        let origin = format!("socket {name:?} passed in by systemd");
        if let Ok(Some(l)) = fds.take_tcp_listener(idx) {
            out.push(OpenSocket::tcp(l, origin));
        } else if let Ok(Some(l)) = fds.take_unix_listener(idx) {
            out.push(OpenSocket::unix(l, origin));
        } else {
            bail!(
                "passed socket {} ({name:?}) is neither a TCP nor a unix stream listener",
                idx + 3
            );
        }
    }
    Ok(out)
}

/// The listening socket on standard input (`--inetd`; systemd's
/// `StandardInput=socket` with `Accept=no`), TCP of either family or unix.
pub fn take_inetd() -> Result<OpenSocket> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("--inetd: standard input")?;
    let sock = socket2::Socket::from(fd);
    if !sock.is_listener().unwrap_or(false) {
        bail!("--inetd: standard input is not a listening socket");
    }
    match sock
        .domain()
        .context("--inetd: standard input is not a socket")?
    {
        Domain::UNIX => Ok(OpenSocket::unix(
            std::os::fd::OwnedFd::from(sock).into(),
            "standard input (--inetd)",
        )),
        _ => Ok(OpenSocket::tcp(sock.into(), "standard input (--inetd)")),
    }
}

/// Binds a unix socket with the given permission bits. A socket left at
/// the path (by a process that did not remove it) is replaced, as Python
/// does; anything else there (a file, a directory, a symlink) is refused,
/// never deleted: a mistyped path must not cost a file.
pub fn bind_unix(path: &std::path::Path, mode: u32) -> Result<OpenSocket> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("cannot replace the old socket {}", path.display()))?,
        Ok(_) => bail!(
            "cannot listen on {}: something that is not a socket is there; \
             remove it or choose another path",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {}", path.display())),
    }
    let l = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode {mode:o} on {}", path.display()))?;
    Ok(OpenSocket::unix(l, "--unix-listen"))
}

/// Binds every address `listen` stands for. A bare port binds `0.0.0.0` and
/// `[::]` (IPv6-only, so the two never clash); IPv6 missing from the host is
/// then not an error. A name binds each address it resolves to.
pub fn bind(listen: &ListenAddr) -> Result<Vec<OpenSocket>> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = match &listen.host {
        None => vec![
            (Ipv4Addr::UNSPECIFIED, listen.port).into(),
            (Ipv6Addr::UNSPECIFIED, listen.port).into(),
        ],
        Some(host) => (host.as_str(), listen.port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve listen address {listen}"))?
            .collect(),
    };
    let mut listeners = Vec::new();
    for addr in dedup(addrs) {
        match bind_one(addr) {
            Ok(l) => listeners.push(OpenSocket::tcp(l, "")),
            Err(e) if listen.host.is_none() && addr.is_ipv6() => {
                log::warn!("not listening on {addr}: {e:#}");
            }
            Err(e) => return Err(e),
        }
    }
    if listeners.is_empty() {
        bail!("nothing to listen on for {listen}");
    }
    Ok(listeners)
}

fn dedup(mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = Vec::new();
    addrs.retain(|a| {
        let new = !seen.contains(a);
        seen.push(*a);
        new
    });
    addrs
}

fn bind_one(addr: SocketAddr) -> Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .with_context(|| format!("cannot create a socket for {addr}"))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on {addr}"))?;
    socket
        .listen(BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(socket.into())
}

/// Raises the soft open-file limit to the hard limit: each session holds two
/// descriptors, and the usual soft limit of 1024 would cap us near 500 sessions.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => log::debug!("raised open file limit from {soft} to {hard}"),
            Err(e) => log::warn!("cannot raise open file limit from {soft} to {hard}: {e}"),
        },
        Ok(_) => {}
        Err(e) => log::warn!("cannot read open file limit: {e}"),
    }
}
