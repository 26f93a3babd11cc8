//! Ports for programs that cannot take a listening socket from the test
//! (x11vnc, redis-server, pebble, novnc_proxy) and for addresses where
//! nothing listens.

/// A loopback TCP port free now: the kernel's pick, released for the
/// caller. Someone else may take it before the caller binds it; where a
/// program can be handed a bound socket, or told to bind port 0 and say
/// which it got, do that instead.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}
