//! `record-sessions` through the real binary: one recording per session in
//! `record-dir` (mode 0600 in a 0700 folder, noVNC's playback format) with
//! only what the VNC server sent unless `record-input`; an `index.jsonl`
//! line per session whose SHA-256 is the file's; `record-max-size` ends a
//! recording and not its session; `record-max-total` removes the oldest;
//! with `vnc-password-file` neither the password nor the DES exchange is
//! recorded; `websockifyctl recordings` lists them by user, `export`
//! writes one checked against its SHA-256, `play` serves it only under the
//! URL's token.

use crate::common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fake_vnc::{fake_vnc, Fake, CHALLENGE, RESPONSE, SERVER_INIT};
use common::rfb::{close, data, frame, through_injection, upgrade_logged_in, LOGIN_ARGS};
use common::x11vnc::VNCPASSWD_OF_PASSWORD;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the greeting target sends first, as a VNC server sends its screen.
const GREETING: &[u8] = b"SCREEN-FROM-THE-SERVER";
/// What the browser sends, as a user types a password.
const TYPED: &[u8] = b"TYPED-BY-THE-USER";

/// A target that sends [`GREETING`], then answers each read with `ack`
/// (never echoing, so the client's bytes reach the client only if recorded).
async fn greeting_target() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(GREETING).await;
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(b"ack").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A proxy with a login (user `u`) recording every session into `rec`.
fn recording_proxy(rec: &Path, target: std::net::SocketAddr, extra: &[&str]) -> Proxy {
    let target = target.to_string();
    let args = ["--record-sessions", "--record-dir", rec.to_str().unwrap()];
    let tail = ["127.0.0.1:0", target.as_str()];
    Proxy::start(&[&LOGIN_ARGS[..], &args, extra, &tail].concat())
}

/// Sends a close frame and waits for the proxy's answer and its log line.
async fn close_session(s: &mut tokio::net::TcpStream, proxy: &mut Proxy) {
    s.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(close(s).await.0, 1000);
    proxy.wait_for_log("session closed");
}

/// One session through the greeting target: greeting in, TYPED out, ack in.
async fn greeting_session(proxy: &mut Proxy) {
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    assert_eq!(data(&mut s).await, GREETING);
    s.write_all(&frame(TYPED)).await.unwrap();
    assert_eq!(data(&mut s).await, b"ack");
    close_session(&mut s, proxy).await;
}

/// The `.rec` files of `dir`, by name (which is by start time).
fn rec_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rec"))
        .collect();
    found.sort();
    found
}

/// The only recording in `dir`.
fn only_recording(dir: &Path) -> PathBuf {
    let found = rec_files(dir);
    assert_eq!(found.len(), 1, "one recording expected: {found:?}");
    found.into_iter().next().unwrap()
}

/// Every chunk's bytes of a recording, both ways, checking its frame; the
/// `//` marker of `record-max-size` is skipped.
fn recorded_bytes(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("var VNC_frame_data = [\n"), "{path:?}");
    assert!(text.ends_with("\n'EOF'];\n"), "{path:?} is not complete");
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with("//") && *l != "'EOF'];")
        .flat_map(|l| crate::record::chunk(l).1)
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The index's lines.
fn index(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("index.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `websockifyctl --conf-dir CONF --no-systemd recordings ARGS`'s output.
fn ctl_recordings(conf: &Path, args: &[&str]) -> String {
    let out = ctl_command(conf)
        .arg("recordings")
        .args(args)
        .output()
        .expect("run websockifyctl");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "websockifyctl recordings {args:?}: {said}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_recorded_without_what_was_typed_and_indexed() {
    let tmp = TempDir::new("recordings-one");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, greeting_target().await, &[]);
    greeting_session(&mut proxy).await;

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&rec), 0o700, "record-dir");
    let file = only_recording(&rec);
    assert_eq!(mode(&file), 0o600, "{file:?}");
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with("-u.rec"), "named by the user: {name}");
    let bytes = recorded_bytes(&file);
    assert!(
        contains(&bytes, GREETING),
        "the server's bytes are recorded"
    );
    assert!(
        !contains(&bytes, TYPED),
        "record-input is off: typed bytes recorded"
    );

    let lines = index(&rec);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["user"], "u");
    assert_eq!(line["file"], name.as_str());
    assert_eq!(line["bytes_to_target"], TYPED.len());
    assert_eq!(line["bytes_to_client"], GREETING.len() + 3);
    assert_eq!(line["close_code"], 1000);
    let on_disk = std::fs::read(&file).unwrap();
    assert_eq!(line["size"], on_disk.len());
    assert_eq!(line["sha256"], sha256(&on_disk).as_str());
    assert!(line["start"].as_str().unwrap().ends_with('Z'), "{line}");

    let conf = tmp.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let conf_text = format!("target = \"localhost:5901\"\nrecord-dir = {:?}\n", rec);
    std::fs::write(conf.join("display1.conf"), conf_text).unwrap();
    let listed = ctl_recordings(&conf, &["display1"]);
    let row = listed.lines().nth(1).unwrap_or_default();
    assert!(listed.starts_with("START"), "{listed}");
    assert!(row.contains(" u ") && row.ends_with(&name), "{listed}");
    let other = ctl_recordings(&conf, &["display1", "--user", "alice"]);
    assert!(!other.contains(&name), "{other}");
    let later = ctl_recordings(&conf, &["display1", "--since", "2999-01-01"]);
    assert!(!later.contains(&name), "{later}");
}

#[tokio::test(flavor = "multi_thread")]
async fn record_input_records_what_was_typed_too() {
    let tmp = TempDir::new("recordings-input");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, greeting_target().await, &["--record-input"]);
    greeting_session(&mut proxy).await;
    let bytes = recorded_bytes(&only_recording(&rec));
    assert!(contains(&bytes, GREETING) && contains(&bytes, TYPED));
}

/// Sends `payload` and reads it back from the echo target, frame by frame.
async fn echo_raw(s: &mut tokio::net::TcpStream, payload: &[u8]) {
    s.write_all(&frame(payload)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < payload.len() {
        got.extend(data(s).await);
    }
    assert!(got == payload, "echo not byte-exact");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_ends_at_record_max_size_and_the_session_goes_on() {
    let tmp = TempDir::new("recordings-cap");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, echo_target().await, &["--record-max-size", "4096"]);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    for round in 0..8u8 {
        let payload: Vec<u8> = (0..16 * 1024).map(|i| (i as u8) ^ round).collect();
        echo_raw(&mut s, &payload).await;
    }
    close_session(&mut s, &mut proxy).await;
    let file = only_recording(&rec);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.len() <= 4096 + 200, "{} bytes", text.len());
    assert!(
        text.contains("// recording stopped: 4096 bytes reached"),
        "no marker"
    );
    recorded_bytes(&file); // still complete
    assert_eq!(index(&rec)[0]["bytes_to_client"], 8 * 16 * 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn record_max_total_removes_the_oldest_recordings() {
    let tmp = TempDir::new("recordings-total");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, echo_target().await, &["--record-max-total", "2000"]);
    let mut names = Vec::new();
    for _ in 0..3 {
        let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
        echo_raw(&mut s, &[b'x'; 3000]).await;
        close_session(&mut s, &mut proxy).await;
        names.push(rec_files(&rec).last().cloned().unwrap());
    }
    assert_eq!(
        rec_files(&rec),
        [names[2].clone()],
        "the two oldest removed"
    );
    let removed = proxy
        .log()
        .iter()
        .filter(|l| l.contains("recording removed: record-max-total reached"))
        .count();
    assert_eq!(removed, 2, "{:?}", proxy.log());
    assert_eq!(index(&rec).len(), 3, "the index keeps every session");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_vnc_password_or_des_exchange_is_recorded() {
    let tmp = TempDir::new("recordings-vnc");
    let rec = tmp.path().join("recordings");
    let (target, right) = fake_vnc(Fake::V38).await;
    let pw = tmp.write("vnc.pass", VNCPASSWD_OF_PASSWORD);
    let extra = [
        "--record-input",
        "--vnc-password-file",
        pw.to_str().unwrap(),
    ];
    let mut proxy = recording_proxy(&rec, target, &extra);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    through_injection(&mut s, right).await;
    assert_eq!(data(&mut s).await, SERVER_INIT);
    s.write_all(&frame(b"after-auth")).await.unwrap();
    assert_eq!(data(&mut s).await, b"after-auth");
    close_session(&mut s, &mut proxy).await;

    let file = only_recording(&rec);
    let bytes = recorded_bytes(&file);
    let raw = std::fs::read(&file).unwrap();
    assert!(
        contains(&bytes, b"after-auth"),
        "the session after auth is recorded"
    );
    for (what, secret) in [
        ("the DES response", &RESPONSE[..]),
        ("the DES challenge", &CHALLENGE[..]),
        ("the password", b"password"),
        ("the password file", &VNCPASSWD_OF_PASSWORD[..]),
    ] {
        assert!(!contains(&bytes, secret), "{what} is in the recording");
        assert!(!contains(&raw, secret), "{what} is in the file");
    }
}

#[test]
fn record_sessions_outside_systemd_asks_for_record_dir() {
    let out = Command::new(bin())
        .args(["--record-sessions", "127.0.0.1:0", "127.0.0.1:5901"])
        .env_remove("STATE_DIRECTORY")
        .output()
        .expect("run websockify");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started without a record-dir: {said}"
    );
    assert!(
        said.contains("command line: record-sessions: give record-dir"),
        "{said}"
    );
    let (ok, said) = run_to_exit(&[
        "--record-sessions",
        "--record-dir",
        "/tmp",
        "--record",
        "/tmp/x",
        "127.0.0.1:0",
        "127.0.0.1:5901",
    ]);
    assert!(
        !ok && said.contains("record: not with record-sessions"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn record_dir_defaults_to_the_state_directory() {
    let tmp = TempDir::new("recordings-state");
    let target = greeting_target().await.to_string();
    let mut cmd = Command::new(bin());
    cmd.args(LOGIN_ARGS)
        .args(["--record-sessions", "127.0.0.1:0", &target])
        .env("STATE_DIRECTORY", tmp.path());
    let mut proxy = Proxy::spawn(&mut cmd, 1);
    greeting_session(&mut proxy).await;
    only_recording(&tmp.path().join("recordings"));
}

/// A recording that cannot be made (here `record-dir` is a file) is logged
/// and counted; the session goes on unrecorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_recording_that_fails_leaves_the_session_alone() {
    let tmp = TempDir::new("recordings-fail");
    let not_a_dir = tmp.write("recordings", "a file, not a folder");
    let target = greeting_target().await;
    let mut proxy = recording_proxy(&not_a_dir, target, &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = common::http::metrics_addr(&mut proxy);
    greeting_session(&mut proxy).await;
    assert!(
        proxy
            .log()
            .iter()
            .any(|l| l.contains("the session goes on unrecorded")),
        "{:?}",
        proxy.log()
    );
    let (status, text) = common::http::get(metrics, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.lines()
            .any(|l| l == "websockify_recording_failures_total 1"),
        "{text}"
    );
}

/// `record-max-total` never removes a recording still being written: a
/// second session starting beside a first keeps the first one's file.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_recording_is_never_removed() {
    let tmp = TempDir::new("recordings-live");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, echo_target().await, &["--record-max-total", "1000"]);
    let mut first = upgrade_logged_in(proxy.addr(), "/websockify").await;
    // More than the writer's buffer: on disk while the session goes on.
    echo_raw(&mut first, &vec![b'y'; 300 * 1024]).await;
    let first_file = only_recording(&rec);
    on_disk_past(&first_file, 1000).await;
    let mut second = upgrade_logged_in(proxy.addr(), "/websockify").await;
    echo_raw(&mut second, b"second").await;
    close_session(&mut second, &mut proxy).await;
    assert!(first_file.exists(), "the live recording was removed");
    echo_raw(&mut first, b"still recorded").await;
    close_session(&mut first, &mut proxy).await;
    let lines = index(&rec);
    let first_name = first_file.file_name().unwrap().to_str().unwrap();
    let entry = lines
        .iter()
        .find(|l| l["file"] == first_name)
        .expect("indexed");
    assert_eq!(
        entry["sha256"],
        sha256(&std::fs::read(&first_file).unwrap()).as_str()
    );
}

/// Waits (at most [`WAIT`]) until the writer thread has put more than
/// `size` bytes of `path` on disk.
async fn on_disk_past(path: &Path, size: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::fs::metadata(path).map_or(0, |m| m.len()) <= size {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path:?} stays small"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// `record-max-age`: a recording last written longer ago than that goes
/// when the next one starts, with a log line; a newer one stays.
#[tokio::test(flavor = "multi_thread")]
async fn record_max_age_removes_old_recordings() {
    let tmp = TempDir::new("recordings-age");
    let rec = tmp.path().join("recordings");
    std::fs::create_dir(&rec).unwrap();
    let old = rec.join("20200101T000000Z-s1-u.rec");
    let recent = rec.join("20200102T000000Z-s2-u.rec");
    for (file, age) in [(&old, "100 days ago"), (&recent, "80 days ago")] {
        std::fs::write(file, "var VNC_frame_data = [\n'EOF'];\n").unwrap();
        let touched = Command::new("touch").args(["-d", age]).arg(file).status();
        assert!(touched.expect("touch (coreutils)").success());
    }
    let mut proxy = recording_proxy(&rec, greeting_target().await, &["--record-max-age", "90"]);
    greeting_session(&mut proxy).await;
    assert!(!old.exists(), "the 100-day-old recording stayed");
    assert!(recent.exists(), "the 80-day-old recording went");
    let said = format!(
        "{}: recording removed: older than record-max-age",
        old.display()
    );
    assert!(
        proxy.log().iter().any(|l| l.contains(&said)),
        "{:?}",
        proxy.log()
    );
    assert_eq!(rec_files(&rec).len(), 2, "the recent one and the new one");
}

/// A write that fails mid-session (here the file-size limit, `ulimit -f`,
/// standing in for a full disk: both end a write with an error) stops the
/// recording, logged and counted; the session goes on byte-exact, and its
/// index line says the file is incomplete.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_error_stops_the_recording_not_the_session() {
    let tmp = TempDir::new("recordings-full");
    let rec = tmp.path().join("recordings");
    let target = echo_target().await.to_string();
    let args = [
        "--record-sessions",
        "--record-dir",
        rec.to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
        "127.0.0.1:0",
        &target,
    ];
    // SIGXFSZ ignored, so a write past the limit fails with EFBIG instead
    // of killing the process; 64 blocks of 512 bytes: 32 KiB.
    let mut proxy = Proxy::start_after(
        "trap '' XFSZ; ulimit -f 64",
        &[&LOGIN_ARGS[..], &args].concat(),
    );
    let metrics = common::http::metrics_addr(&mut proxy);
    let mut s = upgrade_logged_in(proxy.addr(), "/websockify").await;
    for round in 0..4u8 {
        let payload: Vec<u8> = (0..300 * 1024).map(|i| (i as u8) ^ round).collect();
        echo_raw(&mut s, &payload).await;
    }
    close_session(&mut s, &mut proxy).await;
    assert!(
        proxy
            .log()
            .iter()
            .any(|l| l.contains("recording stopped: File too large")),
        "{:?}",
        proxy.log()
    );
    let (_, text) = common::http::get(metrics, "/metrics").await;
    assert!(
        text.lines()
            .any(|l| l == "websockify_recording_failures_total 1"),
        "{text}"
    );
    let entry = &index(&rec)[0];
    assert_eq!(entry["complete"], false, "{entry}");
    assert_eq!(entry["bytes_to_client"], 4 * 300 * 1024);
}

/// `websockifyctl --conf-dir CONF --no-systemd`, to be given its command.
fn ctl_command(conf: &Path) -> Command {
    common::ctl::command(conf)
}

/// `websockifyctl --conf-dir CONF --no-systemd ARGS`.
fn ctl(conf: &Path, args: &[&str]) -> std::process::Output {
    ctl_command(conf)
        .args(args)
        .output()
        .expect("run websockifyctl")
}

/// A conf dir with instance `display1` whose `record-dir` is `rec`.
fn conf_recording_into(tmp: &TempDir, rec: &Path) -> PathBuf {
    let conf = tmp.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let conf_text = format!("target = \"localhost:5901\"\nrecord-dir = {rec:?}\n");
    std::fs::write(conf.join("display1.conf"), conf_text).unwrap();
    conf
}

/// `websockifyctl export` by session id writes the recording and its index
/// line, byte for byte, mode 0600, never over an existing file; a recording
/// that no longer matches its index's SHA-256 is refused and nothing is
/// written.
#[tokio::test(flavor = "multi_thread")]
async fn export_writes_the_recording_and_its_index_line_checked() {
    let tmp = TempDir::new("recordings-export");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, greeting_target().await, &[]);
    greeting_session(&mut proxy).await;
    let conf = conf_recording_into(&tmp, &rec);
    let file = only_recording(&rec);
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let line = std::fs::read_to_string(rec.join("index.jsonl")).unwrap();
    let id = index(&rec)[0]["session_id"].to_string();

    let to = tmp.path().join("audit");
    let out = ctl(
        &conf,
        &["export", "display1", &id, "--to", to.to_str().unwrap()],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "export: {said}");
    let copy = to.join(&name);
    let entry = to.join(format!("{name}.json"));
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&file).unwrap());
    assert_eq!(std::fs::read_to_string(&entry).unwrap(), line);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&copy), mode(&entry)), (0o600, 0o600));

    let again = ctl(
        &conf,
        &["export", "display1", &name, "--to", to.to_str().unwrap()],
    );
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && said.contains("refusing to overwrite"),
        "{said}"
    );

    let mut changed = std::fs::read(&file).unwrap();
    changed[30] ^= 1;
    std::fs::write(&file, changed).unwrap();
    let other = tmp.path().join("audit2");
    let refused = ctl(
        &conf,
        &["export", "display1", &name, "--to", other.to_str().unwrap()],
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("SHA-256"),
        "{said}"
    );
    let left: Vec<_> = std::fs::read_dir(&other).unwrap().collect();
    assert!(left.is_empty(), "written despite the wrong hash: {left:?}");
}

/// A running `websockifyctl play`, killed when dropped.
struct Playing(std::process::Child);

impl Drop for Playing {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `websockifyctl play ARGS`; it and the URL it prints.
fn play(conf: &Path, args: &[&str]) -> (Playing, String) {
    use std::io::BufRead as _;
    let mut child = ctl_command(conf)
        .arg("play")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run websockifyctl play");
    let out = child.stdout.take().unwrap();
    let playing = Playing(child);
    let url = std::io::BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("open ").map(str::to_owned))
        .expect("websockifyctl play prints its URL");
    (playing, url)
}

/// `websockifyctl play NAME SESSION` serves, on loopback and only under the
/// URL's token, the player page, its script, the recording byte for byte
/// and noVNC's core/ files; without the token (none, a wrong one) a viewer
/// is not authorised (403), and under it a path out of noVNC's core/ and
/// vendor/ gets 404.
#[tokio::test(flavor = "multi_thread")]
async fn play_serves_the_player_and_the_recording_only_under_its_token() {
    let tmp = TempDir::new("recordings-play");
    let rec = tmp.path().join("recordings");
    let mut proxy = recording_proxy(&rec, greeting_target().await, &[]);
    greeting_session(&mut proxy).await;
    let conf = conf_recording_into(&tmp, &rec);
    let novnc = tmp.path().join("novnc");
    std::fs::create_dir_all(novnc.join("core")).unwrap();
    std::fs::write(novnc.join("core/rfb.js"), "export default class RFB {}\n").unwrap();
    std::fs::write(novnc.join("secret.txt"), "not served\n").unwrap();
    let id = index(&rec)[0]["session_id"].to_string();

    let (_playing, url) = play(
        &conf,
        &["display1", &id, "--novnc", novnc.to_str().unwrap()],
    );
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .expect("a loopback URL");
    let (port, path) = rest.split_once('/').expect("a path");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let prefix = format!("/{path}");
    assert!(prefix.len() > 30, "a token in the URL: {url}");

    let (status, page) = common::http::get(addr, &prefix).await;
    assert_eq!(status, 200);
    assert!(page.contains("player.js"), "{page}");
    let (status, script) = common::http::get(addr, &format!("{prefix}player.js")).await;
    assert!(status == 200 && script.contains("core/rfb.js"), "{status}");
    let (status, body) = common::http::get(addr, &format!("{prefix}recording")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_bytes(),
        std::fs::read(only_recording(&rec)).unwrap()
    );
    let (status, _) = common::http::get(addr, &format!("{prefix}novnc/core/rfb.js")).await;
    assert_eq!(status, 200);
    for unauthorised in [
        "/",
        "/recording",
        "/00000000000000000000000000000000/recording",
    ] {
        let (status, _) = common::http::get(addr, unauthorised).await;
        assert_eq!(status, 403, "{unauthorised}");
    }
    for refused in [
        format!("{prefix}novnc/secret.txt"),
        format!("{prefix}novnc/core/../secret.txt"),
        format!("{prefix}novnc/core/../../recordings/index.jsonl"),
    ] {
        let (status, _) = common::http::get(addr, &refused).await;
        assert_eq!(status, 404, "{refused}");
    }
}
