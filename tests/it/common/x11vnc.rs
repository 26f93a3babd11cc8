//! Real VNC servers for the VNC tests (tests/it/vnc_servers.rs,
//! tests/it/vnc_tokens.rs): Xvfb on a display it picks and x11vnc with
//! `-rfbauth` on it, and the password files x11vnc writes. A missing
//! program fails the test naming its package: a skip would pass unnoticed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{free_port, TempDir, WAIT};

/// `x11vnc -storepasswd password FILE` writes these 8 bytes.
pub const VNCPASSWD_OF_PASSWORD: [u8; 8] = [0xdb, 0xd8, 0x3c, 0xfd, 0x72, 0x7a, 0x14, 0x58];

/// A child process killed when dropped.
pub struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program ARGS` quietly; panics naming the package when it is
/// not installed.
pub fn spawn(program: &str, args: &[&str], package: &str) -> Child {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed (apt-get install {package}): {e}"));
    Child(child)
}

/// Polls until `path` exists.
pub async fn wait_for_path(path: &Path, what: &str) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{what}: {} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The display number an X server wrote to its `-displayfd` file.
async fn read_display(file: &Path) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(n) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "the X server wrote no display number (not installed?)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The password file of `password` as x11vnc itself writes it
/// (`x11vnc -storepasswd`), in `dir`.
pub fn store_password(dir: &TempDir, password: &str) -> PathBuf {
    let file = dir.path().join("x11vnc.passwd");
    let out = Command::new("x11vnc")
        .args(["-storepasswd", password])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("x11vnc is needed (apt-get install x11vnc): {e}"));
    assert!(out.status.success(), "x11vnc -storepasswd: {out:?}");
    assert_eq!(std::fs::read(&file).unwrap().len(), 8, "a vncpasswd file");
    file
}

/// Xvfb (640x480) on a display it picks (`-displayfd`) and x11vnc with
/// `-rfbauth FILE` on it; returns both and x11vnc's `host:port`.
pub async fn x11vnc(dir: &TempDir, pw: &Path, extra: &[&str]) -> (Child, Child, String) {
    let number = dir.path().join("display");
    let script = format!(
        "exec Xvfb -displayfd 3 -screen 0 640x480x24 -nolisten tcp 3>'{}'",
        number.display()
    );
    let xvfb = spawn("sh", &["-c", &script], "xvfb");
    let display = format!(":{}", read_display(&number).await);
    // x11vnc gives up on a display that is not there yet: Xvfb writes its
    // number once it is ready. x11vnc takes no listening socket from its
    // parent: a free port it is.
    let port = free_port().to_string();
    let log = dir.path().join("x11vnc.log");
    let args = [
        "-display",
        &display,
        "-rfbport",
        &port,
        "-rfbauth",
        pw.to_str().unwrap(),
        "-localhost",
        "-forever",
        "-shared",
        "-noipv6",
        "-nopw",
        "-o",
        log.to_str().unwrap(),
    ];
    let vnc = spawn("x11vnc", &[&args[..], extra].concat(), "x11vnc");
    let target = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(&target).await.is_err() {
        assert!(Instant::now() < deadline, "x11vnc did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (xvfb, vnc, target)
}
