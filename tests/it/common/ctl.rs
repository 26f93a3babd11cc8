//! `websockifyctl` through the real binary, called by that name (its
//! `argv[0]`), always with `--conf-dir CONF --no-systemd`: one way to run it
//! for every test module.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `websockifyctl --conf-dir CONF_DIR --no-systemd`, for the caller's
/// arguments.
pub fn command(conf_dir: &Path) -> Command {
    let mut cmd = Command::new(super::bin());
    cmd.arg0("websockifyctl")
        .arg("--conf-dir")
        .arg(conf_dir)
        .arg("--no-systemd");
    cmd
}

/// Runs `websockifyctl --conf-dir CONF_DIR --no-systemd ARGS` with `stdin`,
/// shows what it printed in the test's output, and returns it.
pub fn run(conf_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(conf_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run websockifyctl");
    // A command that refuses its arguments exits without reading.
    let written = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().expect("websockifyctl output");
    eprintln!(
        "websockifyctl {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
