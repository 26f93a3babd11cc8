//! Log lines on stderr: `-v` adds debug messages; RUST_LOG overrides both.

use std::io::Write as _;

/// Sets up the logger once, at start.
pub fn init(verbose: bool) {
    let level = if verbose { "debug" } else { "info" };
    // Our own debug lines only: hyper's and rustls' would drown them.
    let default = format!("warn,websockify={level}");
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|buf, record| {
            let ts = buf.timestamp_seconds();
            writeln!(buf, "{ts} {:<5} {}", record.level(), record.args())
        })
        .init();
}
