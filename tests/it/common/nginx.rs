//! Debian's nginx in the foreground with a main config of the test's own:
//! pid, logs and temporary files in the temp dir, the given `server` block
//! included.

use std::net::SocketAddr;
use std::process::Command;

use super::front_end::FrontEnd;
use super::TempDir;

/// Starts nginx with `server` (one `server { ... }` block that listens on
/// `listen`) and waits until `listen` accepts.
pub fn start(dir: &TempDir, server: &str, listen: SocketAddr) -> FrontEnd {
    let d = dir.path().display();
    let conf = format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{server}\n}}\n"
    );
    let main = dir.write("nginx.conf", conf);
    let mut cmd = Command::new("/usr/sbin/nginx");
    cmd.arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("nginx-start.log"))
        .arg("-c")
        .arg(&main);
    FrontEnd::start(&mut cmd, "nginx", dir.path().join("nginx.log"), listen)
}
