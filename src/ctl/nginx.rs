//! `websockifyctl nginx NAME --server-name HOST`: nginx in front of an
//! instance. Writes the site `websockify-NAME` into sites-available (or
//! `--nginx-dir`) from the shipped example `nginx-novnc-proxy-all.conf`
//! (nginx does TLS with the generated certificate and proxies everything,
//! pages and WebSocket, to the instance), enables it and runs `nginx -t`
//! when nginx is installed, then moves the instance to its behind-nginx form
//! (plain, 127.0.0.1 only, loopback as trusted proxy) and restarts it.
//!
//! A password stays websockify's (`auth-file`): nginx passes the browser's
//! Authorization header on instead of asking itself.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::files::{self, Existing};
use super::instance::{self, Instance};
use super::{add, cert, systemctl, Ctx};

/// Debian's directory of nginx sites.
pub const SITES: &str = "/etc/nginx/sites-available";

/// The example the site is made from.
const TEMPLATE: &str = include_str!("../../debian/examples/nginx-novnc-proxy-all.conf");

/// `nginx` options.
#[derive(Args)]
pub struct NginxArgs {
    /// The instance.
    pub name: String,
    /// The name browsers use for the site (nginx's server_name).
    #[arg(long, value_name = "HOST")]
    pub server_name: String,
    /// Where to write the site; the site is enabled and tested only in the default.
    /// [default: /etc/nginx/sites-available]
    #[arg(long, value_name = "DIR")]
    pub nginx_dir: Option<PathBuf>,
}

/// Runs `nginx`.
pub fn run(ctx: &Ctx, args: NginxArgs) -> Result<ExitCode> {
    let inst = instance::one(ctx, &args.name)?;
    ctx.need_root("nginx")?;
    let system = args.nginx_dir.is_none();
    if system && !nix::unistd::geteuid().is_root() {
        bail!("nginx writes into {SITES}: run it as root, or give --nginx-dir DIR");
    }
    check_server_name(&args.server_name)?;
    let Some(port) = inst.ports().first().copied() else {
        bail!(
            "{}: no TCP listen address for nginx to proxy to",
            inst.path.display()
        );
    };
    if inst.options.web.is_none() {
        eprintln!(
            "websockifyctl: warning: {} sets no web: nginx will find no noVNC pages",
            inst.path.display()
        );
    }
    cert::ensure(ctx)?;
    let dir = args
        .nginx_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(SITES));
    let site = dir.join(format!("websockify-{}", inst.name));
    refuse_a_taken_server_name(&dir, &site, &args.server_name)?;
    let text = site_text(ctx, &inst.name, &args.server_name, port);
    files::write(&site, text.as_bytes(), 0o644, None, Existing::Replace)?;
    println!("wrote {}", site.display());
    if system {
        enable_and_test(&site)?;
    }
    to_loopback(&inst, port)?;
    restart(ctx, &inst.name)?;
    println!("open: https://{}/{}", args.server_name, add::NOVNC_QUERY);
    Ok(ExitCode::SUCCESS)
}

/// nginx serves one site per server name and port and silently drops the
/// other: a second instance on the same name would send its users to the
/// first one's desktop. Refused, with the two ways out.
fn refuse_a_taken_server_name(dir: &Path, site: &Path, server_name: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let line = format!("server_name {server_name};");
    for path in entries.flatten().map(|e| e.path()) {
        let ours = path.file_name().and_then(|n| n.to_str());
        if path == site || !ours.is_some_and(|n| n.starts_with("websockify-")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().any(|l| l.trim() == line) {
            bail!(
                "{}: already serves {server_name}; nginx would keep only one of the two sites \
                 and send everyone to that desktop. Give this instance a name of its own \
                 (--server-name desk2.{server_name}), or serve several users from one instance \
                 ([users.NAME] tables, websockify.conf(5) USERS)",
                path.display()
            );
        }
    }
    Ok(())
}

fn check_server_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_*".contains(c));
    if !ok {
        bail!("{name:?}: not a server name (letters, digits, and .-_*)");
    }
    Ok(())
}

/// The site: the example with this host, port, certificate and upgrade
/// variable, without its comments and without nginx's own password.
pub fn site_text(ctx: &Ctx, name: &str, server_name: &str, port: u16) -> String {
    let var = variable_name(name);
    let mut out = format!(
        "# nginx site for websockify@{name}, written by websockifyctl nginx from\n\
         # /usr/share/doc/websockify-rs/examples/nginx-novnc-proxy-all.conf.\n\
         # websockify asks for the password (auth-file) when the instance has one.\n\n"
    );
    let start = TEMPLATE.find("map $http_upgrade").unwrap_or(0);
    for line in TEMPLATE[start..].lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with('#') || t.starts_with("auth_basic") || t.contains("Authorization") {
            continue;
        }
        if t.starts_with("ssl_certificate ") {
            out += &format!("{indent}ssl_certificate     {};\n", ctx.cert().display());
            out += &format!("{indent}ssl_certificate_key {};\n", ctx.key().display());
            continue;
        }
        if t.starts_with("ssl_certificate_key") {
            continue;
        }
        let line = line
            .replace("$connection_upgrade", &format!("$websockify_{var}_upgrade"))
            .replace("vnc.example.com", server_name)
            .replace("http://127.0.0.1:6080", &format!("http://127.0.0.1:{port}"));
        out += &line;
        out.push('\n');
    }
    // Blank lines the dropped comments left in pairs.
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    out
}

/// `name` as the letters, digits and `_` of an nginx variable name, one to
/// one: `_` is doubled and any other byte is `_` and two hex digits
/// (`a..b` is `a_2e_2eb`, `a__b` is `a____b`). nginx's `map` variables are
/// global, so two sites with one variable would break each other.
fn variable_name(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        match b {
            b'_' => out.push_str("__"),
            b if b.is_ascii_alphanumeric() => out.push(char::from(b)),
            b => out += &format!("_{b:02x}"),
        }
    }
    out
}

/// Links the site into sites-enabled and has nginx check its configuration;
/// on failure the link goes again.
fn enable_and_test(site: &Path) -> Result<()> {
    let file = site.file_name().unwrap_or_default();
    let link = Path::new(SITES).with_file_name("sites-enabled").join(file);
    let made = if link.symlink_metadata().is_err() {
        std::os::unix::fs::symlink(Path::new("../sites-available").join(file), &link)
            .with_context(|| format!("cannot link {}", link.display()))?;
        true
    } else {
        false
    };
    match Command::new("nginx").arg("-t").output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("nginx is not installed: the site is not tested");
            Ok(())
        }
        Err(e) => Err(e).context("cannot run nginx -t"),
        Ok(out) if out.status.success() => {
            println!("nginx -t: OK; reload nginx: systemctl reload nginx");
            Ok(())
        }
        Ok(out) => {
            if made {
                let _ = std::fs::remove_file(&link);
            }
            bail!(
                "nginx -t failed:\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        }
    }
}

/// Rewrites the conf in its behind-nginx form: `listen` on 127.0.0.1, no
/// TLS, loopback trusted; the rest as it was.
fn to_loopback(inst: &Instance, port: u16) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some((text, meta)) = files::read_regular(&inst.path)? else {
        bail!("{}: does not exist", inst.path.display());
    };
    let mut t = instance::without_keys(&text, instance::LISTEN_KEYS);
    t += "\n# Behind nginx (websockifyctl nginx): loopback only, nginx does TLS.\n";
    t += &format!("listen = \"127.0.0.1:{port}\"\n");
    t += &add::loopback_lines();
    instance::check(&inst.path, &t)?;
    let mode = meta.permissions().mode() & 0o7777;
    files::write(&inst.path, t.as_bytes(), mode, None, Existing::Replace)?;
    println!("moved {} to 127.0.0.1:{port}, plain", inst.path.display());
    Ok(())
}

/// Restarts the instance (a new listen address needs new sockets).
fn restart(ctx: &Ctx, name: &str) -> Result<()> {
    if !ctx.systemd.enabled() {
        return Ok(());
    }
    ctx.systemd.run(&["daemon-reload"])?;
    let (service, socket) = (systemctl::service(name), systemctl::socket(name));
    ctx.systemd.run(&["try-restart", &socket, &service])?;
    println!("restarted websockify@{name} if it ran");
    Ok(())
}
