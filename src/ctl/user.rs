//! `websockifyctl user add|remove|list NAME ...`: who may use an instance,
//! and where each user goes. `add` lets a user in (`allowed-users`) and,
//! with `--target`, gives them their own desktop (a `[users.USER]` table,
//! websockify.conf(5) USERS), asking for a password when the instance's
//! password file has none for them; `remove` takes the user out of both,
//! and the reload that follows closes their live sessions (1008).
//!
//! The conf is edited with `toml_edit`, so the administrator's comments and
//! layout stay; the result is checked as `websockify --check` would before
//! it replaces the file, then running instances are reloaded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use toml_edit::{value, Array, DocumentMut, Item, Table};

use super::files::{self, Existing};
use super::instance::{self, Instance};
use super::{passwd, Ctx};

/// `user` options.
#[derive(Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// The `user` commands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Let USER use instance NAME (allowed-users); with --target, on their
    /// own desktop ([users.USER]). Asks for a password when USER has none.
    Add(UserAddArgs),
    /// Take USER out of instance NAME; the reload closes their sessions (1008).
    Remove(UserRemoveArgs),
    /// The users of instance NAME, their targets and whether they have a password.
    List(UserListArgs),
}

/// `user add` options.
#[derive(Args)]
pub struct UserAddArgs {
    /// The instance.
    pub name: String,
    /// The user name, as in the instance's password file.
    pub user: String,
    /// The user's own VNC server, `host:port` ([users.USER] target).
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Option<String>,
    /// The VNC password of the user's own server (needs --target).
    #[arg(long, value_name = "FILE", requires = "target")]
    pub vnc_password_file: Option<String>,
    /// Read a new password as one line from standard input (no prompt).
    #[arg(long)]
    pub stdin: bool,
}

/// `user remove` options.
#[derive(Args)]
pub struct UserRemoveArgs {
    /// The instance.
    pub name: String,
    /// The user name.
    pub user: String,
}

/// `user list` options.
#[derive(Args)]
pub struct UserListArgs {
    /// The instance.
    pub name: String,
}

/// Runs `user`.
pub fn run(ctx: &Ctx, args: UserArgs) -> Result<ExitCode> {
    match args.command {
        UserCommand::Add(a) => add(ctx, &a),
        UserCommand::Remove(a) => remove(ctx, &a),
        UserCommand::List(a) => list(ctx, &a),
    }
}

fn add(ctx: &Ctx, args: &UserAddArgs) -> Result<ExitCode> {
    ctx.need_root("user add")?;
    passwd::check_user(&args.user)?;
    let (inst, auth_file) = instance_with_login(ctx, &args.name)?;
    let mut doc = Conf::read(&inst)?;
    let kept = if let Some(target) = &args.target {
        let vnc = args.vnc_password_file.as_deref();
        let kept = doc.map_unmapped(&inst)?;
        doc.set_table(&args.user, target, vnc);
        kept
    } else if doc.has_tables() {
        bail!(
            "{} sends each user to their own desktop ([users] tables): give --target HOST:PORT",
            args.name
        );
    } else {
        Vec::new()
    };
    let listed = doc.allow(&args.user);
    doc.check(&inst)?;
    if !passwd::has_user(&auth_file, &args.user)? {
        let password = passwd::read_password(&args.user, args.stdin)?;
        passwd::set(&auth_file, &args.user, &password)?;
        println!(
            "set the password of {} in {}",
            args.user,
            auth_file.display()
        );
    }
    doc.write(&inst)?;
    say_added(args, &inst, &auth_file, listed, &kept);
    ctx.systemd
        .reload_running(std::slice::from_ref(&args.name))?;
    Ok(ExitCode::SUCCESS)
}

fn say_added(args: &UserAddArgs, inst: &Instance, file: &Path, listed: bool, kept: &[String]) {
    let (user, name) = (&args.user, &inst.name);
    match &args.target {
        Some(t) => println!("{user} reaches {t} through instance {name}"),
        None => println!("{user} may use instance {name}"),
    }
    if !kept.is_empty() {
        let target = inst.options.target.as_deref().unwrap_or("-");
        let s = if kept.len() == 1 { "s" } else { "" };
        println!(
            "{} keep{s} reaching {target} (a [users] table each)",
            kept.join(", ")
        );
    }
    if !listed {
        println!(
            "note: {name} has no allowed-users, so every user of {} may use it",
            file.display()
        );
    }
}

fn remove(ctx: &Ctx, args: &UserRemoveArgs) -> Result<ExitCode> {
    ctx.need_root("user remove")?;
    let (inst, auth_file) = instance_with_login(ctx, &args.name)?;
    let mut doc = Conf::read(&inst)?;
    let (listed, mapped) = doc.take_out(&args.user);
    if !listed && !mapped {
        if !doc.restricts() {
            bail!(
                "every user of {} may use {} (no allowed-users): delete the password with \
                 websockifyctl passwd --delete {}, or name who may in allowed-users",
                auth_file.display(),
                args.name,
                args.user
            );
        }
        bail!("{} is not a user of instance {}", args.user, args.name);
    }
    doc.check(&inst)?;
    doc.write(&inst)?;
    println!(
        "{} may no longer use instance {}; a reload closes their live sessions (1008)",
        args.user, args.name
    );
    ctx.systemd
        .reload_running(std::slice::from_ref(&args.name))?;
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Ctx, args: &UserListArgs) -> Result<ExitCode> {
    let (inst, auth_file) = instance_with_login(ctx, &args.name)?;
    let doc = Conf::read(&inst)?;
    let users = match doc.users() {
        Some(users) => users,
        None => {
            println!("every user of {} (no allowed-users):", auth_file.display());
            passwd::users(&auth_file)?
        }
    };
    let width = users.iter().map(String::len).max().unwrap_or(0);
    let fixed = inst.options.target.as_deref().unwrap_or("-");
    for user in &users {
        let target = doc.target_of(user).unwrap_or_else(|| fixed.to_owned());
        let password = if passwd::has_user(&auth_file, user)? {
            "password set"
        } else {
            "no password"
        };
        println!("{user:<width$}  {target}  {password}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Instance `name`, which must parse and have a password file.
fn instance_with_login(ctx: &Ctx, name: &str) -> Result<(Instance, PathBuf)> {
    let inst = instance::one(ctx, name)?;
    if let Some(e) = &inst.error {
        bail!("{}: fix this first: {e}", inst.path.display());
    }
    let Some(file) = inst.auth_file().map(Path::to_owned) else {
        bail!(
            "instance {name} has no password file (auth-file), so it knows no users: \
             make it with websockifyctl add {name} --user USER, or set auth-file in {}",
            inst.path.display()
        );
    };
    Ok((inst, file))
}

/// An instance's conf file as an editable TOML document.
struct Conf(DocumentMut);

impl Conf {
    fn read(inst: &Instance) -> Result<Self> {
        let Some((text, _)) = files::read_regular(&inst.path)? else {
            bail!("{}: does not exist", inst.path.display());
        };
        let doc = text
            .parse::<DocumentMut>()
            .with_context(|| format!("{}: not TOML", inst.path.display()))?;
        Ok(Conf(doc))
    }

    /// The users `allowed-users` and the tables name, when either is set.
    fn users(&self) -> Option<Vec<String>> {
        let mut users = self.allowed()?;
        for user in self.table_users() {
            if !users.contains(&user) {
                users.push(user);
            }
        }
        Some(users)
    }

    /// `allowed-users`, when set (a string or a list of strings).
    fn allowed(&self) -> Option<Vec<String>> {
        let item = self.0.get("allowed-users")?;
        if let Some(one) = item.as_str() {
            return Some(vec![one.to_owned()]);
        }
        let list = item.as_array()?.iter().filter_map(|v| v.as_str());
        Some(list.map(str::to_owned).collect())
    }

    fn table_users(&self) -> Vec<String> {
        let tables = self.0.get("users").and_then(Item::as_table_like);
        tables.map_or_else(Vec::new, |t| t.iter().map(|(k, _)| k.to_owned()).collect())
    }

    fn has_tables(&self) -> bool {
        !self.table_users().is_empty()
    }

    /// Whether only some users of the password file may come in.
    fn restricts(&self) -> bool {
        self.allowed().is_some() || self.has_tables()
    }

    fn target_of(&self, user: &str) -> Option<String> {
        let table = self.0.get("users")?.get(user)?;
        table.get("target")?.as_str().map(str::to_owned)
    }

    /// Adds `user` to `allowed-users` when that is set; false when it is
    /// not (then every user of the password file may come in).
    fn allow(&mut self, user: &str) -> bool {
        let Some(mut users) = self.allowed() else {
            return false;
        };
        if !users.iter().any(|u| u == user) {
            users.push(user.to_owned());
        }
        self.0["allowed-users"] = value(Array::from_iter(users));
        true
    }

    /// Before the first table: every user `allowed-users` lets in gets a
    /// table to the instance's `target` (and its VNC password), since a
    /// user without a table would be shut out. Returns their names.
    fn map_unmapped(&mut self, inst: &Instance) -> Result<Vec<String>> {
        if self.has_tables() {
            return Ok(Vec::new());
        }
        let allowed = self.allowed().unwrap_or_default();
        if allowed.is_empty() {
            return Ok(Vec::new());
        }
        let Some(target) = inst.options.target.clone() else {
            bail!(
                "{}: allowed-users without a target to keep them on",
                inst.name
            );
        };
        let vnc = self.0.get("vnc-password-file").and_then(|v| v.as_str());
        let vnc = vnc.map(str::to_owned);
        for user in &allowed {
            self.set_table(user, &target, vnc.as_deref());
        }
        Ok(allowed)
    }

    /// Writes `[users.USER]` anew.
    fn set_table(&mut self, user: &str, target: &str, vnc: Option<&str>) {
        let mut entry = Table::new();
        entry["target"] = value(target);
        if let Some(file) = vnc {
            entry["vnc-password-file"] = value(file);
        }
        let users = self.0.entry("users").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        if let Some(users) = users.as_table_like_mut() {
            users.insert(user, Item::Table(entry));
        }
    }

    /// Takes `user` out of `allowed-users` and the tables: whether it was
    /// in each. Without `allowed-users`, the users left in tables become
    /// it, so that taking out the last table never lets everyone in.
    fn take_out(&mut self, user: &str) -> (bool, bool) {
        if self.allowed().is_none() && self.has_tables() {
            self.0["allowed-users"] = value(Array::from_iter(self.table_users()));
        }
        let listed = match self.allowed() {
            Some(users) if users.iter().any(|u| u == user) => {
                let rest = users.into_iter().filter(|u| u != user);
                self.0["allowed-users"] = value(Array::from_iter(rest));
                true
            }
            _ => false,
        };
        let tables = self.0.get_mut("users").and_then(Item::as_table_like_mut);
        let mapped = tables.is_some_and(|t| t.remove(user).is_some());
        (listed, mapped)
    }

    /// Checks the result as `websockify --check` would read it.
    fn check(&self, inst: &Instance) -> Result<()> {
        instance::check(&inst.path, &self.0.to_string())
    }

    /// Replaces the file, keeping its mode and group.
    fn write(&self, inst: &Instance) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(&inst.path)
            .with_context(|| format!("cannot read {}", inst.path.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        let text = self.0.to_string();
        files::write(
            &inst.path,
            text.as_bytes(),
            mode,
            Some(meta.gid()),
            Existing::Replace,
        )
    }
}
