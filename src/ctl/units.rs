//! `websockifyctl start|stop|restart NAME` and `logs NAME [-f]`: the daily
//! commands, as systemctl and journalctl would run them, for an instance
//! that exists (a typo names the conf it looked for instead of starting a
//! unit that can only fail). An instance whose socket unit is enabled is
//! started by its socket (socket activation), any other by its service;
//! `stop` stops both, so that the socket does not start the service again.

use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::{instance, systemctl, Ctx};

/// `start`, `stop` and `restart` options.
#[derive(Args)]
pub struct UnitArgs {
    /// The instance.
    pub name: String,
}

/// `logs` options.
#[derive(Args)]
pub struct LogsArgs {
    /// The instance.
    pub name: String,
    /// Keep printing new lines as they come (journalctl -f).
    #[arg(short, long)]
    pub follow: bool,
}

/// What to do with the units.
#[derive(Clone, Copy)]
pub enum Action {
    /// Start the socket or the service.
    Start,
    /// Stop both.
    Stop,
    /// Stop both, then start as `Start`.
    Restart,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
        }
    }
}

/// Runs `start`, `stop` or `restart`.
pub fn run(ctx: &Ctx, action: Action, args: UnitArgs) -> Result<ExitCode> {
    let inst = instance::one(ctx, &args.name)?;
    let unit = starting_unit(ctx, &inst.name);
    if !ctx.systemd.enabled() {
        bail!(
            "--no-systemd: nothing was done; {} it with: systemctl {} {unit}",
            action.verb(),
            action.verb()
        );
    }
    if matches!(action, Action::Stop | Action::Restart) {
        let (socket, service) = (
            systemctl::socket(&inst.name),
            systemctl::service(&inst.name),
        );
        ctx.systemd.run(&["stop", &socket, &service])?;
    }
    if matches!(action, Action::Start | Action::Restart) {
        ctx.systemd.run(&["start", &unit])?;
        ctx.systemd.wait_active(&unit)?;
    }
    let done = match action {
        Action::Start => format!("started {unit}"),
        Action::Stop => format!(
            "stopped {} and {}",
            systemctl::service(&inst.name),
            systemctl::socket(&inst.name)
        ),
        Action::Restart => format!("restarted {unit} (its sessions were closed)"),
    };
    println!("{done}");
    Ok(ExitCode::SUCCESS)
}

/// The socket when it is enabled (socket activation), else the service.
fn starting_unit(ctx: &Ctx, name: &str) -> String {
    let socket = systemctl::socket(name);
    if ctx.systemd.query("is-enabled", &socket) == "enabled" {
        socket
    } else {
        systemctl::service(name)
    }
}

/// Runs `logs`: journalctl for the service, its output as it is. journalctl
/// only reads, so this runs with `--no-systemd` too.
pub fn logs(ctx: &Ctx, args: LogsArgs) -> Result<ExitCode> {
    let inst = instance::one(ctx, &args.name)?;
    let mut cmd = Command::new("journalctl");
    cmd.arg("-u").arg(systemctl::service(&inst.name));
    if args.follow {
        cmd.arg("-f");
    }
    let status = cmd
        .status()
        .context("cannot run journalctl (package systemd)")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
