//! `websockifyctl`: the administrator's tool for instances, a link to the
//! `websockify` binary that `main` dispatches here by its name. One file per
//! command (`add`, `status` for list and status, `remove`, `user`, `passwd`, `cert`,
//! `nginx`, `apache`, `caddy` with what they share in `front`; `units` for
//! start, stop, restart and logs; `live` for sessions, kill, drain and
//! reload over the running instance's control socket; `recordings` for the
//! index of `record-sessions`, `export` to hand one to an auditor, `play` to
//! watch one in a browser, `pick` to find one); `instance` reads and
//! writes conf files, `files` writes any file atomically, `systemctl` talks
//! to systemd (or not, with `--no-systemd`), `table` lines up the columns
//! of `list` and `sessions`.
//!
//! Everything lives under one directory (`--conf-dir`, default
//! `/etc/websockify`): `NAME.conf` per instance, `ssl/websockify.{crt,key}`
//! (the generated certificate) and `htpasswd` (the default password file).

mod add;
mod apache;
mod caddy;
mod cert;
pub mod completion;
mod export;
mod files;
mod front;
mod instance;
mod list;
mod live;
mod nginx;
mod passwd;
mod pick;
mod play;
mod recordings;
mod remove;
mod status;
mod systemctl;
mod table;
mod units;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

pub use instance::NAME_RULE;
use systemctl::Systemd;

/// Where confs, the certificate and the password file live by default.
pub const DEFAULT_CONF_DIR: &str = "/etc/websockify";

/// Sets up, lists, and removes websockify instances (websockify@NAME).
///
/// Each instance is a conf file CONF_DIR/NAME.conf (see websockify.conf(5))
/// served by the systemd unit websockify@NAME.service or .socket.
#[derive(Parser)]
#[command(name = "websockifyctl", version, max_term_width = 100)]
pub struct Ctl {
    /// Directory of the conf files, the certificate (ssl/) and the password
    /// file (htpasswd). [default: /etc/websockify]
    #[arg(long, global = true, value_name = "DIR")]
    pub conf_dir: Option<PathBuf>,

    /// Change files only: never call systemctl (states show as "unknown").
    #[arg(long, global = true)]
    pub no_systemd: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Write CONF_DIR/NAME.conf for a VNC server, start websockify@NAME and
    /// print the URLs to open.
    Add(add::AddArgs),
    /// Every instance on one line: state, addresses, users, live sessions,
    /// certificate expiry.
    List(status::ListArgs),
    /// Every detail of one instance or all (target check, auth,
    /// certificate); exit status 1 when an enabled one failed.
    Status(status::StatusArgs),
    /// Start websockify@NAME (its socket when that is enabled) and wait until it is active.
    Start(units::UnitArgs),
    /// Stop websockify@NAME's service and socket (sessions are closed).
    Stop(units::UnitArgs),
    /// Stop, then start websockify@NAME (sessions are closed; reload keeps them).
    Restart(units::UnitArgs),
    /// The service's log (journalctl -u websockify@NAME).
    Logs(units::LogsArgs),
    /// Stop and disable websockify@NAME and move its conf aside.
    Remove(remove::RemoveArgs),
    /// Who may use an instance, and each user's own desktop: user add,
    /// remove, list.
    User(user::UserArgs),
    /// Set or delete a user's password (bcrypt) in an htpasswd file.
    Passwd(passwd::PasswdArgs),
    /// Show or renew the generated certificate.
    Cert(cert::CertArgs),
    /// Write an nginx site in front of an instance and move it to loopback.
    Nginx(front::FrontArgs),
    /// Write an Apache2 site in front of an instance and move it to loopback.
    Apache(front::FrontArgs),
    /// Write a Caddy site in front of an instance and move it to loopback.
    Caddy(front::FrontArgs),
    /// The live sessions of a running instance (id, client, user, target,
    /// bytes each way, age).
    Sessions(live::SessionsArgs),
    /// Close one session of a running instance (code 1008, logged).
    Kill(live::KillArgs),
    /// Drain a running instance: health checks fail, then it stops (as SIGTERM).
    Drain(live::DrainArgs),
    /// The recordings of an instance (record-sessions): start, user, client,
    /// duration, size and file, from its record-dir's index.jsonl.
    Recordings(recordings::RecordingsArgs),
    /// Write one recording (by file name or session id) and its index line
    /// into a directory for an auditor, checked against the index's SHA-256.
    Export(export::ExportArgs),
    /// Play one recording in the browser: serves a player (noVNC's RFB
    /// client) on a loopback port and prints its URL.
    Play(play::PlayArgs),
    /// Reload a running instance (as `systemctl reload websockify@NAME`,
    /// which runs this): exit status 1 and the reason when its conf is refused.
    Reload(live::ReloadArgs),
}

/// What every command needs: where the files are and whether to call systemd.
pub struct Ctx {
    /// The conf directory.
    pub dir: PathBuf,
    /// `--conf-dir` was not given: writing needs root.
    pub default_dir: bool,
    /// systemctl, or nothing.
    pub systemd: Systemd,
}

impl Ctx {
    /// The conf file of instance `name`.
    pub fn conf(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.conf"))
    }

    /// The generated certificate.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("ssl/websockify.crt")
    }

    /// The generated certificate's key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("ssl/websockify.key")
    }

    /// The default password file.
    pub fn htpasswd(&self) -> PathBuf {
        self.dir.join("htpasswd")
    }

    /// Fails unless the caller may write into the default conf directory.
    pub fn need_root(&self, what: &str) -> Result<()> {
        if self.default_dir && !nix::unistd::geteuid().is_root() {
            bail!(
                "{what} writes into {DEFAULT_CONF_DIR}: run it as root (sudo websockifyctl ...), \
                 or give --conf-dir DIR"
            );
        }
        Ok(())
    }
}

/// Runs `websockifyctl` with these arguments (argv[0] first).
pub fn main(args: &[String]) -> ExitCode {
    let ctl = Ctl::parse_from(args);
    let ctx = Ctx {
        default_dir: ctl.conf_dir.is_none(),
        // Absolute: confs name the certificate and password file by it.
        dir: ctl.conf_dir.map_or_else(
            || PathBuf::from(DEFAULT_CONF_DIR),
            |d| std::path::absolute(&d).unwrap_or(d),
        ),
        systemd: Systemd::new(!ctl.no_systemd),
    };
    let result = match ctl.command {
        Command::Add(a) => add::run(&ctx, a),
        Command::List(a) => status::list(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Start(a) => units::run(&ctx, units::Action::Start, a),
        Command::Stop(a) => units::run(&ctx, units::Action::Stop, a),
        Command::Restart(a) => units::run(&ctx, units::Action::Restart, a),
        Command::Logs(a) => units::logs(&ctx, a),
        Command::Remove(a) => remove::run(&ctx, a),
        Command::User(a) => user::run(&ctx, a),
        Command::Passwd(a) => passwd::run(&ctx, a),
        Command::Cert(a) => cert::run(&ctx, a),
        Command::Nginx(a) => front::run::<nginx::Nginx>(&ctx, a),
        Command::Apache(a) => front::run::<apache::Apache>(&ctx, a),
        Command::Caddy(a) => front::run::<caddy::Caddy>(&ctx, a),
        Command::Sessions(a) => live::sessions(&ctx, a),
        Command::Kill(a) => live::kill(&ctx, a),
        Command::Drain(a) => live::drain(&ctx, a),
        Command::Reload(a) => live::reload(&ctx, a),
        Command::Recordings(a) => recordings::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Play(a) => play::run(&ctx, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("websockifyctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
