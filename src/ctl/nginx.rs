//! `websockifyctl nginx NAME --server-name HOST`: nginx in front of an
//! instance (the steps all front ends share: `front`). The site
//! `websockify-NAME` in sites-available comes from the shipped example
//! `nginx-novnc-proxy-all.conf`: nginx does TLS with the generated
//! certificate and proxies everything, pages and WebSocket, to the
//! instance; it is enabled and checked with `nginx -t`.
//!
//! A password stays websockify's (`auth-file`): nginx passes the browser's
//! Authorization header on instead of asking itself.

use std::path::Path;

use anyhow::Result;

use super::front::{self, FrontEnd};
use super::Ctx;

/// The example the site is made from.
const TEMPLATE: &str = include_str!("../../debian/examples/nginx-novnc-proxy-all.conf");

/// nginx.
pub struct Nginx;

impl FrontEnd for Nginx {
    const NAME: &'static str = "nginx";
    const SITES: &'static str = "/etc/nginx/sites-available";
    const USES_CERT: bool = true;

    fn file_name(name: &str) -> String {
        format!("websockify-{name}")
    }

    /// The example with this host, port, certificate and upgrade variable,
    /// without its comments and without nginx's own password.
    fn site_text(ctx: &Ctx, name: &str, server_name: &str, port: u16) -> String {
        let var = variable_name(name);
        let mut out = front::heading(
            "nginx",
            name,
            "nginx-novnc-proxy-all.conf",
            "websockify asks for the password (auth-file) when the instance has one.",
        );
        let nginx_password = |l: &str| l.starts_with("auth_basic") || l.contains("Authorization");
        for line in front::uncommented(TEMPLATE, "map $http_upgrade", nginx_password) {
            let t = line.trim_start();
            let indent = &line[..line.len() - t.len()];
            if t.starts_with("ssl_certificate ") {
                out += &format!("{indent}ssl_certificate     {};\n", ctx.cert().display());
                out += &format!("{indent}ssl_certificate_key {};\n", ctx.key().display());
                continue;
            }
            if t.starts_with("ssl_certificate_key") {
                continue;
            }
            out += &line
                .replace("$connection_upgrade", &format!("$websockify_{var}_upgrade"))
                .replace("vnc.example.com", server_name)
                .replace("http://127.0.0.1:6080", &format!("http://127.0.0.1:{port}"));
            out.push('\n');
        }
        out
    }

    fn serves(text: &str, server_name: &str) -> bool {
        let line = format!("server_name {server_name};");
        text.lines().any(|l| l.trim() == line)
    }

    /// Links the site into sites-enabled and runs `nginx -t`.
    fn enable_and_check(site: &Path) -> Result<()> {
        let (made, link) = front::link_enabled(site)?;
        let checked = front::check_with("nginx", &["-t"], || {
            if made {
                let _ = std::fs::remove_file(&link);
            }
        })?;
        if checked {
            println!("reload nginx: systemctl reload nginx");
        }
        Ok(())
    }
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
