//! The binary under test as a process: started on port 0 with its
//! listen addresses read from its log, its log kept for assertions, and
//! killed when the test drops it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::notify::Notify;
use super::{blocking, TempDir, WAIT};

/// A running proxy process; killed when dropped.
pub struct Proxy {
    child: Child,
    /// Addresses it logged as "listening on".
    pub addrs: Vec<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
    /// The notify socket of [`Proxy::spawn_ready`], open while the process
    /// runs: it notifies on (STATUS=), and a closed socket would make it
    /// log a warning each time.
    notify: Option<Notify>,
}

impl Proxy {
    /// Starts `websockify ARGS` and waits until it has logged every listener.
    /// Use port 0 in the listen address: the kernel picks, the log tells.
    pub fn start(args: &[&str]) -> Proxy {
        Self::start_expecting(args, 1)
    }

    /// As `start`, for a listen address that binds `listeners` sockets.
    pub fn start_expecting(args: &[&str], listeners: usize) -> Proxy {
        let mut cmd = Command::new(bin());
        cmd.args(args).stdin(Stdio::null());
        Self::spawn(&mut cmd, listeners)
    }

    /// Starts the binary under `sh -c "SETUP; exec websockify ARGS"`.
    pub fn start_after(setup: &str, args: &[&str]) -> Proxy {
        let script = format!("{setup}; exec \"$0\" \"$@\"");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(bin())
            .args(args)
            .stdin(Stdio::null());
        Self::spawn(&mut cmd, 1)
    }

    /// Starts `cmd` (which runs the binary), waiting for `listeners`
    /// "listening on" lines (0: return at once, e.g. for socket activation).
    pub fn spawn(cmd: &mut Command, listeners: usize) -> Proxy {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn websockify");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[websockify] {line}");
                sink.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut proxy = Proxy {
            child,
            addrs: Vec::new(),
            log,
            lines,
            notify: None,
        };
        while proxy.addrs.len() < listeners {
            let line = proxy.next_line();
            if let Some(addr) = line.split("listening on ").nth(1) {
                let addr = addr.split_whitespace().next().unwrap_or_default();
                proxy.addrs.push(addr.parse().expect("listen address"));
            }
        }
        proxy
    }

    /// Starts `cmd` (which runs the binary) with a notify socket in `dir`
    /// as its `NOTIFY_SOCKET`, waits for `listeners` "listening on" lines
    /// (their addresses), then for READY=1: every listener, the metrics
    /// endpoint and the control socket accept.
    pub fn spawn_ready(cmd: &mut Command, listeners: usize, dir: &TempDir) -> Proxy {
        let mut notify = Notify::new(dir);
        let mut proxy = Self::spawn(cmd.env("NOTIFY_SOCKET", notify.path()), listeners);
        notify.until("READY=1");
        proxy.notify = Some(notify);
        proxy
    }

    /// `websockify ARGS` (one listener) through [`Proxy::spawn_ready`].
    pub fn start_ready(args: &[&str], dir: &TempDir) -> Proxy {
        let mut cmd = Command::new(bin());
        cmd.args(args).stdin(Stdio::null());
        Self::spawn_ready(&mut cmd, 1, dir)
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal websockify");
    }

    /// The first listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Next log line, failing the test if none comes within `WAIT`.
    pub fn next_line(&mut self) -> String {
        let lines = &self.lines;
        blocking(|| lines.recv_timeout(WAIT))
            .unwrap_or_else(|_| panic!("websockify logged nothing more; log: {:?}", self.log()))
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        loop {
            let line = self.next_line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Process id, for signals and /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.wait_exit_within(WAIT)
            .unwrap_or_else(|| panic!("websockify did not exit; log: {:?}", self.log()))
    }

    /// The exit status if the process exits within `limit`, else `None`
    /// (it is then still running).
    pub fn wait_exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        let child = &mut self.child;
        blocking(|| loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_websockify")
}

/// Runs the binary to completion (for start-up errors) and returns (success, stderr).
pub fn run_to_exit(args: &[&str]) -> (bool, String) {
    let out = blocking(|| Command::new(bin()).args(args).stdin(Stdio::null()).output())
        .expect("run websockify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
