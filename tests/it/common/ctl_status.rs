//! `websockifyctl status` through the real binary, called by that name
//! through a symlink beside the conf directory, for the tests that check
//! what it says about each instance's target.

use std::path::Path;
use std::process::Command;

/// Runs `websockifyctl --conf-dir CONF_DIR --no-systemd status [--json]`
/// and returns its standard output, failing the test if it fails. It
/// blocks while it probes the targets: call it off the runtime (e.g. in
/// `spawn_blocking`) when a target runs on the test's runtime.
pub fn run(conf_dir: &Path, json: bool) -> String {
    let link = conf_dir
        .parent()
        .expect("the conf dir has a parent")
        .join("websockifyctl");
    if !link.exists() {
        std::os::unix::fs::symlink(super::bin(), &link).expect("websockifyctl link");
    }
    let mut cmd = Command::new(&link);
    cmd.arg("--conf-dir")
        .arg(conf_dir)
        .args(["--no-systemd", "status"]);
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
