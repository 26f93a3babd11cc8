//! `websockifyctl add NAME --target HOST:PORT`: writes `CONF_DIR/NAME.conf`
//! (checked with the code of `websockify --check` before it is renamed into
//! place; an existing one only with `--force`), makes the generated
//! certificate when missing and, with `--user`, a password, then enables and
//! starts websockify@NAME (or its socket) and waits for it, and prints the
//! URLs to open and the certificate's fingerprint. `--vnc-password-file` and
//! `--acme-domain` write those keys, `--oidc-issuer` and its companions the
//! OpenID login's; an instance without a login, and an
//! ACME name the CA cannot check on port 443, get a warning.
//!
//! Defaults: the first port from 6080 that no other conf uses and that can be
//! bound now, on every address; noVNC from /usr/share/novnc; TLS only with
//! the generated certificate; heartbeat 20 s. `--behind-nginx` writes the
//! loopback form instead: plain, 127.0.0.1 only, loopback as trusted proxy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::files::{self, Existing};
use super::{cert, instance, passwd, status, systemctl, Ctx};
use crate::access::vnc_password::VncPassword;
use crate::addr::{ListenAddr, Target, TargetAddr};

/// noVNC's files from the Debian package.
pub const NOVNC: &str = "/usr/share/novnc";

/// What noVNC needs in its URL to connect at once, scaled, to /websockify.
pub const NOVNC_QUERY: &str = "vnc.html?autoconnect=true&resize=scale&path=websockify";

/// The heartbeat every written conf sets (below nginx's 60 s read timeout).
const HEARTBEAT: u64 = 20;

/// `add` options.
#[derive(Args)]
pub struct AddArgs {
    /// The instance: a name starts with a letter or a digit, followed by
    /// letters, digits and _ - . (websockify@NAME, NAME.conf)
    pub name: String,
    /// The VNC server, HOST:PORT (display :1 is port 5901).
    #[arg(long, value_name = "HOST:PORT")]
    pub target: String,
    /// Where to listen, [ADDR:]PORT (repeatable). [default: the first free port from 6080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<String>,
    /// noVNC's files. [default: /usr/share/novnc]
    #[arg(long, value_name = "DIR")]
    pub web: Option<PathBuf>,
    /// Plain, on 127.0.0.1 only, trusting loopback as a proxy: for nginx in
    /// front (see the nginx command).
    #[arg(long)]
    pub behind_nginx: bool,
    /// Ask for a password for USER (CONF_DIR/htpasswd) and let only USER in.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// With --user: read the password as one line from standard input.
    #[arg(long)]
    pub stdin: bool,
    /// Log in to the VNC server with the password in FILE, so the browser
    /// is not asked for it (vnc-password-file; needs --user or --oidc-issuer).
    #[arg(long, value_name = "FILE")]
    pub vnc_password_file: Option<PathBuf>,
    /// Get the certificate for NAME from Let's Encrypt (acme-domain,
    /// repeatable) instead of using the generated one.
    #[arg(long, value_name = "NAME", conflicts_with = "behind_nginx")]
    pub acme_domain: Vec<String>,
    /// Log users in with this OpenID Connect provider (oidc-issuer; https,
    /// http only on loopback) instead of a password; needs the client id
    /// and secret.
    #[arg(long, value_name = "URL", conflicts_with = "user",
          requires_all = ["oidc_client_id", "oidc_client_secret_file"])]
    pub oidc_issuer: Option<String>,
    /// The client id registered at the provider (oidc-client-id).
    #[arg(long, value_name = "ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// The file holding the client secret, or credential:NAME
    /// (oidc-client-secret-file).
    #[arg(long, value_name = "FILE", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Only members of these groups may log in, separated by commas
    /// (oidc-allowed-groups). [default: every user of the provider]
    #[arg(
        long,
        value_name = "GROUPS",
        requires = "oidc_issuer",
        value_delimiter = ','
    )]
    pub oidc_allowed_groups: Vec<String>,
    /// Write the conf but do not enable or start the instance.
    #[arg(long)]
    pub no_start: bool,
    /// Enable and start websockify@NAME.socket (socket activation) instead of the service.
    #[arg(long)]
    pub socket: bool,
    /// Replace an existing NAME.conf.
    #[arg(long)]
    pub force: bool,
}

/// Runs `add`.
pub fn run(ctx: &Ctx, args: AddArgs) -> Result<ExitCode> {
    instance::check_name(&args.name)?;
    if let Some(user) = &args.user {
        passwd::check_user(user)?;
    }
    ctx.need_root("add")?;
    if args.vnc_password_file.is_some() && args.user.is_none() && args.oidc_issuer.is_none() {
        bail!("--vnc-password-file needs a login: --user <USER> or --oidc-issuer <URL>");
    }
    if let Some(file) = &args.vnc_password_file {
        // Before a password is asked for and stored: read it as the daemon will.
        VncPassword::load(file).context("--vnc-password-file")?;
    }
    let path = ctx.conf(&args.name);
    if path.exists() && !args.force {
        bail!(
            "{}: exists: instance {} is set up already (--force replaces it)",
            path.display(),
            args.name
        );
    }
    let target = TargetAddr::parse(&args.target).context("--target")?;
    let listen = listen(ctx, &args)?;
    let vnc = status::probe_target(&Target::Tcp(target.clone()), None, None);
    if vnc.rfb().is_none() {
        let hint = target
            .display_hint()
            .map_or(String::new(), |h| format!("; {h}"));
        eprintln!(
            "websockifyctl: warning: target {}: {vnc}{hint}",
            args.target
        );
    }
    if !args.behind_nginx && args.acme_domain.is_empty() {
        cert::ensure(ctx)?;
    }
    let auth_file = match &args.user {
        Some(user) => {
            let password = passwd::read_password(user, args.stdin)?;
            passwd::set(&ctx.htpasswd(), user, &password)?;
            Some(ctx.htpasswd())
        }
        None => None,
    };
    let text = render(ctx, &args, &listen, auth_file.as_deref());
    instance::check(&path, &text)?;
    warn_unchecked(&args, &listen);
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    files::write(&path, text.as_bytes(), 0o644, None, existing)?;
    println!("wrote {}", path.display());
    start(ctx, &args)?;
    print_urls(ctx, &args, &listen)?;
    Ok(ExitCode::SUCCESS)
}

/// The listen addresses: as given (each port free), or the next free port.
fn listen(ctx: &Ctx, args: &AddArgs) -> Result<Vec<String>> {
    if args.listen.is_empty() {
        let port = instance::next_port(ctx, &args.name)?;
        return Ok(vec![if args.behind_nginx {
            format!("127.0.0.1:{port}")
        } else {
            port.to_string()
        }]);
    }
    for l in &args.listen {
        let addr = ListenAddr::parse(l).context("--listen")?;
        instance::require_port(ctx, &args.name, addr.port)?;
    }
    Ok(args.listen.clone())
}

/// The conf file's text.
fn render(ctx: &Ctx, args: &AddArgs, listen: &[String], auth_file: Option<&Path>) -> String {
    use instance::{toml_list, toml_str};
    let path = ctx.conf(&args.name);
    let web = args.web.clone().unwrap_or_else(|| PathBuf::from(NOVNC));
    let mut t = format!(
        "# {}: instance {}, written by websockifyctl add (see websockify.conf(5)).\n\
         # Check: websockify --check --config {0}\n\n",
        path.display(),
        args.name
    );
    t += &toml_list("listen", listen);
    t += &format!("target = {}\n", toml_str(&args.target));
    t += &format!("web = {}\n", toml_str(&web.to_string_lossy()));
    if args.behind_nginx {
        t += &loopback_lines();
    } else if !args.acme_domain.is_empty() {
        t += &toml_list("acme-domain", &args.acme_domain);
        t += "ssl-only = true\n";
    } else {
        t += &format!("cert = {}\n", toml_str(&ctx.cert().to_string_lossy()));
        t += &format!("key = {}\n", toml_str(&ctx.key().to_string_lossy()));
        t += "ssl-only = true\n";
    }
    t += &format!("heartbeat = {HEARTBEAT}\n");
    if let Some(file) = &args.vnc_password_file {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        t += &format!(
            "vnc-password-file = {}\n",
            toml_str(&file.to_string_lossy())
        );
    }
    if let (Some(file), Some(user)) = (auth_file, &args.user) {
        t += &format!("auth-file = {}\n", toml_str(&file.to_string_lossy()));
        // The password file is shared by every instance: this one is for
        // its own user only (websockifyctl user add names more).
        t += &toml_list("allowed-users", std::slice::from_ref(user));
        // Browsers send the password on the WebSocket only after a page asked.
        t += "web-auth = true\n";
    }
    t += &oidc_lines(args);
    t
}

/// The `oidc-*` keys of `--oidc-issuer` and its companions.
fn oidc_lines(args: &AddArgs) -> String {
    use instance::{toml_list, toml_str};
    let (Some(issuer), Some(id), Some(secret)) = (
        &args.oidc_issuer,
        &args.oidc_client_id,
        &args.oidc_client_secret_file,
    ) else {
        return String::new();
    };
    let secret = match secret.to_str() {
        Some(s) if s.starts_with("credential:") => secret.clone(),
        _ => std::path::absolute(secret).unwrap_or_else(|_| secret.clone()),
    };
    let mut t = format!("oidc-issuer = {}\n", toml_str(issuer));
    t += &format!("oidc-client-id = {}\n", toml_str(id));
    t += &format!(
        "oidc-client-secret-file = {}\n",
        toml_str(&secret.to_string_lossy())
    );
    if !args.oidc_allowed_groups.is_empty() {
        t += &toml_list("oidc-allowed-groups", &args.oidc_allowed_groups);
    }
    t
}

/// Warnings about what the written conf leaves open: nobody is asked to
/// log in (anyone who reaches the port gets the VNC server's own login),
/// and an ACME name the CA cannot check (TLS-ALPN-01 comes to port 443).
fn warn_unchecked(args: &AddArgs, listen: &[String]) {
    if args.user.is_none() && args.oidc_issuer.is_none() {
        eprintln!(
            "websockifyctl: warning: instance {} has no access control: anyone who can \
             reach {} gets to the VNC server, and only its own password, if it has one, \
             stands in the way (give --user USER, or set auth-file in its conf)",
            args.name,
            listen.join(", ")
        );
    }
    let on_443 = listen
        .iter()
        .any(|l| ListenAddr::parse(l).is_ok_and(|a| a.port == 443));
    if !args.acme_domain.is_empty() && !on_443 {
        eprintln!(
            "websockifyctl: warning: the ACME CA checks {} on port 443: give --listen 443, \
             or forward port 443 to {}",
            args.acme_domain.join(", "),
            listen.join(", ")
        );
    }
}

/// What the behind-nginx form sets besides `listen`.
pub fn loopback_lines() -> String {
    "# The web server on this host (nginx, Apache, Caddy) is the proxy: its\n\
     # X-Forwarded-For names the client.\n\
     trusted-proxies = [\"127.0.0.1/32\", \"::1/128\"]\n"
        .into()
}

/// Enables and starts the unit and waits until it is active.
fn start(ctx: &Ctx, args: &AddArgs) -> Result<()> {
    let unit = if args.socket {
        systemctl::socket(&args.name)
    } else {
        systemctl::service(&args.name)
    };
    if !ctx.systemd.enabled() || args.no_start {
        println!("start it with: systemctl enable --now {unit}");
        return Ok(());
    }
    // The generator turns the conf's listen into the socket's addresses.
    ctx.systemd.run(&["daemon-reload"])?;
    ctx.systemd.run(&["enable", &unit])?;
    ctx.systemd.run(&["restart", &unit])?;
    ctx.systemd.wait_active(&unit)?;
    println!("started {unit}");
    Ok(())
}

/// The URLs to open (every name the certificate has, for a wildcard listen
/// address) and the certificate's fingerprint.
fn print_urls(ctx: &Ctx, args: &AddArgs, listen: &[String]) -> Result<()> {
    let acme = !args.acme_domain.is_empty();
    let tls = (!args.behind_nginx && !acme)
        .then(|| cert::info(&ctx.cert()))
        .transpose()?;
    let scheme = if tls.is_some() || acme {
        "https"
    } else {
        "http"
    };
    let all_names = match &tls {
        Some(c) => c.names.clone(),
        None => args.acme_domain.clone(),
    };
    println!("open:");
    for l in listen {
        let addr = ListenAddr::parse(l)?;
        let hosts = match addr.host {
            Some(h) => vec![h],
            None if all_names.is_empty() => vec!["localhost".to_owned()],
            None => all_names.clone(),
        };
        for host in hosts {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            println!("  {scheme}://{host}:{}/{NOVNC_QUERY}", addr.port);
        }
    }
    match tls {
        Some(c) => println!("certificate SHA-256 fingerprint: {}", c.fingerprint),
        None if acme => println!(
            "certificate: from the ACME CA once it has checked the name \
             (websockifyctl status {} shows it)",
            args.name
        ),
        None => println!(
            "behind nginx: websockifyctl nginx {} --server-name HOST writes its site",
            args.name
        ),
    }
    Ok(())
}
