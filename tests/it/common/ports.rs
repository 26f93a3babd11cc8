//! Ports for programs that cannot take a listening socket from the test
//! (x11vnc, redis-server, pebble, novnc_proxy) and for addresses where
//! nothing listens.

/// A loopback TCP port free now, released for the caller, taken from
/// below the kernel's ephemeral range: the kernel's own pick (port 0) is an
/// ephemeral port, which it may then give an outgoing connection as its
/// local port, so a program that binds it later (pebble brought down and
/// up again, novnc_proxy) found it in use. Below the range only programs
/// that ask for a port by number get one, and within this process each
/// port is handed out once. Where a program can be handed a bound socket,
/// or told to bind port 0 and say which it got, do that instead.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = ephemeral_low();
    let span = u32::from(low.saturating_sub(10_000).max(1));
    let start = std::process::id() * 97;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = low - 1 - ((start + n) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 10000 and {low}");
}

/// The first port of the kernel's ephemeral range (32768 by default).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .filter(|&low: &u16| low > 11_000)
        .unwrap_or(32768)
}
