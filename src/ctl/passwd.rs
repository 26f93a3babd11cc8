//! `websockifyctl passwd [--file FILE] [--delete] [--stdin] USER`: sets (or
//! deletes) a user's bcrypt entry in an htpasswd file (default
//! `CONF_DIR/htpasswd`), rewritten atomically with mode 0640 and group
//! websockify, then reloads the running instances whose `auth-file` it is.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::files::{self, Existing};
use super::{instance, Ctx};
use crate::defaults::MAX_BCRYPT_COST;

/// bcrypt cost of new entries: about 60 ms per login on one core today.
pub const COST: u32 = 10;
const _: () = assert!(COST <= MAX_BCRYPT_COST, "the daemon would refuse the file");

/// `passwd` options.
#[derive(Args)]
pub struct PasswdArgs {
    /// The htpasswd file. [default: CONF_DIR/htpasswd]
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Delete the user instead of setting a password.
    #[arg(long)]
    pub delete: bool,
    /// Read the password as one line from standard input (no prompt).
    #[arg(long)]
    pub stdin: bool,
    /// The user name.
    pub user: String,
}

/// Runs `passwd`.
pub fn run(ctx: &Ctx, args: PasswdArgs) -> Result<ExitCode> {
    check_user(&args.user)?;
    let file = args.file.clone().unwrap_or_else(|| ctx.htpasswd());
    if args.file.is_none() {
        ctx.need_root("passwd")?;
    }
    if args.delete {
        delete(&file, &args.user)?;
        println!("deleted {} from {}", args.user, file.display());
    } else {
        let password = read_password(&args.user, args.stdin)?;
        set(&file, &args.user, &password)?;
        println!("set the password of {} in {}", args.user, file.display());
    }
    reload_users_of(ctx, &file)?;
    Ok(ExitCode::SUCCESS)
}

/// Sets `user`'s password in `file` (made when missing).
pub fn set(file: &Path, user: &str, password: &str) -> Result<()> {
    check_user(user)?;
    let hash = bcrypt::hash(password, COST).context("hashing the password")?;
    let (mut lines, gid) = read(file)?;
    let entry = format!("{user}:{hash}");
    match lines.iter().position(|l| user_of(l) == Some(user)) {
        Some(i) => lines[i] = entry,
        None => lines.push(entry),
    }
    write(file, &lines, gid)
}

fn delete(file: &Path, user: &str) -> Result<()> {
    check_user(user)?;
    let (mut lines, gid) = read(file)?;
    let before = lines.len();
    lines.retain(|l| user_of(l) != Some(user));
    if lines.len() == before {
        bail!("{}: no user {user}", file.display());
    }
    write(file, &lines, gid)
}

/// Whether `file` has a password for `user` (a missing file has none).
pub fn has_user(file: &Path, user: &str) -> Result<bool> {
    Ok(users(file)?.iter().any(|u| u == user))
}

/// The users of `file`, in its order.
pub fn users(file: &Path) -> Result<Vec<String>> {
    let (lines, _) = read(file)?;
    Ok(lines
        .iter()
        .filter_map(|l| user_of(l))
        .map(str::to_owned)
        .collect())
}

/// Names the htpasswd format can hold and the daemon reads back as given:
/// it trims each line and skips `#` lines as comments, and `:` ends the name.
pub fn check_user(user: &str) -> Result<()> {
    let unreadable = user.is_empty()
        || user.starts_with('#')
        || user.starts_with(char::is_whitespace)
        || user.ends_with(char::is_whitespace)
        || user.contains(':')
        || user.chars().any(|c| c.is_control());
    if unreadable {
        bail!(
            "{user:?}: not a user name (no colon, no control characters, no space at either \
             end, not starting with #)"
        );
    }
    Ok(())
}

/// The user of an htpasswd line, as the daemon reads it (comments have none).
fn user_of(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.starts_with('#') {
        return None;
    }
    line.split_once(':').map(|(u, _)| u)
}

/// The lines of `file` (none when missing) and its group; never through a
/// symlink (`files::read_regular`).
fn read(file: &Path) -> Result<(Vec<String>, Option<u32>)> {
    use std::os::unix::fs::MetadataExt;
    match files::read_regular(file)? {
        Some((text, meta)) => Ok((text.lines().map(str::to_owned).collect(), Some(meta.gid()))),
        None => Ok((Vec::new(), None)),
    }
}

/// 0640; group websockify, else the old file's group, else ours.
fn write(file: &Path, lines: &[String], old_gid: Option<u32>) -> Result<()> {
    let gid = files::service_gid().or(old_gid);
    let mut text = lines.join("\n");
    text.push('\n');
    files::write(file, text.as_bytes(), 0o640, gid, Existing::Replace)
}

/// One line of standard input, or asked twice on the terminal.
pub fn read_password(user: &str, stdin: bool) -> Result<String> {
    let password = if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for the password on: give it on standard input with --stdin");
        }
        let first = rpassword::prompt_password(format!("Password for {user}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ; nothing changed");
        }
        first
    };
    if password.is_empty() {
        bail!("empty password refused");
    }
    Ok(password)
}

/// Reloads the running instances whose `auth-file` is `file`.
fn reload_users_of(ctx: &Ctx, file: &Path) -> Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let file = canon(file);
    let users: Vec<String> = instance::all(ctx)?
        .into_iter()
        .filter(|i| i.auth_file().is_some_and(|f| canon(f) == file))
        .map(|i| i.name)
        .collect();
    ctx.systemd.reload_running(&users)
}
