//! Debian's Caddy (`caddy run`) with its state (certificates, its local
//! authority, autosaved config) in the temp dir, the admin endpoint off and
//! its HTTP and HTTPS ports the test's own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::front_end::FrontEnd;
use super::TempDir;

/// Starts `caddy run` on `site` (Caddyfile site blocks) under global
/// options that keep it inside `dir` and on `https` (and a spare HTTP
/// port), and waits until `https` accepts.
pub fn start(dir: &TempDir, site: &str, https: SocketAddr) -> FrontEnd {
    let storage = dir.path().join("caddy");
    let http = super::free_port();
    let file = format!(
        "{{\n\tadmin off\n\thttp_port {http}\n\thttps_port {}\n\tauto_https disable_redirects\n\
         \tskip_install_trust\n\tstorage file_system {{\n\t\troot {}\n\t}}\n}}\n\n{site}",
        https.port(),
        storage.display()
    );
    let config = dir.write("Caddyfile", file);
    let mut cmd = Command::new("caddy");
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"));
    FrontEnd::start(&mut cmd, "caddy", dir.path().join("caddy.log"), https)
}

/// Where Caddy keeps the root of its local authority (`tls internal`).
pub fn root_path(dir: &TempDir) -> PathBuf {
    dir.path().join("caddy/pki/authorities/local/root.crt")
}
