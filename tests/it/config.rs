//! Conf files through the real binary: every fixture in tests/fixtures/conf
//! (valid ones pass `--check`, invalid ones fail naming file, line and key),
//! the example confs the package ships (debian/examples) through `--check`,
//! and the command line overriding the conf.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

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
        let (ok, out) = check(&conf);
        assert!(ok, "{}: {out}", conf.display());
        assert!(out.contains(": OK"), "{}: {out}", conf.display());
    }
}

/// The websockify confs in debian/examples, as shipped, through `--check`.
/// Only where the files they name live differs: what an installation has
/// under /etc/websockify (the certificate the package generates, the tokens
/// file the admin copies beside the conf) and noVNC's /usr/share/novnc are
/// made in a temp dir, and those paths rewritten to it. The nginx-*.conf
/// examples are nginx's own, not websockify's.
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
        if !name.ends_with(".conf") || name.starts_with("nginx-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let moved = text
            .replace("/etc/websockify/", &format!("{}/", etc.display()))
            .replace("/usr/share/novnc", web.to_str().unwrap());
        let conf = dir.write(&name, moved);
        let (ok, out) = check(&conf);
        assert!(ok && out.contains(": OK"), "debian/examples/{name}: {out}");
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
    ws.send(Message::binary(b"cli wins".to_vec()))
        .await
        .unwrap();
    let got = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(got, Message::binary(b"cli wins".to_vec()));
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
    ws.send(Message::binary(b"from conf".to_vec()))
        .await
        .unwrap();
    let got = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(got, Message::binary(b"from conf".to_vec()));
}
