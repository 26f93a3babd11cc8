//! `websockifyctl caddy NAME --server-name HOST`: Caddy in front of an
//! instance (the steps all front ends share: `front`). The site
//! `websockify-NAME.Caddyfile` in /etc/caddy comes from the shipped example
//! `caddy-novnc.Caddyfile`: Caddy gets the certificate itself (automatic
//! HTTPS) and proxies everything to the instance. Debian's
//! /etc/caddy/Caddyfile gets one line, `import websockify-*.Caddyfile`,
//! and is checked with `caddy validate`.
//!
//! A password stays websockify's (`auth-file`): Caddy passes the browser's
//! Authorization header on instead of asking itself.

use std::path::Path;

use anyhow::{Context, Result};

use super::files::{self, Existing};
use super::front::{self, FrontEnd};
use super::Ctx;

/// The example the site is made from.
const TEMPLATE: &str = include_str!("../../debian/examples/caddy-novnc.Caddyfile");

/// The line that brings every instance's site into Caddy's configuration.
const IMPORT: &str = "import websockify-*.Caddyfile";

/// Caddy.
pub struct Caddy;

impl FrontEnd for Caddy {
    const NAME: &'static str = "caddy";
    const SITES: &'static str = "/etc/caddy";
    const USES_CERT: bool = false;

    fn file_name(name: &str) -> String {
        format!("websockify-{name}.Caddyfile")
    }

    /// The example with this host and port, without its comments (so
    /// without Caddy's own password).
    fn site_text(_ctx: &Ctx, name: &str, server_name: &str, port: u16) -> String {
        let mut out = front::heading(
            "caddy",
            name,
            "caddy-novnc.Caddyfile",
            "Caddy gets the certificate; websockify asks for the password (auth-file).",
        );
        for line in front::uncommented(TEMPLATE, "vnc.example.com", |_| false) {
            out += &line
                .replace("vnc.example.com", server_name)
                .replace("127.0.0.1:6080", &format!("127.0.0.1:{port}"));
            out.push('\n');
        }
        // The example's reverse_proxy block holds only comments.
        out.replace(" {\n\t}\n", "\n")
    }

    fn serves(text: &str, server_name: &str) -> bool {
        // Site addresses: the unindented lines that open a block.
        text.lines()
            .filter(|l| !l.starts_with(char::is_whitespace) && l.trim_end().ends_with('{'))
            .any(|l| {
                let addresses = l.trim_end().trim_end_matches('{');
                addresses.split([',', ' ']).any(|a| a == server_name)
            })
    }

    /// Adds the import line to /etc/caddy/Caddyfile (once) and runs
    /// `caddy validate` on it; a failed check takes the line out again.
    fn enable_and_check(site: &Path) -> Result<()> {
        let main = site.with_file_name("Caddyfile");
        let before = std::fs::read_to_string(&main).unwrap_or_default();
        let added = !before.lines().any(|l| l.trim() == IMPORT);
        if added {
            let text = format!(
                "{before}\n# The sites of websockifyctl caddy, one a websockify instance.\n{IMPORT}\n"
            );
            files::write(&main, text.as_bytes(), 0o644, None, Existing::Replace)
                .with_context(|| format!("cannot add {IMPORT:?} to {}", main.display()))?;
            println!("added {IMPORT:?} to {}", main.display());
        }
        let config = main.to_string_lossy();
        let args = ["validate", "--adapter", "caddyfile", "--config", &config];
        let checked = front::check_with("caddy", &args, || {
            if added {
                let _ = files::write(&main, before.as_bytes(), 0o644, None, Existing::Replace);
            }
        })?;
        if checked {
            println!("reload Caddy: systemctl reload caddy");
        }
        Ok(())
    }
}
