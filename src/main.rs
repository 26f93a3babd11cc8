//! The `websockify` command, `websockify-generator` (a link to it that
//! systemd runs as a generator) and `websockifyctl` (a link for
//! administrators): one binary, so all read confs alike.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let called = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    if called.ends_with("-generator") {
        return websockify::systemd::generator::main(&args);
    }
    if called == "websockifyctl" {
        return websockify::ctl::main(&args);
    }
    websockify::daemon::main(websockify::config::cli::Cli::parse())
}
