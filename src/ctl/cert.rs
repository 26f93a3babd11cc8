//! `websockifyctl cert [show|renew]`: the generated certificate
//! `CONF_DIR/ssl/websockify.crt` (names, expiry, SHA-256 fingerprint), and a
//! new one for the host's current names, renamed over the old files, after
//! which running instances that use it reload (sessions stay). Also what
//! `add` and `status` need: making the certificate when it is missing, as
//! postinst does, and reading any certificate's names and expiry.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::{files, instance, Ctx};
use crate::tls::cert as tls_cert;
pub use crate::tls::info::info;

/// `cert` options.
#[derive(Args)]
pub struct CertArgs {
    /// show (the default) or renew.
    #[command(subcommand)]
    pub action: Option<CertAction>,
}

/// What `cert` does.
#[derive(Subcommand, Clone, Copy)]
pub enum CertAction {
    /// Names, expiry and SHA-256 fingerprint of the certificate.
    Show,
    /// A new certificate for this host's current names, in place of the old
    /// one; running instances that use it reload.
    Renew,
}

/// Makes the generated certificate when neither file exists (as postinst
/// does: `ssl/` 0750 and the key 0640, group websockify when it exists).
pub fn ensure(ctx: &Ctx) -> Result<()> {
    let (crt, key) = (ctx.cert(), ctx.key());
    if crt.exists() && key.exists() {
        return Ok(());
    }
    files::ensure_dir(files::parent(&crt), 0o750)?;
    tls_cert::generate(&crt, &key, &tls_cert::default_names())?;
    share_key(&key)?;
    println!("made {} for this host's names", crt.display());
    Ok(())
}

/// The key readable by the service's group, as postinst leaves it; changed
/// through the open file, never through a symlink (`files::open_regular`).
fn share_key(key: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(gid) = files::service_gid() else {
        return Ok(());
    };
    let Some((file, _)) = files::open_regular(key)? else {
        bail!("{}: does not exist", key.display());
    };
    std::os::unix::fs::fchown(&file, None, Some(gid))
        .with_context(|| format!("cannot give {} group websockify", key.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o640))
        .with_context(|| format!("cannot set the mode of {}", key.display()))
}

/// Runs `cert`.
pub fn run(ctx: &Ctx, args: CertArgs) -> Result<ExitCode> {
    if let Some(CertAction::Renew) = args.action {
        renew(ctx)?;
    }
    show(&ctx.cert())?;
    Ok(ExitCode::SUCCESS)
}

fn show(path: &Path) -> Result<()> {
    let info = info(path)?;
    println!("certificate: {}", path.display());
    println!("names: {}", info.names.join(", "));
    println!("expires: {} ({} days)", info.not_after, info.days_left);
    println!("SHA-256 fingerprint: {}", info.fingerprint);
    Ok(())
}

fn renew(ctx: &Ctx) -> Result<()> {
    ctx.need_root("cert renew")?;
    let (crt, key) = (ctx.cert(), ctx.key());
    let had_key = key.exists();
    files::ensure_dir(files::parent(&crt), 0o750)?;
    tls_cert::replace(&crt, &key, &tls_cert::default_names())?;
    if !had_key {
        share_key(&key)?;
    }
    println!("renewed {}", crt.display());
    let users: Vec<String> = instance::all(ctx)?
        .into_iter()
        .filter(|i| i.options.cert.as_deref() == Some(crt.as_path()))
        .map(|i| i.name)
        .collect();
    ctx.systemd.reload_running(&users)
}
