//! `websockifyctl list` and `status [NAME]` (`--json` for scripts): for each
//! conf, the units' states, listen addresses, the live sessions (from the
//! control socket, when it answers), the target and whether it
//! answers as a VNC server (its 12-byte `RFB xxx.yyy\n` banner within 2 s,
//! `rfb::probe`), auth on or off, and the certificate's expiry (for
//! `acme-domain`, the one kept in `acme-state`, with the last ACME error from
//! the service's `STATUS=`; before the first one, that it is waiting for
//! it). `list` shows one aligned line per instance, without the target
//! check (up to 2 s each). Exit status
//! 1 when an enabled instance has failed; a target that is down or not a
//! VNC server is reported, not a failure (a plain TCP target is
//! legitimate), with a warning when `require-rfb` makes it refuse sessions.

use std::path::{Path, PathBuf};
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
    if args.json {
        return report(ctx, instance::all(ctx)?, true);
    }
    let values: Vec<Value> = instance::all(ctx)?
        .iter()
        .map(|i| describe(&ctx.systemd, i, false))
        .collect();
    if values.is_empty() {
        println!("no instances in {}", ctx.dir.display());
    } else {
        print!("{}", super::list::render(&values));
    }
    Ok(exit_code(&values))
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
    // Every instance, to tell who shares a password file.
    let everyone = instance::all(ctx).unwrap_or_default();
    let values: Vec<Value> = instances
        .iter()
        .map(|i| {
            let mut v = describe(&ctx.systemd, i, true);
            v["users_warning"] = shared_users_warning(i, &everyone).into();
            v
        })
        .collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&values)?);
    } else if values.is_empty() {
        println!("no instances in {}", ctx.dir.display());
    } else {
        values.iter().for_each(print_text);
    }
    Ok(exit_code(&values))
}

/// 1 when an enabled unit has failed.
fn exit_code(values: &[Value]) -> ExitCode {
    if values.iter().any(|v| v["failed"] == json!(true)) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One instance as JSON; the target is checked when `check_target`.
fn describe(systemd: &Systemd, inst: &Instance, check_target: bool) -> Value {
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
    let probe = check_target.then(|| probe(o)).flatten();
    let acme_cert = o.acme_domain.as_ref().map(|_| acme_cert(inst));
    let certificate = o.cert.as_ref().or(acme_cert.as_ref()).map(|path| {
        let mut c = match cert::info(path) {
            Ok(c) => json!({"path": path, "expires": c.not_after, "days_left": c.days_left,
                            "fingerprint": c.fingerprint}),
            // Before the CA's first certificate there is no file: normal.
            Err(_) if acme_cert.is_some() && !path.exists() => {
                json!({"path": path, "waiting": true})
            }
            Err(e) => json!({"path": path, "error": format!("{e:#}")}),
        };
        if acme_cert.is_some() {
            c["acme_last_error"] = acme_error(systemd, inst).into();
        }
        c
    });
    json!({
        "name": inst.name, "conf": inst.path, "conf_error": inst.error,
        "service": states[0], "socket": states[1], "failed": failed,
        "listen": inst.listen(), "target": target,
        "vnc": probe.as_ref().map(Probe::to_string),
        "target_answers": probe.as_ref().map(Probe::answers),
        "target_rfb": probe.as_ref().and_then(Probe::rfb),
        "require_rfb": o.require_rfb == Some(true),
        "auth": o.auth_file.is_some() || o.auth_plugin.is_some() || o.oidc_issuer.is_some(),
        "oidc": oidc(o, check_target),
        "auth_file": o.auth_file, "tls": o.cert.is_some() || o.acme_domain.is_some(),
        "allowed_users": allowed_users(o),
        "sessions": super::live::count(inst),
        "certificate": certificate,
    })
}

/// Who may come in, when the conf says: `allowed-users`, else the users
/// of `[users]`; `None`: every user of the login.
pub fn allowed_users(o: &crate::config::options::Options) -> Option<Vec<String>> {
    if let Some(list) = &o.allowed_users {
        let words = list.clone().into_vec();
        let words = words.iter().flat_map(|w| w.split([' ', ',', '\t']));
        return Some(words.filter(|w| !w.is_empty()).map(str::to_owned).collect());
    }
    o.users.as_ref().map(|m| m.keys().cloned().collect())
}

/// The warning for an instance that lets in every user of a password file
/// other instances use too: each of those users reaches each instance.
fn shared_users_warning(inst: &Instance, everyone: &[Instance]) -> Option<String> {
    let o = &inst.options;
    let file = o.auth_file.as_ref()?;
    if allowed_users(o).is_some() {
        return None;
    }
    let others: Vec<&str> = everyone
        .iter()
        .filter(|i| i.name != inst.name && i.options.auth_file.as_ref() == Some(file))
        .map(|i| i.name.as_str())
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "every user of {} may open this instance, and the users of {} too: \
             set allowed-users in {}",
            file.display(),
            others.join(", "),
            inst.path.display()
        )
    })
}

/// The certificate ACME keeps for the instance: in `acme-state`, by default
/// under the unit's `StateDirectory=websockify/%i`.
fn acme_cert(inst: &Instance) -> PathBuf {
    let state = inst.options.acme_state.clone().unwrap_or_else(|| {
        Path::new("/var/lib/websockify")
            .join(&inst.name)
            .join("acme")
    });
    state.join("cert.pem")
}

/// The last ACME error the running service reported in its `STATUS=`.
fn acme_error(systemd: &Systemd, inst: &Instance) -> Option<String> {
    let status = systemd.property(&systemctl::service(&inst.name), "StatusText");
    status.split("; last error: ").nth(1).map(str::to_owned)
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

/// The OpenID issuer and, when checking, whether its discovery document
/// and keys answer.
fn oidc(o: &Options, check: bool) -> Value {
    let Some(issuer) = &o.oidc_issuer else {
        return Value::Null;
    };
    if !check {
        return json!({"issuer": issuer});
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let answer = match runtime {
        Ok(rt) => rt.block_on(crate::access::oidc::check_issuer(issuer)),
        Err(e) => Err(format!("cannot check: {e}")),
    };
    match answer {
        Ok(keys) => json!({"issuer": issuer, "discovery": true, "keys": keys}),
        Err(e) => json!({"issuer": issuer, "discovery": false, "error": e}),
    }
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
    if let Some(n) = v["sessions"].as_u64() {
        println!("  live sessions: {n}");
    }
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
    print_oidc(&v["oidc"]);
    if let Some(users) = v["allowed_users"].as_array() {
        let names: Vec<&str> = users.iter().filter_map(Value::as_str).collect();
        println!("  users: {}", names.join(", "));
    }
    if let Some(w) = v["users_warning"].as_str() {
        println!("  warning: {w}");
    }
    print_certificate(&v["certificate"]);
}

/// The OpenID line of `status`: the issuer, and whether it answers.
fn print_oidc(o: &Value) {
    let Some(issuer) = o["issuer"].as_str() else {
        return;
    };
    match (&o["discovery"], o["error"].as_str()) {
        (Value::Bool(true), _) => println!(
            "  oidc: {issuer}  [discovery answers, {} keys]",
            o["keys"].as_u64().unwrap_or(0)
        ),
        (Value::Bool(false), Some(e)) => println!("  oidc: {issuer}  [not answering: {e}]"),
        _ => println!("  oidc: {issuer}"),
    }
}

/// The certificate lines of `status`: path and expiry, or why there is none.
fn print_certificate(c: &Value) {
    let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    if !c.is_null() {
        match c.get("error") {
            Some(e) => println!("  certificate: {}: {}", s(&c["path"]), s(e)),
            None if c["waiting"] == json!(true) => println!(
                "  certificate: {}: waiting for the first certificate from the ACME CA",
                s(&c["path"])
            ),
            None => println!(
                "  certificate: {} expires {} ({} days)",
                s(&c["path"]),
                s(&c["expires"]),
                c["days_left"]
            ),
        }
        if let Some(e) = c["acme_last_error"].as_str() {
            println!("  last ACME error: {e}");
        }
    }
}
