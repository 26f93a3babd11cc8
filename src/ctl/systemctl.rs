//! systemd through `systemctl`, or nothing at all with `--no-systemd` (for a
//! chroot, a container without systemd, or tests): then actions are skipped
//! and every state is "unknown".

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long `add` waits for a started unit to become active.
const START_WAIT: Duration = Duration::from_secs(15);

/// The state systemd does not know, or was not asked.
pub const UNKNOWN: &str = "unknown";

/// Calls systemctl when `enabled`.
pub struct Systemd {
    enabled: bool,
}

/// The service unit of instance `name`.
pub fn service(name: &str) -> String {
    format!("websockify@{name}.service")
}

/// The socket unit of instance `name`.
pub fn socket(name: &str) -> String {
    format!("websockify@{name}.socket")
}

impl Systemd {
    /// systemctl is called only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// Whether systemctl is called.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `systemctl ARGS`; an error with systemctl's message when it fails.
    pub fn run(&self, args: &[&str]) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let out = Command::new("systemctl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("cannot run systemctl (use --no-systemd where systemd does not run)")?;
        if !out.status.success() {
            bail!(
                "systemctl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// What `systemctl VERB UNIT` prints (`is-active`, `is-enabled`), or
    /// "unknown".
    pub fn query(&self, verb: &str, unit: &str) -> String {
        self.output(&[verb, unit])
    }

    /// A unit's property (`StatusText`), or "unknown".
    pub fn property(&self, unit: &str, name: &str) -> String {
        self.output(&["show", "-p", name, "--value", unit])
    }

    fn output(&self, args: &[&str]) -> String {
        if !self.enabled {
            return UNKNOWN.into();
        }
        Command::new("systemctl")
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| UNKNOWN.into())
    }

    /// Waits until `unit` is active; fails when it fails or takes too long.
    pub fn wait_active(&self, unit: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let deadline = Instant::now() + START_WAIT;
        loop {
            match self.query("is-active", unit).as_str() {
                "active" => return Ok(()),
                "failed" => bail!("{unit} failed to start: see journalctl -u {unit}"),
                state if Instant::now() > deadline => {
                    bail!("{unit} is still {state} after {START_WAIT:?}: see journalctl -u {unit}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Reloads (sessions stay) each of these instances that runs; fails,
    /// after trying them all, when one refused its new settings.
    pub fn reload_running(&self, names: &[String]) -> Result<()> {
        if !self.enabled() {
            for name in names {
                println!(
                    "--no-systemd: websockify@{name} not reloaded; the change takes effect at \
                     websockifyctl reload {name} (or systemctl reload websockify@{name})"
                );
            }
            return Ok(());
        }
        let mut failed = Vec::new();
        for name in names {
            let unit = service(name);
            if self.query("is-active", &unit) != "active" {
                continue;
            }
            match self.run(&["reload", &unit]) {
                Ok(()) => println!("reloaded {unit}"),
                Err(e) => {
                    // The instance's reason is in its status line; systemctl
                    // only says that the reload failed.
                    let status = self.property(&unit, "StatusText");
                    eprintln!("websockifyctl: {unit}: {status}\n  ({e:#})");
                    failed.push(unit);
                }
            }
        }
        if !failed.is_empty() {
            bail!(
                "reload failed, the previous settings stay: {} (see journalctl -u UNIT)",
                failed.join(", ")
            );
        }
        Ok(())
    }
}
