//! `websockifyctl list` and `status [NAME]` (`--json` for scripts): for each
//! conf, the units' states, listen addresses, the target and whether it
//! answers as a VNC server (its 12-byte `RFB xxx.yyy\n` banner within 2 s,
//! `rfb::probe`), auth on or off, and the certificate's expiry. Exit status
//! 1 when an enabled instance has failed; a target that is down or not a
//! VNC server is reported, not a failure (a plain TCP target is
//! legitimate), with a warning when `require-rfb` makes it refuse sessions.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use super::instance::{self, Instance};
use super::systemctl::{self, Systemd};
use super::{cert, Ctx};
use crate::access::vnc_password::VncPassword;
use crate::addr::{Target, TargetAddr};
use crate::config::options::Options;
use crate::session::rfb::probe::Probe;

/// How long the target has to accept and send its banner.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `list` options.
#[derive(Args)]
pub struct ListArgs {
    /// One JSON array of objects instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `status` options.
#[derive(Args)]
pub struct StatusArgs {
    /// The instance (default: all).
    pub name: Option<String>,
    /// One JSON array of objects instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `list`.
pub fn list(ctx: &Ctx, args: ListArgs) -> Result<ExitCode> {
    report(ctx, instance::all(ctx)?, args.json)
}

/// Runs `status`.
pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<ExitCode> {
    let instances = match &args.name {
        Some(name) => vec![instance::one(ctx, name)?],
        None => instance::all(ctx)?,
    };
    report(ctx, instances, args.json)
}

fn report(ctx: &Ctx, instances: Vec<Instance>, as_json: bool) -> Result<ExitCode> {
    let values: Vec<Value> = instances
        .iter()
        .map(|i| describe(&ctx.systemd, i))
        .collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&values)?);
    } else if values.is_empty() {
        println!("no instances in {}", ctx.dir.display());
    } else {
        values.iter().for_each(print_text);
    }
    let failed = values.iter().any(|v| v["failed"] == json!(true));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One instance as JSON.
fn describe(systemd: &Systemd, inst: &Instance) -> Value {
    let units = [
        systemctl::service(&inst.name),
        systemctl::socket(&inst.name),
    ];
    let state = |u: &str| {
        json!({"unit": u, "active": systemd.query("is-active", u),
               "enabled": systemd.query("is-enabled", u)})
    };
    let states: Vec<Value> = units.iter().map(|u| state(u)).collect();
    let failed = states
        .iter()
        .any(|s| s["active"] == "failed" && s["enabled"] == "enabled");
    let o = &inst.options;
    let target = o.target.clone().or_else(|| {
        o.unix_target
            .as_ref()
            .map(|p| format!("unix:{}", p.display()))
    });
    let probe = probe(o);
    let certificate = o.cert.as_ref().map(|path| match cert::info(path) {
        Ok(c) => json!({"path": path, "expires": c.not_after, "days_left": c.days_left,
                        "fingerprint": c.fingerprint}),
        Err(e) => json!({"path": path, "error": format!("{e:#}")}),
    });
    json!({
        "name": inst.name, "conf": inst.path, "conf_error": inst.error,
        "service": states[0], "socket": states[1], "failed": failed,
        "listen": inst.listen(), "target": target,
        "vnc": probe.as_ref().map(Probe::to_string),
        "target_answers": probe.as_ref().map(Probe::answers),
        "target_rfb": probe.as_ref().and_then(Probe::rfb),
        "require_rfb": o.require_rfb == Some(true),
        "auth": o.auth_file.is_some() || o.auth_plugin.is_some(),
        "auth_file": o.auth_file, "tls": o.cert.is_some(), "certificate": certificate,
    })
}

/// The target as `websockify` would reach it (`target` or `unix-target`,
/// over TLS with `ssl-target`), probed for an RFB banner within 2 s.
fn probe(o: &Options) -> Option<Probe> {
    let target = match (&o.target, &o.unix_target) {
        (Some(t), _) => match TargetAddr::parse(t) {
            Ok(addr) => Target::Tcp(addr),
            Err(e) => return Some(Probe::Down(format!("{e:#}"))),
        },
        (None, Some(path)) => Target::Unix(path.clone()),
        (None, None) => return None,
    };
    let tls = match o.ssl_target {
        Some(true) => match crate::tls::client_config() {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => return Some(Probe::Down(format!("TLS: {e:#}"))),
        },
        _ => None,
    };
    // A password file by path is read to log in (see rfb::probe: TigerVNC
    // counts a check that does not); `credential:` ones are the service's.
    let password = o
        .vnc_password_file
        .as_ref()
        .filter(|p| !p.to_string_lossy().starts_with("credential:"))
        .and_then(|p| VncPassword::load(p).ok());
    Some(probe_target(&target, tls.as_ref(), password.as_ref()))
}

/// Probes `target` for an RFB banner within 2 s, logging in with
/// `password` if given (`add` warns with it).
pub fn probe_target(
    target: &Target,
    tls: Option<&Arc<rustls::ClientConfig>>,
    password: Option<&VncPassword>,
) -> Probe {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => rt.block_on(Probe::run(target, PROBE_TIMEOUT, tls, password)),
        Err(e) => Probe::Down(format!("cannot check: {e}")),
    }
}

fn print_text(v: &Value) {
    let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    println!("{}  ({})", s(&v["name"]), s(&v["conf"]));
    if !v["conf_error"].is_null() {
        println!("  conf error: {}", s(&v["conf_error"]));
    }
    for unit in [&v["service"], &v["socket"]] {
        println!(
            "  {}: {}, {}",
            s(&unit["unit"]),
            s(&unit["active"]),
            s(&unit["enabled"])
        );
    }
    let listen: Vec<String> = v["listen"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    println!("  listen: {}", listen.join(", "));
    println!("  target: {}  [{}]", s(&v["target"]), s(&v["vnc"]));
    if v["require_rfb"] == json!(true)
        && v["target_answers"] == json!(true)
        && v["target_rfb"].is_null()
    {
        println!("  warning: require-rfb is set and the target is not a VNC server: every session is refused");
    }
    let auth = if v["auth"] == json!(true) {
        "on"
    } else {
        "off"
    };
    println!("  auth: {auth}");
    let c = &v["certificate"];
    if !c.is_null() {
        match c.get("error") {
            Some(e) => println!("  certificate: {}: {}", s(&c["path"]), s(e)),
            None => println!(
                "  certificate: {} expires {} ({} days)",
                s(&c["path"]),
                s(&c["expires"]),
                c["days_left"]
            ),
        }
    }
}
