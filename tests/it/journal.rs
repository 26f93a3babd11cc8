//! Journal logging: run the daemon as systemd would (stderr connected to the
//! journal, `JOURNAL_STREAM` set) in a private mount namespace whose
//! /run/systemd/journal/socket is a datagram socket this test reads, and check
//! the structured fields of the session lines in journald's native protocol.

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};

use common::*;
use futures_util::StreamExt;
use tokio::time::timeout;

/// One journal entry: field name to value.
type Entry = HashMap<String, String>;

/// Parses journald's native datagram: `KEY=value\n`, or for values that may
/// hold newlines `KEY\n` + 64-bit little-endian length + value + `\n`.
fn parse(mut data: &[u8]) -> Entry {
    let mut entry = Entry::new();
    while !data.is_empty() {
        let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let line = &data[..line_end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let key = String::from_utf8_lossy(&line[..eq]).into_owned();
            entry.insert(key, String::from_utf8_lossy(&line[eq + 1..]).into_owned());
            data = &data[(line_end + 1).min(data.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &data[line_end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            entry.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            data = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    entry
}

struct Journal(UnixDatagram);

impl Journal {
    fn next_with(&self, needle: &str) -> Entry {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = blocking(|| self.0.recv(&mut buf)).expect("no journal entry");
            let entry = parse(&buf[..n]);
            eprintln!("[journal] {:?}", entry.get("MESSAGE"));
            if entry.get("MESSAGE").is_some_and(|m| m.contains(needle)) {
                return entry;
            }
        }
    }
}

/// The daemon as systemd runs it for `display7.conf` (relaying to
/// `target`), logging to a journal socket in `dir` that the test reads:
/// (the journal, the process, its listen address).
fn start_journaled(dir: &TempDir, target: SocketAddr) -> (Journal, Child, SocketAddr) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root for a private mount namespace (unshare -m)"
    );
    let journal = Journal(UnixDatagram::bind(dir.path().join("socket")).unwrap());
    journal.0.set_read_timeout(Some(WAIT)).unwrap();
    let conf = dir.write(
        "display7.conf",
        format!("listen = \"127.0.0.1:0\"\ntarget = \"{target}\"\n"),
    );
    // systemd sets JOURNAL_STREAM to the device:inode of the stream it gave us.
    let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let meta = stderr.metadata().unwrap();
    let script = r#"mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal &&
        mount --bind "$1" /run/systemd/journal && shift && exec "$@""#;
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(dir.path())
        .args([bin(), "--config", conf.to_str().unwrap()])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("unshare (util-linux)");
    let listening = journal.next_with("listening on");
    assert_eq!(
        listening.get("SYSLOG_IDENTIFIER").map(String::as_str),
        Some("websockify")
    );
    assert_eq!(
        listening.get("INSTANCE").map(String::as_str),
        Some("display7")
    );
    let addr = listening["MESSAGE"]
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (journal, child, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn session_lines_carry_structured_journal_fields() {
    let data = pattern(100_000, 4);
    let target = source_target(data.clone()).await;
    let dir = TempDir::new("journal");
    let (journal, mut child, addr) = start_journaled(&dir, target);

    let (mut ws, _) = ws_connect(addr, None).await;
    while let Some(msg) = timeout(WAIT, ws.next()).await.unwrap() {
        if msg.is_err() {
            break;
        }
    }
    let opened = journal.next_with("session open");
    assert_eq!(
        opened.get("TARGET_ADDR").map(String::as_str),
        Some(target.to_string().as_str())
    );
    let closed = journal.next_with("session closed");
    let _ = child.kill();
    let _ = blocking(|| child.wait());
    let field = |k: &str| {
        closed
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k} in {closed:?}"))
    };
    assert_eq!(field("INSTANCE"), "display7");
    assert_eq!(field("PRIORITY"), "5", "info lines are 'notice'");
    assert!(field("CLIENT").starts_with("127.0.0.1:"), "{closed:?}");
    assert_eq!(field("TARGET_ADDR"), target.to_string());
    assert_eq!(field("BYTES_TO_CLIENT"), data.len().to_string());
    assert_eq!(field("BYTES_TO_TARGET"), "0");
    assert_eq!(field("CLOSE_CODE"), "1000");
    assert_eq!(field("CLOSE_REASON"), "Target closed");
    assert!(field("DURATION_S").parse::<f64>().is_ok(), "{closed:?}");
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(
        !stderr.contains("session closed"),
        "logged to stderr too: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_journal_gets_client_text_escaped_as_every_output_does() {
    use tokio::io::AsyncWriteExt;
    let target = echo_target().await;
    let dir = TempDir::new("journal-escape");
    let (journal, mut child, addr) = start_journaled(&dir, target);
    let mut s = raw_upgrade(addr, "/websockify", None).await;
    // A close frame (masked) with code 1000 and the reason "a\nb\x1b[2K".
    let mask = [1u8, 2, 3, 4];
    let payload = [&1000u16.to_be_bytes()[..], b"a\nb\x1b[2K"].concat();
    let mut frame = vec![0x88, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).await.expect("close");
    let closed = journal.next_with("session closed");
    let _ = child.kill();
    let _ = blocking(|| child.wait());
    assert!(
        closed["MESSAGE"].contains("close 1000 (a\\nb\\x1b[2K):"),
        "{closed:?}"
    );
    assert_eq!(closed["CLOSE_REASON"], "a\\nb\\x1b[2K", "{closed:?}");
}
