//! `websockifyctl remove NAME`: stops and disables websockify@NAME (service
//! and socket) and moves its conf aside to `NAME.conf.removed-YYYYMMDDTHHMMSS`
//! (UTC), which neither the units nor the generator read: nothing is deleted.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::{files, instance, systemctl, Ctx};

/// `remove` options.
#[derive(Args)]
pub struct RemoveArgs {
    /// The instance.
    pub name: String,
}

/// Runs `remove`.
pub fn run(ctx: &Ctx, args: RemoveArgs) -> Result<ExitCode> {
    ctx.need_root("remove")?;
    let inst = instance::one(ctx, &args.name)?;
    let (service, socket) = (
        systemctl::service(&inst.name),
        systemctl::socket(&inst.name),
    );
    ctx.systemd.run(&["disable", "--now", &socket, &service])?;
    let aside = files::aside_name(&inst.path);
    std::fs::rename(&inst.path, &aside)
        .with_context(|| format!("cannot move {} aside", inst.path.display()))?;
    if ctx.systemd.enabled() {
        // The generator forgets the socket's addresses.
        ctx.systemd.run(&["daemon-reload"])?;
        println!("stopped and disabled {service} and {socket}");
    }
    println!("moved {} to {}", inst.path.display(), aside.display());
    for site in super::front::sites_of(&inst.name) {
        println!("the site {} is still there", site.display());
    }
    Ok(ExitCode::SUCCESS)
}
