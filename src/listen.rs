//! Binding the listen address: a bare port means every IPv4 and IPv6 address.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{bail, Context, Result};
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

use crate::addr::ListenAddr;

/// Kernel accept queue length per listener (Python websockify uses 100;
/// browsers open several connections at once when loading noVNC).
const BACKLOG: i32 = 1024;

/// Binds every address `listen` stands for. A bare port binds `0.0.0.0` and
/// `[::]` (IPv6-only, so the two never clash); IPv6 missing from the host is
/// then not an error. A name binds each address it resolves to.
pub async fn bind(listen: &ListenAddr) -> Result<Vec<TcpListener>> {
    let addrs: Vec<SocketAddr> = match &listen.host {
        None => vec![
            (Ipv4Addr::UNSPECIFIED, listen.port).into(),
            (Ipv6Addr::UNSPECIFIED, listen.port).into(),
        ],
        Some(host) => tokio::net::lookup_host((host.as_str(), listen.port))
            .await
            .with_context(|| format!("cannot resolve listen address {listen}"))?
            .collect(),
    };
    let mut listeners = Vec::new();
    for addr in dedup(addrs) {
        match bind_one(addr) {
            Ok(l) => listeners.push(l),
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

fn bind_one(addr: SocketAddr) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .with_context(|| format!("cannot create a socket for {addr}"))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on {addr}"))?;
    socket
        .listen(BACKLOG)
        .with_context(|| format!("cannot listen on {addr}"))?;
    TcpListener::from_std(socket.into()).with_context(|| format!("cannot listen on {addr}"))
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
