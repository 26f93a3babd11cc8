//! `--record` and `--traffic` through the real binary: recordings are created
//! exclusively (no symlink followed, nothing planted opened, nothing of an
//! earlier run overwritten), are complete and true to the relayed bytes; and a
//! stalled standard output does not stall sessions. Also: the packaged unit
//! gives `record` and `log-file` the writable places the man pages name.

use crate::common;

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// A proxy to `target` that records each session to `base.N`.
fn record_proxy(base: &Path, target: SocketAddr) -> Proxy {
    let target = target.to_string();
    Proxy::start(&["--record", base.to_str().unwrap(), "127.0.0.1:0", &target])
}

/// Runs one session through a proxy recording to `base`: sends `payload` to
/// an echo target, reads it back, closes; returns once the session is closed.
async fn record_one(base: &Path, payload: &[u8]) {
    let mut proxy = record_proxy(base, echo_target().await);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    timeout(WAIT, echo_once(&mut ws, payload))
        .await
        .expect("the session works while recording");
    ws.close(None).await.unwrap();
    proxy.wait_for_log("session closed");
}

/// The chunks of a recording, as (`{` or `}`, bytes), checking its frame.
fn chunks(path: &Path) -> Vec<(char, Vec<u8>)> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("var VNC_frame_data = [\n"), "{path:?}");
    assert!(text.ends_with("\n'EOF'];\n"), "{path:?} is not complete");
    let body = &text["var VNC_frame_data = [\n".len()..text.len() - "'EOF'];\n".len()];
    body.lines().map(chunk).collect()
}

/// One `'{MS{DATA',` line.
pub(crate) fn chunk(line: &str) -> (char, Vec<u8>) {
    let inner = line.strip_prefix('\'').and_then(|l| l.strip_suffix("',"));
    let inner = inner.unwrap_or_else(|| panic!("bad line {line:?}"));
    let mark = inner.chars().next().unwrap();
    let (ms, data) = inner[1..].split_once(mark).expect("ms");
    assert!(ms.parse::<u64>().is_ok(), "{line:?}");
    (mark, unescape(data))
}

fn unescape(s: &str) -> Vec<u8> {
    let (mut out, b) = (Vec::new(), s.as_bytes());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (byte, used) = match b[i + 1] {
            b't' => (b'\t', 2),
            b'n' => (b'\n', 2),
            b'r' => (b'\r', 2),
            b'x' => (u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap(), 4),
            other => (other, 2),
        };
        out.push(byte);
        i += used;
    }
    out
}

/// `dir`'s regular files named `session.N`, by N.
fn recordings(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::symlink_metadata(p).unwrap().is_file())
        .filter_map(|p| {
            let n = p
                .file_name()?
                .to_str()?
                .strip_prefix("session.")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    found.sort();
    found
}

/// What one direction of a recording carried.
fn carried(chunks: &[(char, Vec<u8>)], mark: char) -> Vec<u8> {
    chunks
        .iter()
        .filter(|c| c.0 == mark)
        .flat_map(|c| c.1.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn record_writes_novnc_playback_files() {
    let data = b"RFB 003.008\n'quote'\x00\xff".to_vec();
    let target = source_target(data.clone()).await;
    let dir = TempDir::new("record");
    let mut proxy = record_proxy(&dir.path().join("session"), target);
    let (mut ws, _) = ws_connect(proxy.addr(), None).await;
    ws.send(Message::binary(b"hello".to_vec())).await.unwrap();
    while let Some(Ok(m)) = timeout(WAIT, ws.next()).await.unwrap() {
        if m.is_close() {
            break;
        }
    }
    drop(ws);
    proxy.wait_for_log("session closed");
    let found = recordings(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    let text = std::fs::read_to_string(&found[0].1).unwrap();
    assert!(text.starts_with("var VNC_frame_data = [\n"), "{text}");
    assert!(text.ends_with("'EOF'];\n"), "{text}");
    assert!(
        text.contains("{RFB 003.008\\n\\'quote\\'\\x00\\xff',"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("'}") && l.ends_with("}hello',")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn record_never_follows_a_symlink_planted_at_the_next_name() {
    let dir = TempDir::new("record-symlink");
    let victim = dir.write("victim", "precious\n");
    std::os::unix::fs::symlink(&victim, dir.path().join("session.1")).unwrap();
    record_one(&dir.path().join("session"), b"typed password").await;
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let found = recordings(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_ne!(found[0].0, 1);
    let meta = std::fs::metadata(&found[0].1).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "recordings are private"
    );
    assert_eq!(carried(&chunks(&found[0].1), '}'), b"typed password");
}

#[tokio::test(flavor = "multi_thread")]
async fn record_skips_a_fifo_planted_at_the_next_name() {
    let dir = TempDir::new("record-fifo");
    let fifo = dir.path().join("session.1");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    record_one(&dir.path().join("session"), b"x").await;
    let found = recordings(dir.path());
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_continues_the_numbering_of_the_first() {
    let dir = TempDir::new("record-restart");
    let base = dir.path().join("session");
    record_one(&base, b"first run").await;
    let first = recordings(dir.path());
    let first_ino = std::fs::metadata(&first[0].1).unwrap().ino();
    record_one(&base, b"second run").await;
    let found = recordings(dir.path());
    assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(std::fs::metadata(&found[0].1).unwrap().ino(), first_ino);
    assert_eq!(carried(&chunks(&found[0].1), '}'), b"first run");
    assert_eq!(carried(&chunks(&found[1].1), '}'), b"second run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_of_a_multi_mib_session_is_complete_when_it_closes() {
    let dir = TempDir::new("record-big");
    let mut proxy = record_proxy(&dir.path().join("session"), echo_target().await);
    let (ws, _) = ws_connect(proxy.addr(), None).await;
    let (mut tx, mut rx) = ws.split();
    let sent = pattern(6 << 20, 7);
    let sending = sent.clone();
    let writer = tokio::spawn(async move {
        for part in sending.chunks(64 * 1024) {
            tx.send(Message::binary(part.to_vec())).await.unwrap();
        }
        tx
    });
    let mut back = Vec::new();
    while back.len() < sent.len() {
        match timeout(WAIT, rx.next()).await.expect("echo") {
            Some(Ok(Message::Binary(b))) => back.extend_from_slice(&b),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let mut ws = writer.await.unwrap().reunite(rx).unwrap();
    ws.close(None).await.unwrap();
    // Read the file the moment the session is reported closed.
    proxy.wait_for_log("session closed");
    let found = recordings(dir.path());
    let chunks = chunks(&found[0].1);
    assert_eq!(
        sha256(&carried(&chunks, '}')),
        sha256(&sent),
        "client to target"
    );
    assert_eq!(
        sha256(&carried(&chunks, '{')),
        sha256(&back),
        "target to client"
    );
    assert_eq!(back, sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_to_a_stalled_stdout_does_not_stall_sessions() {
    let dir = TempDir::new("traffic-stall");
    let fifo = dir.path().join("stdout");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let target = echo_target().await;
    // Standard output is a pipe that nobody reads: it fills after 64 KiB.
    let setup = format!("exec 1<>'{}'", fifo.display());
    let mut proxy = Proxy::start_after(&setup, &["--traffic", "127.0.0.1:0", &target.to_string()]);
    let (ws, _) = ws_connect(proxy.addr(), None).await;
    let (mut tx, mut rx) = ws.split();
    const FRAMES: usize = 200_000; // a few symbols each: far more than the pipe holds
    let writer = tokio::spawn(async move {
        for _ in 0..FRAMES {
            tx.feed(Message::binary(vec![b'x'])).await.unwrap();
        }
        tx.flush().await.unwrap();
        tx
    });
    let mut got = 0;
    while got < FRAMES {
        match timeout(WAIT, rx.next()).await.expect("echo within 30 s") {
            Some(Ok(Message::Binary(b))) => got += b.len(),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let mut ws = writer.await.unwrap().reunite(rx).unwrap();
    ws.close(None).await.unwrap();
    proxy.wait_for_log("session closed");
    assert!(
        proxy
            .log()
            .iter()
            .any(|l| l.contains("standard output is not keeping up")),
        "{:?}",
        proxy.log()
    );
}

/// The folders the packaged unit lets instance `display1` write to.
fn writable_under_the_unit() -> Vec<String> {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/websockify-rs@.service"),
    )
    .unwrap();
    let mut dirs = Vec::new();
    for line in unit.lines().map(|l| l.replace("%i", "display1")) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let root = match key {
            "StateDirectory" => "/var/lib/",
            "LogsDirectory" => "/var/log/",
            "ReadWritePaths" => "",
            _ => continue,
        };
        dirs.extend(value.split_whitespace().map(|d| format!("{root}{d}/")));
    }
    dirs
}

#[test]
fn the_unit_lets_record_and_log_file_write_where_the_man_pages_say() {
    let writable = writable_under_the_unit();
    let conf5 = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("man/websockify.conf.5"),
    )
    .unwrap();
    let page1 =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/websockify.1"))
            .unwrap();
    for key in ["#record = ", "#log\\-file = "] {
        let line = conf5.lines().find(|l| l.starts_with(key)).expect(key);
        let path = line[key.len()..].trim_matches('"');
        let folder = &path[..=path.rfind('/').unwrap()];
        assert!(
            writable.iter().any(|w| folder.starts_with(w.as_str())),
            "{key}{path}: the unit lets it write only to {writable:?}"
        );
        let named = folder.replace("display1", "NAME");
        assert!(
            page1.contains(&named),
            "websockify(1) does not name {named}"
        );
    }
}
