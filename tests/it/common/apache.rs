//! Debian's Apache2 (`/usr/sbin/apache2`) with a main config of the test's
//! own: the modules a site of debian/examples/apache2-novnc.conf needs, pid,
//! locks and logs in the temp dir, and the given site included.

use std::net::SocketAddr;
use std::process::Command;

use super::front_end::FrontEnd;
use super::TempDir;

/// The modules the shipped site uses (Debian builds them as modules).
const MODULES: &[&str] = &[
    "mpm_event",
    "authz_core",
    "authz_user",
    "authn_core",
    "authn_file",
    "auth_basic",
    "alias",
    "headers",
    "proxy",
    "proxy_http",
    "ssl",
];

/// Starts Apache in the foreground with `site` (a virtual host) listening
/// on each of `listen`, and waits until the first accepts.
pub fn start(dir: &TempDir, site: &str, listen: &[SocketAddr]) -> FrontEnd {
    let d = dir.path().display();
    let mut conf = format!(
        "ServerRoot /etc/apache2\nServerName localhost\nDefaultRuntimeDir {d}\n\
         PidFile {d}/apache2.pid\nErrorLog {d}/apache2.log\nLogLevel warn\n"
    );
    if nix::unistd::geteuid().is_root() {
        // Apache's workers must not run as root; www-data comes with apache2.
        conf += "User www-data\nGroup www-data\n";
    }
    for m in MODULES {
        conf += &format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n");
    }
    for addr in listen {
        conf += &format!("Listen {addr}\n");
    }
    conf += &format!("Include {}\n", dir.write("site.conf", site).display());
    let main = dir.write("apache2.conf", conf);
    let mut cmd = Command::new("/usr/sbin/apache2");
    cmd.arg("-f").arg(&main).arg("-DFOREGROUND");
    FrontEnd::start(
        &mut cmd,
        "apache2",
        dir.path().join("apache2.log"),
        listen[0],
    )
}
