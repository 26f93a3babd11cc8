//! Conf files through the real binary: every fixture in tests/fixtures/conf
//! (valid ones pass `--check`, invalid ones fail naming file, line and key),
//! the example confs the package ships (debian/examples) through `--check`,
//! and the command line overriding the conf.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conf")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    // An empty list would make the tests below pass without checking anything.
    assert!(
        files.len() >= 3,
        "too few fixtures in {}: {files:?}",
        dir.display()
    );
    files
}

/// Whether `--check` found `conf` valid: exit status 0 and its verdict,
/// the last line, "OK" or, where the target does not answer in the test,
/// "settings valid" with the warnings.
fn valid(conf: &Path) -> (bool, String) {
    let (ok, out) = check(conf);
    let name = conf.display().to_string();
    let verdict = out.lines().find(|l| l.starts_with(&name)).unwrap_or("");
    let said = verdict.starts_with(&format!("{name}: OK (target "))
        || verdict.starts_with(&format!("{name}: settings valid, "));
    (ok && said, out)
}

fn check(conf: &Path) -> (bool, String) {
    let out = Command::new(bin())
        .args(["--config", conf.to_str().unwrap(), "--check"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_valid_fixture_passes_check() {
    for conf in fixtures("valid") {
        let (ok, out) = valid(&conf);
        assert!(ok, "{}: {out}", conf.display());
    }
}

/// The websockify confs in debian/examples, as shipped, through `--check`.
/// Only where the files they name live differs: what an installation has
/// under /etc/websockify (the certificate the package generates, the tokens
/// file the admin copies beside the conf) and noVNC's /usr/share/novnc are
/// made in a temp dir, and those paths rewritten to it. The nginx-*.conf and
/// apache2-*.conf examples are those servers' own, not websockify's.
#[test]
fn every_shipped_example_conf_passes_check() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/examples");
    let dir = TempDir::new("examples");
    let root = dir.path();
    let etc = root.join("etc/websockify");
    std::fs::create_dir_all(etc.join("ssl")).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(etc.join("ssl/websockify.crt"), made.cert.pem()).unwrap();
    std::fs::write(
        etc.join("ssl/websockify.key"),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    std::fs::copy(
        examples.join("desktops.tokens"),
        etc.join("desktops.tokens"),
    )
    .unwrap();
    let web = root.join("usr/share/novnc");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("vnc.html"), "noVNC").unwrap();
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".conf") || name.starts_with("nginx-") || name.starts_with("apache2-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let moved = text
            .replace("/etc/websockify/", &format!("{}/", etc.display()))
            .replace("/usr/share/novnc", web.to_str().unwrap());
        let conf = dir.write(&name, moved);
        let (ok, out) = valid(&conf);
        assert!(ok, "debian/examples/{name}: {out}");
        checked.push(name);
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "desktops.conf",
            "display1-behind-nginx.conf",
            "display1.conf"
        ],
        "the websockify confs in debian/examples"
    );
}

#[test]
fn every_invalid_fixture_fails_with_its_expected_message() {
    for conf in fixtures("invalid") {
        let text = std::fs::read_to_string(&conf).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be '# expect: ...'", conf.display()));
        let (ok, out) = check(&conf);
        assert!(!ok, "{} passed --check: {out}", conf.display());
        assert!(
            out.contains(expect),
            "{}: expected {expect:?} in:\n{out}",
            conf.display()
        );
    }
}

#[test]
fn missing_conf_file_is_named() {
    let (ok, out) = check(Path::new("/nonexistent/display9.conf"));
    assert!(!ok);
    assert!(
        out.contains("/nonexistent/display9.conf: cannot read"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn command_line_overrides_the_conf() {
    let target = echo_target().await;
    let dir = TempDir::new("override");
    // The conf's own listen address is taken; the command line's wins.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let conf = dir.write(
        "display1.conf",
        format!(
            "listen = \"{}\"\ntarget = \"127.0.0.1:1\"\n",
            taken.local_addr().unwrap()
        ),
    );
    let target_arg = target.to_string();
    let proxy = Proxy::start(&[
        "--config",
        conf.to_str().unwrap(),
        "127.0.0.1:0",
        &target_arg,
    ]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"cli wins").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conf_alone_runs_the_daemon() {
    let target = echo_target().await;
    let dir = TempDir::new("conf-only");
    let conf = dir.write(
        "display2.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"{target}\"\nheartbeat = 0\n"),
    );
    let proxy = Proxy::start(&["--config", conf.to_str().unwrap()]);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    echo_once(&mut ws, b"from conf").await;
}

/// Runs `websockify ARGS` to its exit (killed after `WAIT`) and returns
/// whether it succeeded and what it wrote to stdout and stderr.
fn run_bounded(args: &[&str]) -> (bool, String) {
    use std::io::Read;
    let mut child = Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("websockify {args:?} did not exit within {WAIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    (status.success(), text)
}

/// Conf lines that hold a secret and are wrong, each with the secret, the
/// line the error must name and the key it must name (if the line has one).
const SECRET_LINES: &[(&str, &str, &str, &str)] = &[
    // Syntax error after a secret value.
    (
        "auth-source = \"admin:S3cret\" oops\n",
        "S3cret",
        ":3: ",
        "auth-source",
    ),
    // A secret key with a value of the wrong type.
    (
        "auth-source = [\"admin:S3cret\"]\n",
        "S3cret",
        ":3: ",
        "auth-source",
    ),
    (
        "token-source = 5318008\n",
        "5318008",
        ":3: ",
        "token-source",
    ),
    // A misspelt secret key.
    (
        "auth-sourse = \"admin:S3cret\"\n",
        "S3cret",
        ":3: ",
        "auth-sourse",
    ),
    // A line with no key at all, and a secret string left open.
    ("admin:S3cret\n", "S3cret", ":3: ", ""),
    ("auth-source = \"admin:S3cret\n", "S3cret", ":3: ", ""),
    // The error on the line after a multi-line secret string.
    (
        "auth-source = \"\"\"\nadmin:S3cret\"\"\" oops\n",
        "S3cret",
        ":4: ",
        "",
    ),
    // A token API URL with credentials that the plugin refuses.
    (
        "token-plugin = \"JSONTokenApi\"\ntoken-source = \"ftp://admin:S3cret@api.test/%s\"\n",
        "S3cret",
        ":3: ",
        "token-plugin",
    ),
];

fn secret_conf(dir: &TempDir, line: &str) -> PathBuf {
    dir.write(
        "secret.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"127.0.0.1:5901\"\n{line}"),
    )
}

/// A conf error names the file, the line and the key, but never the value
/// of a line whose key is secret or unknown: not in `--check`, not when the
/// daemon starts, not when a reload (SIGHUP) fails.
#[tokio::test(flavor = "multi_thread")]
async fn conf_errors_never_show_a_secret() {
    let dir = TempDir::new("secret-conf");
    for &(line, secret, at, key) in SECRET_LINES {
        let conf = secret_conf(&dir, line);
        let conf_arg = conf.to_str().unwrap();
        for args in [
            &["--check", "--config", conf_arg][..],
            &["--config", conf_arg],
        ] {
            let (ok, out) = blocking(|| run_bounded(args));
            assert!(!ok, "{args:?} accepted {line:?}: {out}");
            assert!(!out.contains(secret), "{args:?}: {line:?} shown:\n{out}");
            assert!(
                out.contains(&format!("secret.conf{at}")) && out.contains(key),
                "{args:?}: {line:?}: the error must name the line and the key:\n{out}"
            );
        }
    }
    // A reload that fails logs the same message; the daemon goes on.
    let target = echo_target().await;
    let good = format!("listen = \"127.0.0.1:0\"\ntarget = \"{target}\"\n");
    let conf = dir.write("secret.conf", &good);
    let mut proxy = Proxy::start(&["--config", conf.to_str().unwrap()]);
    let pid = nix::unistd::Pid::from_raw(proxy.pid() as i32);
    for &(line, secret, _, _) in SECRET_LINES {
        dir.write("secret.conf", format!("{good}{line}"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        let failed = proxy.wait_for_log("reload failed");
        assert!(!failed.contains(secret), "{line:?} shown:\n{failed}");
    }
    assert!(
        proxy
            .log()
            .iter()
            .all(|l| !l.contains("S3cret") && !l.contains("5318008")),
        "{:?}",
        proxy.log()
    );
}

/// Every duration and count has an upper bound: a value past it is refused
/// by `--check` with the bound named (before, a heartbeat, handshake timeout
/// or shutdown grace of 2^64-1 passed and then panicked each session, each
/// connection, or the daemon at SIGTERM), and the bound itself is accepted.
#[test]
fn huge_durations_and_counts_are_refused_with_their_bound() {
    // (key, most accepted, unit) as websockify(1) and websockify.conf(5) state them.
    let bounds = [
        ("heartbeat", 86_400_u64, "seconds"),
        ("handshake-timeout", 3_600, "seconds"),
        ("connect-timeout", 3_600, "seconds"),
        ("shutdown-grace", 3_600, "seconds"),
        ("drain-delay", 3_600, "seconds"),
        ("timeout", 31_536_000, "seconds"),
        ("idle-timeout", 31_536_000, "seconds"),
        ("max-message-size", 1 << 40, "bytes"),
        ("max-header-size", 1 << 20, "bytes"),
        ("max-connections", 1 << 20, ""),
        ("max-connections-per-client", 1 << 20, ""),
        ("max-sessions-per-target", 1 << 20, ""),
    ];
    let dir = TempDir::new("bounds");
    let base = "listen = \"127.0.0.1:0\"\ntarget = \"127.0.0.1:5901\"\n";
    for (key, max, unit) in bounds {
        let said = format!("at most {max} {unit}");
        let said = said.trim_end();
        // The command line takes any u64; a conf file, TOML's largest integer.
        let conf = dir.write("huge.conf", format!("{base}{key} = {}\n", i64::MAX));
        let option = format!("--{key}");
        for args in [
            vec!["--check", "--config", conf.to_str().unwrap()],
            vec![
                "--check",
                &option,
                "18446744073709551615",
                "127.0.0.1:0",
                "127.0.0.1:5901",
            ],
        ] {
            let (ok, out) = run_bounded(&args);
            assert!(!ok, "{args:?} accepted");
            assert!(
                out.contains(key) && out.contains(said),
                "{args:?}: want {said:?} in:\n{out}"
            );
        }
        let over = dir.write("over.conf", format!("{base}{key} = {}\n", max + 1));
        let (ok, out) = run_bounded(&["--check", "--config", over.to_str().unwrap()]);
        assert!(!ok && out.contains(said), "{key} = {}: {out}", max + 1);
        let at = dir.write("at.conf", format!("{base}{key} = {max}\n"));
        let (ok, out) = run_bounded(&["--check", "--config", at.to_str().unwrap()]);
        assert!(ok, "{key} = {max} refused: {out}");
    }
}

/// The error line of a failed `--check`, without the time and level.
fn error_line(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.split_once(" ERROR ").map(|(_, m)| m))
        .unwrap_or_else(|| panic!("no error in:\n{out}"))
}

/// Conf mistakes an admin makes, each with the exact words they read: what
/// is wrong in the admin's terms (no Rust type, no list of every key) and
/// what to write instead; the line of the key that is wrong.
#[test]
fn conf_mistakes_are_said_in_the_admins_terms() {
    let dir = TempDir::new("admin-words");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.write("vnc.crt", made.cert.pem());
    let cert = cert.display();
    let base = "target = \"localhost:5901\"\n";
    let cases = [
        (
            "listen = 7014\n".to_owned(),
            ":2: listen: expected a string or a list of strings, such as listen = \"6080\" \
             (in `listen = 7014`)"
                .to_owned(),
        ),
        (
            "heartbeat = \"20s\"\n".into(),
            ":2: heartbeat: expected a number of seconds, such as heartbeat = 20 \
             (in `heartbeat = \"20s\"`)"
                .into(),
        ),
        (
            "ssl_only = true\n".into(),
            ":2: unknown key `ssl_only`; did you mean `ssl-only`?".into(),
        ),
        (
            "hearbeat = 20\n".into(),
            ":2: unknown key `hearbeat`; did you mean `heartbeat`?".into(),
        ),
        (
            format!("cert = \"{cert}\"\nkey = \"{cert}\"\n"),
            format!(":3: key: {cert} holds a certificate, not a private key"),
        ),
        (
            format!("cert = \"{cert}\"\n"),
            format!(
                ":2: cert: {cert} holds no private key: name the key's file with `key` (--key)"
            ),
        ),
    ];
    for (line, want) in cases {
        let conf = dir.write("mistake.conf", format!("{base}{line}"));
        let (ok, out) = check(&conf);
        assert!(!ok, "{line:?} passed --check: {out}");
        let want = format!("{}{want}", conf.display());
        assert_eq!(error_line(&out), want, "{line:?}");
    }
}
