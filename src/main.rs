//! The `websockify` command; everything it does is in `websockify::daemon`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    websockify::daemon::main(websockify::cli::Cli::parse())
}
