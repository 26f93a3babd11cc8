//! `websockifyctl apache NAME --server-name HOST`: Apache2 in front of an
//! instance (the steps all front ends share: `front`). The site
//! `websockify-NAME.conf` in /etc/apache2/sites-available comes from the
//! shipped example `apache2-novnc.conf`: Apache does TLS with the generated
//! certificate and proxies everything to the instance, the WebSocket with
//! `upgrade=websocket` (Apache 2.4.47 or newer). The modules it needs are
//! enabled (a2enmod), the site linked as a2ensite does, and the whole
//! configuration checked with `apache2ctl configtest`.
//!
//! A password stays websockify's (`auth-file`): Apache passes the browser's
//! Authorization header on instead of asking itself.

use std::path::Path;

use anyhow::Result;

use super::front::{self, FrontEnd};
use super::Ctx;

/// The example the site is made from.
const TEMPLATE: &str = include_str!("../../debian/examples/apache2-novnc.conf");

/// The modules the site uses.
const MODULES: &[&str] = &["proxy", "proxy_http", "ssl", "headers", "alias"];

/// Apache2.
pub struct Apache;

impl FrontEnd for Apache {
    const NAME: &'static str = "apache";
    const SITES: &'static str = "/etc/apache2/sites-available";
    const USES_CERT: bool = true;

    fn file_name(name: &str) -> String {
        // a2ensite and Debian's apache2.conf take only *.conf.
        format!("websockify-{name}.conf")
    }

    /// The example with this host, port and certificate, without its
    /// comments (so without Apache's own password).
    fn site_text(ctx: &Ctx, name: &str, server_name: &str, port: u16) -> String {
        let mut out = front::heading(
            "apache",
            name,
            "apache2-novnc.conf",
            "websockify asks for the password (auth-file) when the instance has one.",
        );
        for line in front::uncommented(TEMPLATE, "<VirtualHost", |_| false) {
            let t = line.trim_start();
            let indent = &line[..line.len() - t.len()];
            let line = if t.starts_with("SSLCertificateFile") {
                format!("{indent}SSLCertificateFile    {}", ctx.cert().display())
            } else if t.starts_with("SSLCertificateKeyFile") {
                format!("{indent}SSLCertificateKeyFile {}", ctx.key().display())
            } else {
                line.replace("vnc.example.com", server_name).replace(
                    "http://127.0.0.1:6080/",
                    &format!("http://127.0.0.1:{port}/"),
                )
            };
            out += &line;
            out.push('\n');
        }
        out
    }

    fn serves(text: &str, server_name: &str) -> bool {
        text.lines().any(|l| {
            let mut words = l.split_whitespace();
            words
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("ServerName"))
                && words.next() == Some(server_name)
        })
    }

    /// Enables the modules, links the site and runs `apache2ctl configtest`
    /// (without a2enmod, Apache is not installed: nothing to enable).
    fn enable_and_check(site: &Path) -> Result<()> {
        let mut a2enmod = vec!["-q"];
        a2enmod.extend_from_slice(MODULES);
        if !front::check_with("a2enmod", &a2enmod, || {})? {
            return Ok(());
        }
        let (made, link) = front::link_enabled(site)?;
        let checked = front::check_with("apache2ctl", &["configtest"], || {
            if made {
                let _ = std::fs::remove_file(&link);
            }
        })?;
        if checked {
            println!("reload Apache: systemctl reload apache2");
        }
        Ok(())
    }
}
