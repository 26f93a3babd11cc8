//! `websockifyctl` through the real binary, called by that name through a
//! symlink, always with `--conf-dir TMP --no-systemd`: the files it writes and
//! their modes, its refusals, `--json`, that `websockify --check` accepts the
//! conf `add` writes and `websockify --auth-file` the password `passwd`
//! writes, the RFB probe of `status`, `remove`, `cert show|renew` (against
//! openssl's fingerprint) and the front ends `nginx`, `apache` and `caddy`.

use crate::common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A conf directory, a noVNC stand-in and the `websockifyctl` link.
struct Ctl {
    tmp: TempDir,
}

impl Ctl {
    fn new(tag: &str) -> Ctl {
        let tmp = TempDir::new(tag);
        tmp.write("web/vnc.html", "<html>noVNC</html>");
        std::fs::create_dir_all(tmp.path().join("conf")).unwrap();
        std::os::unix::fs::symlink(bin(), tmp.path().join("websockifyctl")).unwrap();
        Ctl { tmp }
    }

    fn conf_dir(&self) -> PathBuf {
        self.tmp.path().join("conf")
    }

    fn web(&self) -> String {
        self.tmp.path().join("web").display().to_string()
    }

    /// Runs `websockifyctl --conf-dir CONF --no-systemd ARGS` with `stdin`.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        common::ctl::run(&self.conf_dir(), args, stdin)
    }

    /// Runs and expects success; returns standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, "");
        assert!(out.status.success(), "websockifyctl {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns standard error.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, "");
        assert!(!out.status.success(), "websockifyctl {args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }

    /// `add NAME --target TARGET --web WEB --no-start EXTRA...`
    fn add(&self, name: &str, target: &str, extra: &[&str]) -> String {
        let web = self.web();
        let mut args = vec!["add", name, "--target", target, "--web", &web, "--no-start"];
        args.extend(extra);
        self.ok(&args)
    }

    /// A conf dir with one plain instance `name` (to localhost:5901), and
    /// the path of its conf.
    fn with_instance(tag: &str, name: &str) -> (Ctl, PathBuf) {
        let ctl = Ctl::new(tag);
        ctl.add(name, "localhost:5901", &[]);
        let conf = ctl.conf_dir().join(format!("{name}.conf"));
        (ctl, conf)
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn check_conf(conf: &Path) {
    let (ok, err) = run_to_exit(&["--check", "--config", conf.to_str().unwrap()]);
    assert!(ok, "websockify --check refused {}: {err}", conf.display());
}

/// A TCP server that greets like a VNC server and closes.
fn fake_vnc() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(b"RFB 003.008\n");
        }
    });
    addr
}

#[test]
fn add_writes_a_checked_conf_and_the_certificate_with_their_modes() {
    let ctl = Ctl::new("ctl-add");
    let out = ctl.add("display1", "localhost:5901", &[]);
    let conf = ctl.conf_dir().join("display1.conf");
    assert_eq!(mode(&conf), 0o644);
    assert_eq!(mode(&ctl.conf_dir().join("ssl")), 0o750);
    assert_eq!(mode(&ctl.conf_dir().join("ssl/websockify.crt")), 0o644);
    let key_mode = mode(&ctl.conf_dir().join("ssl/websockify.key"));
    assert!(key_mode == 0o600 || key_mode == 0o640, "{key_mode:o}");
    let text = std::fs::read_to_string(&conf).unwrap();
    for want in [
        "ssl-only = true",
        "heartbeat = 20",
        "target = \"localhost:5901\"",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    check_conf(&conf);
    assert!(
        out.contains(":6")
            && out.contains("/vnc.html?autoconnect=true&resize=scale&path=websockify"),
        "{out}"
    );
    assert!(out.contains("https://localhost:"), "{out}");
    assert!(out.contains("SHA-256 fingerprint: "), "{out}");
    // No temp files left behind.
    let names: Vec<String> = std::fs::read_dir(ctl.conf_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");

    // A second instance gets another port; behind nginx, loopback and plain.
    ctl.add("display2", "localhost:5902", &["--behind-nginx"]);
    let second = std::fs::read_to_string(ctl.conf_dir().join("display2.conf")).unwrap();
    assert!(second.contains("listen = \"127.0.0.1:"), "{second}");
    assert!(!second.contains("ssl-only") && second.contains("trusted-proxies"));
    let port = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("listen"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        port(&text)
            .trim_start_matches("listen = \"")
            .trim_end_matches('"'),
        port(&second)
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('"')
    );
    check_conf(&ctl.conf_dir().join("display2.conf"));
}

#[test]
fn refusals_are_clear() {
    let ctl = Ctl::new("ctl-refuse");
    ctl.add("d1", "localhost:5901", &[]);
    let conf = ctl.conf_dir().join("d1.conf");
    let before = std::fs::read_to_string(&conf).unwrap();
    let web = ctl.web();
    let err = ctl.fails(&["add", "d1", "--target", "localhost:5909", "--web", &web]);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), before);
    ctl.add("d1", "localhost:5909", &["--force"]);
    assert!(std::fs::read_to_string(&conf).unwrap().contains("5909"));

    for bad in [".hidden", "a/b", "a b"] {
        let err = ctl.fails(&["add", bad, "--target", "localhost:5901"]);
        assert!(err.contains("not an instance name"), "{bad}: {err}");
    }
    for args in [
        &["status", "nope"][..],
        &["remove", "nope"],
        &["nginx", "nope", "--server-name", "h"],
    ] {
        let err = ctl.fails(args);
        assert!(err.contains("no such instance: nope"), "{args:?}: {err}");
    }
    // A port another conf uses.
    let listen = std::fs::read_to_string(&conf).unwrap();
    let port = listen.lines().find(|l| l.starts_with("listen")).unwrap();
    let port = port.trim_start_matches("listen = \"").trim_end_matches('"');
    let err = ctl.fails(&["add", "d2", "--target", "localhost:5902", "--listen", port]);
    assert!(err.contains("taken by instance d1"), "{err}");
    // A conf that --check refuses is not written.
    let err = ctl.fails(&[
        "add",
        "d3",
        "--target",
        "localhost:5903",
        "--web",
        "/nonexistent",
    ]);
    assert!(err.contains("not written"), "{err}");
    assert!(!ctl.conf_dir().join("d3.conf").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn passwd_writes_a_password_websockify_accepts() {
    let ctl = Ctl::new("ctl-passwd");
    let out = ctl.run(&["passwd", "--stdin", "alice"], "s3cret pass\n");
    assert!(out.status.success());
    let file = ctl.conf_dir().join("htpasswd");
    assert_eq!(mode(&file), 0o640);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("alice:$2b$10$"), "{text}");
    assert!(ctl
        .run(&["passwd", "--stdin", "bob"], "other\n")
        .status
        .success());

    let target = echo_target().await;
    let file_arg = file.to_str().unwrap();
    let proxy = Proxy::start(&["--auth-file", file_arg, "127.0.0.1:0", &target.to_string()]);
    assert_eq!(upgrade_status(proxy.addr(), "/websockify", "").await, 401);
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret pass");
    let auth = format!("Authorization: Basic {basic}\r\n");
    assert_eq!(
        upgrade_status(proxy.addr(), "/websockify", &auth).await,
        101
    );

    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut req = format!("ws://{}/websockify", proxy.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Basic {basic}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    echo_once(&mut ws, b"through the password").await;

    // --delete takes the user out, and only that user.
    assert!(ctl
        .run(&["passwd", "--delete", "alice"], "")
        .status
        .success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("alice") && text.contains("bob:"), "{text}");
    let err = ctl.fails(&["passwd", "--delete", "alice"]);
    assert!(err.contains("no user alice"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_tells_a_vnc_server_from_an_echo_server_in_json() {
    let ctl = Ctl::new("ctl-status");
    let vnc = fake_vnc();
    let echo = echo_target().await;
    let (web, vnc_arg) = (ctl.web(), vnc.to_string());
    let args = [
        "add",
        "vnc",
        "--target",
        &vnc_arg,
        "--web",
        &web,
        "--no-start",
    ];
    let args = [&args[..], &["--user", "u", "--stdin"]].concat();
    assert!(ctl.run(&args, "pw\n").status.success());
    ctl.add("echo", &echo.to_string(), &[]);

    // The echo server runs on this runtime: wait for the 2 s probe elsewhere.
    let conf_dir = ctl.conf_dir();
    let out = tokio::task::spawn_blocking(move || ctl_status::run(&conf_dir, true))
        .await
        .unwrap();
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let by_name = |n: &str| ctl_status::entry(&all, n);
    let (v, e) = (by_name("vnc"), by_name("echo"));
    assert_eq!(v["vnc"], "RFB 003.008", "{v}");
    assert!(e["vnc"].as_str().unwrap().starts_with("not VNC"), "{e}");
    assert_eq!(v["auth"], true);
    assert_eq!(e["auth"], false);
    assert_eq!(v["service"]["active"], "unknown");
    assert!(v["certificate"]["days_left"].as_i64().unwrap() > 800, "{v}");
    assert_eq!(v["listen"].as_array().unwrap().len(), 1);

    // list has the same instances; text status names the banner.
    let list: serde_json::Value = serde_json::from_str(&ctl.ok(&["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let text = ctl.ok(&["status", "vnc"]);
    assert!(
        text.contains("RFB 003.008") && text.contains("auth: on"),
        "{text}"
    );
}

#[test]
fn remove_moves_the_conf_aside() {
    let (ctl, conf) = Ctl::with_instance("ctl-remove", "gone");
    let text = std::fs::read_to_string(&conf).unwrap();
    ctl.ok(&["remove", "gone"]);
    assert!(!conf.exists());
    let aside: Vec<PathBuf> = std::fs::read_dir(ctl.conf_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("gone.conf.removed-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), text);
    let list: serde_json::Value = serde_json::from_str(&ctl.ok(&["list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!([]));
}

/// The SHA-256 fingerprint `cert show` prints.
fn shown_fingerprint(ctl: &Ctl) -> String {
    let out = ctl.ok(&["cert", "show"]);
    out.lines()
        .find_map(|l| l.strip_prefix("SHA-256 fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in {out}"))
        .to_owned()
}

#[test]
fn cert_show_matches_openssl_and_renew_replaces_it() {
    let ctl = Ctl::new("ctl-cert");
    ctl.add("d", "localhost:5901", &[]);
    let crt = ctl.conf_dir().join("ssl/websockify.crt");
    let shown = shown_fingerprint(&ctl);
    assert_eq!(shown.len(), 32 * 3 - 1, "{shown}");
    match Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&crt)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let theirs = text.trim().rsplit('=').next().unwrap().to_uppercase();
            assert_eq!(shown, theirs);
        }
        Err(_) => eprintln!("openssl not installed: fingerprint not compared"),
    }
    let key = ctl.conf_dir().join("ssl/websockify.key");
    let key_mode = mode(&key);
    let out = ctl.ok(&["cert", "renew"]);
    assert!(out.contains("renewed"), "{out}");
    assert_ne!(shown_fingerprint(&ctl), shown);
    assert_eq!(mode(&key), key_mode);
    check_conf(&ctl.conf_dir().join("d.conf"));
}

#[test]
fn nginx_writes_the_site_and_moves_the_instance_to_loopback() {
    front_end_writes_the_site_and_moves_the_instance_to_loopback(
        "nginx",
        "websockify-desk",
        &[
            "server_name vnc.test;",
            "proxy_pass http://127.0.0.1:PORT;",
            "websockify.crt;",
            "$websockify_desk_upgrade",
        ],
        &["example.com", "auth_basic", "#ssl"],
    );
}

#[test]
fn apache_writes_the_site_and_moves_the_instance_to_loopback() {
    front_end_writes_the_site_and_moves_the_instance_to_loopback(
        "apache",
        "websockify-desk.conf",
        &[
            "ServerName vnc.test\n",
            "ProxyPass        / http://127.0.0.1:PORT/ upgrade=websocket timeout=61\n",
            "SSLCertificateFile    CONF/ssl/websockify.crt\n",
            "SSLCertificateKeyFile CONF/ssl/websockify.key\n",
            "Redirect permanent / https://vnc.test/\n",
        ],
        &[
            "example.com",
            "letsencrypt",
            "AuthType",
            "unset Authorization",
            "#",
        ],
    );
}

#[test]
fn caddy_writes_the_site_and_moves_the_instance_to_loopback() {
    front_end_writes_the_site_and_moves_the_instance_to_loopback(
        "caddy",
        "websockify-desk.Caddyfile",
        &["\nvnc.test {\n", "\treverse_proxy 127.0.0.1:PORT\n}"],
        &["example.com", "basicauth", "tls", "-Authorization", "\t#"],
    );
}

/// `websockifyctl FRONT desk --server-name vnc.test --site-dir DIR`, as
/// every front end does it: the site `site` in DIR has each of `has` (PORT:
/// the instance's port, CONF: the conf dir) and none of `lacks` (the
/// example's names, its optional password, its comments); the conf is on
/// 127.0.0.1 and plain; a second instance on the same server name is
/// refused (the server would keep one site only, and send the second
/// instance's users to the first's desktop), on a name of its own it is not.
fn front_end_writes_the_site_and_moves_the_instance_to_loopback(
    front: &str,
    site: &str,
    has: &[&str],
    lacks: &[&str],
) {
    let (ctl, conf) = Ctl::with_instance(&format!("ctl-{front}"), "desk");
    let before = std::fs::read_to_string(&conf).unwrap();
    let port = before.lines().find(|l| l.starts_with("listen")).unwrap();
    let port = port
        .trim_start_matches("listen = \"")
        .trim_end_matches('"')
        .to_owned();
    let sites = ctl.tmp.path().join("sites");
    std::fs::create_dir_all(&sites).unwrap();
    let sites_arg = sites.to_str().unwrap();
    // nginx's own name for --site-dir still works.
    let dir_opt = if front == "nginx" {
        "--nginx-dir"
    } else {
        "--site-dir"
    };
    let front_on = |name: &str, server: &str| {
        [front, name, "--server-name", server, dir_opt, sites_arg].map(str::to_owned)
    };
    let args = front_on("desk", "vnc.test");
    ctl.ok(&args.each_ref().map(String::as_str));

    let text = std::fs::read_to_string(sites.join(site)).unwrap();
    let conf_dir = ctl.conf_dir().display().to_string();
    for want in has {
        let want = want.replace("PORT", &port).replace("CONF", &conf_dir);
        assert!(text.contains(&want), "{want:?} not in {site}:\n{text}");
    }
    let body = text
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for unwanted in lacks {
        assert!(!body.contains(unwanted), "{unwanted:?} in {site}:\n{text}");
    }
    let after = std::fs::read_to_string(&conf).unwrap();
    assert!(
        after.contains(&format!("listen = \"127.0.0.1:{port}\"")),
        "{after}"
    );
    assert!(
        !after.contains("ssl-only") && !after.contains("cert ="),
        "{after}"
    );
    assert!(after.contains("target = \"localhost:5901\""), "{after}");
    check_conf(&conf);

    ctl.add("desk2", "localhost:5902", &[]);
    let args = front_on("desk2", "vnc.test");
    let err = ctl.fails(&args.each_ref().map(String::as_str));
    assert!(err.contains("already serves vnc.test"), "{err}");
    assert!(!sites.join(site.replace("desk", "desk2")).exists());
    let args = front_on("desk2", "desk2.vnc.test");
    ctl.ok(&args.each_ref().map(String::as_str));
    // The first one may be written again.
    let args = front_on("desk", "vnc.test");
    ctl.ok(&args.each_ref().map(String::as_str));
}

/// `passwd` rewrites its file: a symlink there (to a file the admin never
/// meant to share) is refused, not followed, and neither the link nor what
/// it points to changes. Before, the target's lines were copied into a new
/// 0640 file readable by the service's group.
#[test]
fn passwd_refuses_a_symlinked_password_file() {
    let ctl = Ctl::new("ctl-passwd-link");
    let secret = ctl.tmp.write("shadow", "root:$6$S3cretHash:19000::::::\n");
    let link = ctl.conf_dir().join("htpasswd");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let other = ctl.tmp.path().join("other-htpasswd");
    std::os::unix::fs::symlink(&secret, &other).unwrap();
    for args in [
        &["passwd", "--stdin", "alice"][..],
        &[
            "passwd",
            "--stdin",
            "--file",
            other.to_str().unwrap(),
            "alice",
        ],
        &["passwd", "--delete", "root"],
    ] {
        let out = ctl.run(args, "pw\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} followed the link");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
        assert!(!err.contains("S3cretHash"), "{args:?}: {err}");
    }
    for path in [&link, &other] {
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.file_type().is_symlink(), "{} replaced", path.display());
    }
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "root:$6$S3cretHash:19000::::::\n"
    );
}

/// `nginx` rewrites the instance's conf: a conf that is a symlink is
/// refused, and neither the link nor the file it points to changes.
#[test]
fn nginx_refuses_a_symlinked_conf() {
    let (ctl, conf) = Ctl::with_instance("ctl-nginx-link", "desk");
    let elsewhere = ctl.tmp.path().join("desk.conf.real");
    std::fs::rename(&conf, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &conf).unwrap();
    let before = std::fs::read_to_string(&elsewhere).unwrap();
    let sites = ctl.tmp.path().join("sites");
    std::fs::create_dir_all(&sites).unwrap();
    let err = ctl.fails(&[
        "nginx",
        "desk",
        "--server-name",
        "vnc.test",
        "--nginx-dir",
        sites.to_str().unwrap(),
    ]);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(std::fs::symlink_metadata(&conf)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), before);
}

/// A user name the htpasswd format cannot hold is refused: `#...` lines are
/// comments (the user could never log in), `:` ends the name, and control
/// characters break the line.
#[test]
fn passwd_refuses_names_htpasswd_cannot_hold() {
    let ctl = Ctl::new("ctl-passwd-names");
    for bad in ["#comment", "#", "a:b", "a\tb", "", " alice", "alice "] {
        let out = ctl.run(&["passwd", "--stdin", bad], "pw\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(err.contains("not a user name"), "{bad:?}: {err}");
    }
    assert!(!ctl.conf_dir().join("htpasswd").exists());
    let web = ctl.web();
    let args = [
        "add",
        "d",
        "--target",
        "localhost:5901",
        "--web",
        &web,
        "--no-start",
    ];
    let out = ctl.run(&[&args[..], &["--user", "#x", "--stdin"]].concat(), "pw\n");
    assert!(!out.status.success(), "add --user '#x' accepted");
    // A name with '#' later on is a name like any other.
    assert!(ctl
        .run(&["passwd", "--stdin", "a#b"], "pw\n")
        .status
        .success());
}

/// The nginx `map` variable of each site is unambiguous: instances whose
/// names differ only in `.`, `-` and `_` get different variables (nginx
/// refuses a variable defined twice, so one site would break the other).
#[test]
fn nginx_variables_of_similar_names_differ() {
    let ctl = Ctl::new("ctl-nginx-vars");
    let names = ["a..b", "a__b", "a_2eb", "a.b", "a-b", "a_b"];
    let sites = ctl.tmp.path().join("sites");
    std::fs::create_dir_all(&sites).unwrap();
    let mut vars = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        ctl.add(name, "localhost:5901", &[]);
        // One server name each: nginx serves one site per name.
        let (dir, server) = (sites.to_str().unwrap(), format!("vnc{i}.test"));
        let args = ["nginx", name, "--server-name", &server, "--nginx-dir", dir];
        ctl.ok(&args);
        let site = std::fs::read_to_string(sites.join(format!("websockify-{name}"))).unwrap();
        let var = site
            .split_whitespace()
            .find(|w| w.starts_with("$websockify_"))
            .unwrap_or_else(|| panic!("no variable in {site}"))
            .trim_end_matches(';')
            .to_owned();
        assert!(
            var[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}: {var} is not an nginx variable name"
        );
        vars.push(var);
    }
    let mut unique = vars.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), vars.len(), "{names:?} -> {vars:?}");
}

/// Instance names start with a letter or a digit: `-x` would be read as an
/// option by systemctl, journalctl and websockifyctl itself.
#[test]
fn add_refuses_names_starting_with_a_dash() {
    let ctl = Ctl::new("ctl-dash");
    let web = ctl.web();
    for bad in ["-x", "--x", "-", "_x"] {
        let args = [
            "add",
            "--target",
            "localhost:5901",
            "--web",
            &web,
            "--no-start",
            "--",
            bad,
        ];
        let err = ctl.fails(&args);
        assert_eq!(
            err,
            format!(
                "websockifyctl: {bad:?}: not an instance name: a name starts with a letter or \
                 a digit, followed by letters, digits and _ - . (websockify.conf(5))\n"
            ),
            "{bad}"
        );
        assert!(
            !ctl.conf_dir().join(format!("{bad}.conf")).exists(),
            "{bad}"
        );
    }
    ctl.add("9x", "localhost:5901", &[]);
}

/// `add --target :1` (a display number, as a VNC viewer takes it) writes the
/// conf but warns which port that display is.
#[test]
fn add_tells_a_display_number_from_a_port() {
    let ctl = Ctl::new("ctl-display");
    let web = ctl.web();
    let args = [
        "add",
        "display1",
        "--target",
        ":1",
        "--web",
        &web,
        "--no-start",
    ];
    let out = ctl.run(&args, "");
    assert!(out.status.success(), "a warning only");
    let err = String::from_utf8(out.stderr).unwrap();
    let warning = err
        .lines()
        .find(|l| l.starts_with("websockifyctl: warning: target :1: not answering ("))
        .unwrap_or_else(|| panic!("no warning about the target in:\n{err}"));
    assert!(
        warning.ends_with(
            "; port 1 looks like a VNC display number: display :1 is port 5901 \
             (give localhost:5901)"
        ),
        "{warning}"
    );
}

/// The listen port `add` wrote into `name`'s conf.
fn conf_port(ctl: &Ctl, name: &str) -> String {
    let text = std::fs::read_to_string(ctl.conf_dir().join(format!("{name}.conf"))).unwrap();
    let line = text.lines().find(|l| l.starts_with("listen")).unwrap();
    line.trim_start_matches("listen = \"")
        .trim_end_matches('"')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned()
}

/// `list`: one aligned line per instance with who may log in, `-` for the
/// sessions of an instance whose control socket does not answer, the
/// certificate's expiry, and an ACME instance waiting for its first one.
#[test]
fn list_shows_one_aligned_line_per_instance() {
    let ctl = Ctl::new("ctl-list");
    let acme = ctl.tmp.path().join("acme");
    ctl.add("open", "localhost:5901", &[]);
    let web = ctl.web();
    let args = [
        "add",
        "alice-desk",
        "--target",
        "localhost:5902",
        "--web",
        &web,
    ];
    let out = ctl.run(
        &[&args[..], &["--no-start", "--user", "alice", "--stdin"]].concat(),
        "pw\n",
    );
    assert!(out.status.success());
    ctl.add(
        "le",
        "localhost:5903",
        &["--acme-domain", "vnc.example.test"],
    );
    let conf = ctl.conf_dir().join("le.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        format!("{text}acme-state = \"{}\"\n", acme.display()),
    )
    .unwrap();

    // A conf that does not parse is listed too, marked.
    std::fs::write(ctl.conf_dir().join("broken.conf"), "listen = 7014\n").unwrap();
    let status: serde_json::Value = serde_json::from_str(&ctl.ok(&["status", "--json"])).unwrap();
    let expires = ctl_status::entry(&status, "open")["certificate"]["expires"]
        .as_str()
        .unwrap()[..10]
        .to_owned();
    let days = ctl_status::entry(&status, "open")["certificate"]["days_left"].clone();
    let (p1, p2, p3) = (
        conf_port(&ctl, "alice-desk"),
        conf_port(&ctl, "le"),
        conf_port(&ctl, "open"),
    );
    let cert = format!("{expires} ({days} days)");
    assert_eq!(
        ctl.ok(&["list"]),
        format!(
            "NAME        STATE               LISTEN  USERS     SESSIONS  CERTIFICATE\n\
             alice-desk  unknown             {p1}    alice            -  {cert}\n\
             broken      unknown,conf-error  -       (anyone)         -  -\n\
             le          unknown             {p2}    (anyone)         -  waiting for the first certificate\n\
             open        unknown             {p3}    (anyone)         -  {cert}\n"
        )
    );
    // status says the same in a sentence, not "cannot read ...: No such file".
    let text = ctl.ok(&["status", "le"]);
    let line = text.lines().find(|l| l.contains("certificate:")).unwrap();
    assert_eq!(
        line,
        format!(
            "  certificate: {}: waiting for the first certificate from the ACME CA",
            acme.join("cert.pem").display()
        )
    );
}

/// `add --acme-domain` writes the name instead of the generated
/// certificate, and warns when the CA cannot reach port 443; `add` without
/// `--user` warns that nothing checks who comes in.
#[test]
fn add_writes_acme_domain_and_warns_without_access_control() {
    let ctl = Ctl::new("ctl-add-acme");
    let web = ctl.web();
    let args = [
        "add",
        "le",
        "--target",
        "localhost:5901",
        "--web",
        &web,
        "--no-start",
        "--acme-domain",
        "vnc.example.test",
    ];
    let out = ctl.run(&args, "");
    assert!(out.status.success());
    let conf = ctl.conf_dir().join("le.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains("acme-domain = \"vnc.example.test\"\n"),
        "{text}"
    );
    assert!(
        !text.contains("cert =") && text.contains("ssl-only = true"),
        "{text}"
    );
    assert!(
        !ctl.conf_dir().join("ssl").exists(),
        "no generated certificate"
    );
    check_conf(&conf);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let port = conf_port(&ctl, "le");
    assert!(
        stdout.contains(&format!(
            "  https://vnc.example.test:{port}/vnc.html?autoconnect=true"
        )),
        "{stdout}"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("websockifyctl: warning:") && !l.contains("target"))
        .collect();
    assert_eq!(
        warnings,
        [
            format!(
                "websockifyctl: warning: instance le has no access control: anyone who can \
                 reach {port} gets to the VNC server, and only its own password, if it has \
                 one, stands in the way (give --user USER, or set auth-file in its conf)"
            ),
            format!(
                "websockifyctl: warning: the ACME CA checks vnc.example.test on port 443: \
                 give --listen 443, or forward port 443 to {port}"
            ),
        ]
    );
    // With a login, no warning about access control.
    let args = [
        "add",
        "d2",
        "--target",
        "localhost:5902",
        "--web",
        &web,
        "--no-start",
    ];
    let out = ctl.run(&[&args[..], &["--user", "bob", "--stdin"]].concat(), "pw\n");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success() && !err.contains("no access control"),
        "{err}"
    );
}

/// `add --vnc-password-file` checks the file before anything is written,
/// needs `--user` (a VNC password without a login would let anyone in) and
/// writes the key with the file's absolute path.
#[test]
fn add_writes_vnc_password_file() {
    let ctl = Ctl::new("ctl-add-vncpass");
    let web = ctl.web();
    let base = [
        "add",
        "d",
        "--target",
        "localhost:5901",
        "--web",
        &web,
        "--no-start",
    ];
    let missing = ctl.tmp.path().join("missing.pass");
    let missing_arg = missing.to_str().unwrap();
    let args = [
        &base[..],
        &["--user", "a", "--stdin", "--vnc-password-file", missing_arg],
    ]
    .concat();
    let out = ctl.run(&args, "pw\n");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success());
    assert!(
        err.ends_with(&format!(
            "websockifyctl: --vnc-password-file: {missing_arg}: No such file or directory (os error 2)\n"
        )),
        "{err}"
    );
    assert!(
        !ctl.conf_dir().join("htpasswd").exists(),
        "asked before checking"
    );
    assert!(!ctl.conf_dir().join("d.conf").exists());

    let pass = ctl.tmp.write("vnc.pass", "secret\n");
    let err = ctl.fails(&[&base[..], &["--vnc-password-file", pass.to_str().unwrap()]].concat());
    assert!(err.contains("--user <USER>"), "{err}");

    // Relative to where websockifyctl runs: written absolute.
    let out = Command::new(ctl.tmp.path().join("websockifyctl"))
        .current_dir(ctl.tmp.path())
        .arg("--conf-dir")
        .arg(ctl.conf_dir())
        .arg("--no-systemd")
        .args(base)
        .args(["--user", "a", "--stdin", "--vnc-password-file", "vnc.pass"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"pw\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let conf = ctl.conf_dir().join("d.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains(&format!("vnc-password-file = \"{}\"\n", pass.display())),
        "{text}"
    );
    check_conf(&conf);
}

/// A stand-in for systemctl and journalctl on PATH that records how it was
/// called: systemd does not run where the tests run (scripts/vm-test has
/// the real one). It answers `is-active` with active and `is-enabled` with
/// what `socket_enabled` says for the socket unit.
fn recording_path(ctl: &Ctl, socket_enabled: bool) -> (String, PathBuf) {
    let bin = ctl.tmp.path().join("stub-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = ctl.tmp.path().join("calls");
    let enabled = if socket_enabled {
        "enabled"
    } else {
        "disabled"
    };
    for tool in ["systemctl", "journalctl"] {
        let script = format!(
            "#!/bin/sh\necho \"{tool} $*\" >> '{}'\n\
             case \"$1 $2\" in\n\
             'is-active '*) echo active ;;\n\
             'is-enabled '*.socket) echo {enabled} ;;\n\
             'is-enabled '*) echo enabled ;;\n\
             esac\n",
            log.display()
        );
        let path = bin.join(tool);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, log)
}

/// Runs websockifyctl with systemd (the recording stand-in) and returns
/// (standard output, the calls made).
fn with_systemd(ctl: &Ctl, path: &str, log: &Path, args: &[&str]) -> (String, Vec<String>) {
    let _ = std::fs::remove_file(log);
    let out = Command::new(ctl.tmp.path().join("websockifyctl"))
        .env("PATH", path)
        .arg("--conf-dir")
        .arg(ctl.conf_dir())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    let calls = std::fs::read_to_string(log).unwrap_or_default();
    let calls = calls
        .lines()
        .filter(|l| !l.starts_with("systemctl is-"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8(out.stdout).unwrap(), calls)
}

/// `start`, `stop`, `restart` and `logs` run what an administrator would
/// type, and say what they did; a socket-activated instance is started by
/// its socket.
#[test]
fn start_stop_restart_and_logs_call_systemctl_and_journalctl() {
    let ctl = Ctl::new("ctl-units");
    ctl.add("desk", "localhost:5901", &[]);
    let (path, log) = recording_path(&ctl, false);
    let svc = "websockify@desk.service";
    let sock = "websockify@desk.socket";
    let run = |args: &[&str]| with_systemd(&ctl, &path, &log, args);
    assert_eq!(
        run(&["start", "desk"]),
        (
            format!("started {svc}\n"),
            vec![format!("systemctl start {svc}")]
        )
    );
    assert_eq!(
        run(&["stop", "desk"]),
        (
            format!("stopped {svc} and {sock}\n"),
            vec![format!("systemctl stop {sock} {svc}")]
        )
    );
    assert_eq!(
        run(&["restart", "desk"]),
        (
            format!("restarted {svc} (its sessions were closed)\n"),
            vec![
                format!("systemctl stop {sock} {svc}"),
                format!("systemctl start {svc}")
            ]
        )
    );
    assert_eq!(
        run(&["logs", "desk", "-f"]).1,
        [format!("journalctl -u {svc} -f")]
    );
    assert_eq!(run(&["logs", "desk"]).1, [format!("journalctl -u {svc}")]);
    let (path, log) = recording_path(&ctl, true);
    assert_eq!(
        with_systemd(&ctl, &path, &log, &["start", "desk"]),
        (
            format!("started {sock}\n"),
            vec![format!("systemctl start {sock}")]
        )
    );
}

/// Without systemd, `start` says what to run instead; an unknown instance
/// is named before systemctl could be asked about a unit that cannot exist.
#[test]
fn start_without_systemd_says_what_to_run() {
    let ctl = Ctl::new("ctl-units-none");
    ctl.add("desk", "localhost:5901", &[]);
    assert_eq!(
        ctl.fails(&["start", "desk"]),
        "websockifyctl: --no-systemd: nothing was done; start it with: \
         systemctl start websockify@desk.service\n"
    );
    let err = ctl.fails(&["restart", "nope"]);
    assert!(
        err.starts_with("websockifyctl: no such instance: nope ("),
        "{err}"
    );
    let err = ctl.fails(&["logs", "-x"]);
    assert!(err.contains("unexpected argument '-x'"), "{err}");
}
