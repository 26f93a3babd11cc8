//! `websockifyctl status` through the real binary (`ctl::command`), for the
//! tests that check what it says about each instance's target.

use std::path::Path;

/// Runs `websockifyctl --conf-dir CONF_DIR --no-systemd status [--json]`
/// and returns its standard output, failing the test if it fails. It
/// blocks while it probes the targets: call it off the runtime (e.g. in
/// `spawn_blocking`) when a target runs on the test's runtime.
pub fn run(conf_dir: &Path, json: bool) -> String {
    let mut cmd = super::ctl::command(conf_dir);
    cmd.arg("status");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run websockifyctl");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The instance `name` in the array `status --json` printed.
pub fn entry(all: &serde_json::Value, name: &str) -> serde_json::Value {
    all.as_array()
        .expect("status --json prints an array")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {all}"))
        .clone()
}
