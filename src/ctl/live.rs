//! `websockifyctl sessions NAME`, `kill NAME ID`, `drain NAME` and
//! `reload NAME`: the running instance's control socket (`control-socket` in its conf, else
//! where the unit puts it, `/run/websockify/NAME/control.sock`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::{instance, Ctx};

/// `sessions` options.
#[derive(Args)]
pub struct SessionsArgs {
    /// The instance.
    pub name: String,
    /// Print the JSON list as the instance gives it.
    #[arg(long)]
    pub json: bool,
}

/// `kill` options.
#[derive(Args)]
pub struct KillArgs {
    /// The instance.
    pub name: String,
    /// The session's number, from `sessions`.
    #[arg(required_unless_present = "user")]
    pub id: Option<u64>,
    /// Close every session of this user instead.
    #[arg(long, value_name = "USER", conflicts_with = "id")]
    pub user: Option<String>,
}

/// `drain` options.
#[derive(Args)]
pub struct DrainArgs {
    /// The instance.
    pub name: String,
}

/// `reload` options.
#[derive(Args)]
pub struct ReloadArgs {
    /// The instance.
    pub name: String,
    /// The control socket the instance was started with (`websockify
    /// --control-socket`; the unit's ExecReload= gives it, as a broken conf
    /// names none). [default: the conf's control-socket, else
    /// /run/websockify/NAME/control.sock]
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,
}

/// How long a command waits for the instance's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// How long `list` waits for each instance's session count.
const COUNT_WAIT: Duration = Duration::from_secs(2);

/// How long `reload` waits for the outcome: the instance reads its files
/// again and looks up target names.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// Lists the live sessions of an instance.
pub fn sessions(ctx: &Ctx, args: SessionsArgs) -> Result<ExitCode> {
    let answer = ask(ctx, &args.name, "sessions")?;
    if args.json {
        print!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&answer).context("the instance's answer")?;
    if list.is_empty() {
        println!("no live sessions on websockify@{}", args.name);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", session_table(&list));
    Ok(ExitCode::SUCCESS)
}

/// The sessions as the instance lists them, one aligned line each.
fn session_table(list: &[serde_json::Value]) -> String {
    use super::table::{render, Align::*};
    let text = |v: &serde_json::Value, or: &str| v.as_str().unwrap_or(or).to_owned();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s["id"].to_string(),
                text(&s["client"], "?"),
                text(&s["user"], "-"),
                text(&s["target"], "?"),
                s["bytes_to_target"].to_string(),
                s["bytes_to_client"].to_string(),
                format!("{}s", s["age_s"]),
            ]
        })
        .collect();
    let header = [
        ("ID", Right),
        ("CLIENT", Left),
        ("USER", Left),
        ("TARGET", Left),
        ("TO TARGET", Right),
        ("TO CLIENT", Right),
        ("AGE", Right),
    ];
    render(&header, &rows)
}

/// How many sessions the running instance has, `None` when its control
/// socket does not answer (stopped, or not ours to read): for `list`,
/// which shows that as `-` rather than failing.
pub fn count(inst: &instance::Instance) -> Option<usize> {
    let path = inst
        .options
        .control_socket
        .clone()
        .unwrap_or_else(|| default_socket(&inst.name));
    let answer = talk(&path, &inst.name, "sessions", COUNT_WAIT).ok()?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&answer).ok()?;
    Some(list.len())
}

/// Closes one session, or every session of a user (1008), and says so.
pub fn kill(ctx: &Ctx, args: KillArgs) -> Result<ExitCode> {
    let (command, what) = match (&args.user, args.id) {
        (Some(user), _) => {
            // The control socket's commands are words on one line.
            if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("{user:?}: not a user name (no spaces or control characters)");
            }
            (
                format!("kill-user {user}"),
                format!("the sessions of {user}"),
            )
        }
        (None, Some(id)) => (format!("kill {id}"), format!("session {id}")),
        (None, None) => bail!("give a session number or --user USER"),
    };
    let code = done(ask(ctx, &args.name, &command)?)?;
    println!("closed {what} of websockify@{} (1008)", args.name);
    Ok(code)
}

/// Starts the instance's drain, as SIGTERM would.
pub fn drain(ctx: &Ctx, args: DrainArgs) -> Result<ExitCode> {
    done(ask(ctx, &args.name, "drain")?)
}

/// Reloads the instance and says how it went: exit status 1 with the
/// instance's reason when the new conf is refused (the old settings stay).
/// The unit's `ExecReload=` runs this, as the service user: it only talks
/// to the control socket, never to systemctl.
pub fn reload(ctx: &Ctx, args: ReloadArgs) -> Result<ExitCode> {
    let name = &args.name;
    let path = match args.control_socket {
        Some(path) => instance::check_name(name).map(|()| path)?,
        None => socket(ctx, name)?,
    };
    let answer = talk(&path, name, "reload", RELOAD_WAIT)?;
    let answer = answer.trim();
    if let Some(done) = answer.strip_prefix("ok") {
        println!("reloaded {name}{done}");
        return Ok(ExitCode::SUCCESS);
    }
    match answer.strip_prefix("error: ") {
        Some(why) => bail!("{name}: reload failed, the previous settings stay: {why}"),
        None if answer.is_empty() => bail!("{name}: no answer to reload (stopping?)"),
        None => bail!("{name}: unexpected answer to reload: {answer:?}"),
    }
}

fn done(answer: String) -> Result<ExitCode> {
    match answer.trim() {
        "ok" => Ok(ExitCode::SUCCESS),
        other if other.starts_with("ok: ") => Ok(ExitCode::SUCCESS),
        other => bail!("{}", other.trim_start_matches("error: ")),
    }
}

/// Sends one command to the instance's control socket; its answer.
fn ask(ctx: &Ctx, name: &str, command: &str) -> Result<String> {
    talk(&socket(ctx, name)?, name, command, ANSWER_WAIT)
}

/// Sends one command to the control socket at `path`; the answer, waiting
/// up to `wait` for it.
fn talk(path: &Path, name: &str, command: &str, wait: Duration) -> Result<String> {
    let mut s = UnixStream::connect(path).with_context(|| {
        format!(
            "{}: is websockify@{name} running? (control socket)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(wait))?;
    writeln!(s, "{command}")?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .with_context(|| format!("{}: no answer within {wait:?}", path.display()))?;
    Ok(answer)
}

/// The conf's `control-socket`, else where the unit puts it. A conf that
/// does not parse names none: say so, as the default may be the wrong place.
fn socket(ctx: &Ctx, name: &str) -> Result<PathBuf> {
    let inst = instance::one(ctx, name)?;
    let default = || default_socket(name);
    if let Some(error) = &inst.error {
        eprintln!(
            "websockifyctl: warning: {error}; trying the control socket {}",
            default().display()
        );
    }
    Ok(inst.options.control_socket.clone().unwrap_or_else(default))
}

/// Where the unit puts the control socket of instance `name`.
pub fn default_socket(name: &str) -> PathBuf {
    PathBuf::from(format!("/run/websockify/{name}/control.sock"))
}
