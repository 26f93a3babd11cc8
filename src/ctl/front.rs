//! What `websockifyctl nginx`, `apache` and `caddy` share: a web server on
//! this host in front of an instance. Each writes the site
//! `websockify-NAME` into the server's directory of sites (or `--site-dir`)
//! from its shipped example, refuses a server name another instance's site
//! already serves, enables the site and has the server check its
//! configuration when it writes into the system's directory, then moves
//! the instance to its behind-a-proxy form (plain, 127.0.0.1 only, loopback
//! as trusted proxy) and restarts it. What differs, the [`FrontEnd`] says.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::files::{self, Existing};
use super::instance::{self, Instance};
use super::{add, cert, systemctl, Ctx};

/// The options of `nginx`, `apache` and `caddy`.
#[derive(Args)]
pub struct FrontArgs {
    /// The instance.
    pub name: String,
    /// The name browsers use for the site (the server's site name).
    #[arg(long, value_name = "HOST")]
    pub server_name: String,
    /// Where to write the site instead of the server's own directory; the
    /// site is enabled and checked only there. [default: nginx:
    /// /etc/nginx/sites-available, apache: /etc/apache2/sites-available,
    /// caddy: /etc/caddy]
    #[arg(long, value_name = "DIR", alias = "nginx-dir")]
    pub site_dir: Option<PathBuf>,
}

/// One web server.
pub trait FrontEnd {
    /// The command's and the server's name, as messages say it.
    const NAME: &'static str;
    /// Its directory of sites.
    const SITES: &'static str;
    /// Whether the site names the generated certificate (the server does
    /// TLS with it); false where the server gets its own.
    const USES_CERT: bool;
    /// The file name of the site of instance `name`.
    fn file_name(name: &str) -> String;
    /// The site for instance `name` on `port`, serving `server_name`.
    fn site_text(ctx: &Ctx, name: &str, server_name: &str, port: u16) -> String;
    /// Whether a site's text serves `server_name`.
    fn serves(text: &str, server_name: &str) -> bool;
    /// Enables the site written into [`FrontEnd::SITES`] and has the
    /// server check its configuration; on failure the site is disabled again.
    fn enable_and_check(site: &Path) -> Result<()>;
}

/// The site of instance `name` in each server's directory, where it exists:
/// `remove` leaves them and says so.
pub fn sites_of(name: &str) -> Vec<PathBuf> {
    [
        Path::new(super::nginx::Nginx::SITES).join(super::nginx::Nginx::file_name(name)),
        Path::new(super::apache::Apache::SITES).join(super::apache::Apache::file_name(name)),
        Path::new(super::caddy::Caddy::SITES).join(super::caddy::Caddy::file_name(name)),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect()
}

/// Runs the command of front end `F`.
pub fn run<F: FrontEnd>(ctx: &Ctx, args: FrontArgs) -> Result<ExitCode> {
    let inst = instance::one(ctx, &args.name)?;
    ctx.need_root(F::NAME)?;
    let system = args.site_dir.is_none();
    if system && !nix::unistd::geteuid().is_root() {
        bail!(
            "{} writes into {}: run it as root, or give --site-dir DIR",
            F::NAME,
            F::SITES
        );
    }
    check_server_name(&args.server_name)?;
    let Some(port) = inst.ports().first().copied() else {
        bail!(
            "{}: no TCP listen address for {} to proxy to",
            inst.path.display(),
            F::NAME
        );
    };
    if inst.options.web.is_none() {
        eprintln!(
            "websockifyctl: warning: {} sets no web: {} will find no noVNC pages",
            inst.path.display(),
            F::NAME
        );
    }
    if F::USES_CERT {
        cert::ensure(ctx)?;
    }
    let dir = args.site_dir.unwrap_or_else(|| PathBuf::from(F::SITES));
    let site = dir.join(F::file_name(&inst.name));
    refuse_a_taken_server_name::<F>(&dir, &site, &args.server_name)?;
    let text = F::site_text(ctx, &inst.name, &args.server_name, port);
    files::write(&site, text.as_bytes(), 0o644, None, Existing::Replace)?;
    println!("wrote {}", site.display());
    if system {
        F::enable_and_check(&site)?;
    }
    to_loopback(&inst, port, F::NAME)?;
    restart(ctx, &inst.name)?;
    println!("open: https://{}/{}", args.server_name, add::NOVNC_QUERY);
    Ok(ExitCode::SUCCESS)
}

/// A web server picks one site per server name and port and silently
/// ignores the other: a second instance on the same name would send its
/// users to the first one's desktop. Refused, with the two ways out.
fn refuse_a_taken_server_name<F: FrontEnd>(
    dir: &Path,
    site: &Path,
    server_name: &str,
) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for path in entries.flatten().map(|e| e.path()) {
        let ours = path.file_name().and_then(|n| n.to_str());
        if path == site || !ours.is_some_and(|n| n.starts_with("websockify-")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if F::serves(&text, server_name) {
            bail!(
                "{}: already serves {server_name}; {} would keep only one of the two sites \
                 and send everyone to that desktop. Give this instance a name of its own \
                 (--server-name desk2.{server_name}), or serve several users from one instance \
                 ([users.NAME] tables, websockify.conf(5) USERS)",
                path.display(),
                F::NAME
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

/// The lines of a shipped example from the first line starting with
/// `start` on, without comment lines (`#` first) and the lines `drop`
/// picks, and without the blank lines they leave: single, and none just
/// inside a block.
pub fn uncommented(template: &str, start: &str, drop: impl Fn(&str) -> bool) -> Vec<String> {
    let begin = template
        .lines()
        .position(|l| l.trim_start().starts_with(start))
        .unwrap_or(0);
    let lines: Vec<&str> = template
        .lines()
        .skip(begin)
        .filter(|l| !l.trim_start().starts_with('#') && !drop(l.trim_start()))
        .collect();
    let opens = |l: &str| l.ends_with('{') || (l.starts_with('<') && !l.starts_with("</"));
    let closes = |l: &str| l.starts_with('}') || l.starts_with("</");
    let mut out: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            let before = out.last().map(|l| l.trim());
            let after = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty());
            if before.is_none_or(|l| l.is_empty() || opens(l)) || after.is_none_or(closes) {
                continue;
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out
}

/// The heading every written site starts with.
pub fn heading(server: &str, name: &str, example: &str, who_asks: &str) -> String {
    format!(
        "# {server} site for websockify@{name}, written by websockifyctl {server} from\n\
         # /usr/share/doc/websockify-rs/examples/{example}.\n\
         # {who_asks}\n\n"
    )
}

/// Runs a server's own checker (`nginx -t`, `apache2ctl configtest`, ...).
/// A server that is not installed is said, not an error (false); a failed
/// check runs `undo` and is the error, with what the checker said.
pub fn check_with(program: &str, args: &[&str], undo: impl FnOnce()) -> Result<bool> {
    let shown = format!("{program} {}", args.join(" "));
    match Command::new(program).args(args).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("{program} is not installed: the site is not checked");
            Ok(false)
        }
        Err(e) => Err(e).with_context(|| format!("cannot run {shown}")),
        Ok(out) if out.status.success() => {
            println!("{shown}: OK");
            Ok(true)
        }
        Ok(out) => {
            undo();
            let said = [out.stderr, out.stdout].concat();
            bail!("{shown} failed:\n{}", String::from_utf8_lossy(&said).trim())
        }
    }
}

/// Links `site` into the `sites-enabled` beside its directory (as
/// a2ensite and Debian's nginx do); returns whether the link is new.
pub fn link_enabled(site: &Path) -> Result<(bool, PathBuf)> {
    let file = site.file_name().unwrap_or_default();
    let available = site.parent().unwrap_or(Path::new("/"));
    let link = available.with_file_name("sites-enabled").join(file);
    if link.symlink_metadata().is_ok() {
        return Ok((false, link));
    }
    std::os::unix::fs::symlink(Path::new("../sites-available").join(file), &link)
        .with_context(|| format!("cannot link {}", link.display()))?;
    Ok((true, link))
}

/// Rewrites the conf in its behind-a-proxy form: `listen` on 127.0.0.1, no
/// TLS, loopback trusted; the rest as it was.
fn to_loopback(inst: &Instance, port: u16, server: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some((text, meta)) = files::read_regular(&inst.path)? else {
        bail!("{}: does not exist", inst.path.display());
    };
    let mut t = instance::without_keys(&text, instance::LISTEN_KEYS);
    t += &format!(
        "\n# Behind {server} (websockifyctl {server}): loopback only, {server} does TLS.\n"
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommented_drops_comments_and_the_blank_lines_they_leave() {
        let template = "# head\n\nsite {\n\n\t# why\n\tproxy\n\n\t#optional\n}\n\n# end\n";
        assert_eq!(
            uncommented(template, "site", |_| false),
            ["site {", "\tproxy", "}"]
        );
        let dropped = uncommented(template, "site", |l| l == "proxy");
        assert_eq!(dropped, ["site {", "}"]);
    }

    #[test]
    fn each_server_knows_the_names_its_sites_serve() {
        use super::super::{apache::Apache, caddy::Caddy, nginx::Nginx};
        let nginx = "server {\n    server_name vnc.test;\n}\n";
        assert!(Nginx::serves(nginx, "vnc.test") && !Nginx::serves(nginx, "vnc"));
        let apache = "<VirtualHost *:443>\n    ServerName vnc.test\n</VirtualHost>\n";
        assert!(Apache::serves(apache, "vnc.test") && !Apache::serves(apache, "vnc"));
        let caddy = "vnc.test, desk.test {\n\treverse_proxy 127.0.0.1:6080 {\n\t}\n}\n";
        assert!(Caddy::serves(caddy, "desk.test") && Caddy::serves(caddy, "vnc.test"));
        assert!(!Caddy::serves(caddy, "reverse_proxy") && !Caddy::serves(caddy, "127.0.0.1:6080"));
    }
}
