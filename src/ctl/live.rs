//! `websockifyctl sessions NAME`, `kill NAME ID` and `drain NAME`: the
//! running instance's control socket (`control-socket` in its conf, else
//! where the unit puts it, `/run/websockify/NAME/control.sock`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
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

/// Lists the live sessions of an instance.
pub fn sessions(ctx: &Ctx, args: SessionsArgs) -> Result<ExitCode> {
    let answer = ask(ctx, &args.name, "sessions")?;
    if args.json {
        print!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&answer).context("the instance's answer")?;
    println!(
        "{:>6}  {:<28} {:<12} {:<24} {:>12} {:>12} {:>8}",
        "ID", "CLIENT", "USER", "TARGET", "TO TARGET", "TO CLIENT", "AGE"
    );
    for s in &list {
        let user = s["user"].as_str().unwrap_or("-");
        println!(
            "{:>6}  {:<28} {:<12} {:<24} {:>12} {:>12} {:>7}s",
            s["id"],
            s["client"].as_str().unwrap_or("?"),
            user,
            s["target"].as_str().unwrap_or("?"),
            s["bytes_to_target"],
            s["bytes_to_client"],
            s["age_s"]
        );
    }
    Ok(ExitCode::SUCCESS)
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

fn done(answer: String) -> Result<ExitCode> {
    match answer.trim() {
        "ok" => Ok(ExitCode::SUCCESS),
        other if other.starts_with("ok: ") => Ok(ExitCode::SUCCESS),
        other => bail!("{}", other.trim_start_matches("error: ")),
    }
}

/// Sends one command to the instance's control socket; its answer.
fn ask(ctx: &Ctx, name: &str, command: &str) -> Result<String> {
    let path = socket(ctx, name)?;
    let mut s = UnixStream::connect(&path).with_context(|| {
        format!(
            "{}: is websockify@{name} running? (control socket)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(s, "{command}")?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer)?;
    Ok(answer)
}

fn socket(ctx: &Ctx, name: &str) -> Result<PathBuf> {
    let inst = instance::one(ctx, name)?;
    Ok(inst
        .options
        .control_socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/websockify/{name}/control.sock"))))
}
